"""hw3's tolerances come from the noise: every trajectory comparison its suites make (public and
hidden) accepts torch's own implementations (foreach, fused, single-tensor), the same optimizers
run in float64, LAMB written out independently, and a nudge of one ulp per weight per step, all
with half the tolerance to spare; and every known mistake still fails them with five times the
tolerance, with feedback that names it.

The suites run here in-process, exactly as the grader collects them, with an `InProcess`
submission in place of a worker: the reference solution's module with some classes replaced.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import io
import os
import sys
import types
from contextlib import redirect_stderr, redirect_stdout

import pytest
import torch

from grader import paths
from grader.runner import PYTEST_INI, GradingPlugin
from grader.worker.drivers import hw3 as drivers
from grader.suites.hw3 import trajectories
from grader.suites.hw3.hidden.rules import RULES
from tests.conftest import ROOT

NOT_TRAJECTORIES = "not rosenbrock and not batch"  # 3.5 trains; its thresholds are the seed sweep's business
NOISE_MARGIN, MISTAKE_MARGIN = 0.5, 5.0  # the tolerance scaled: noise must pass at x0.5, mistakes fail at x5


def reference_module():
    spec = importlib.util.spec_from_file_location("optimizers", ROOT / "solutions" / "hw3" / "optimizers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Float64:
    """An optimizer of class `cls` over float64 copies of the weights, whose param_groups read back
    in the weights' own dtype: an optimizer that computes in double precision."""

    def __init__(self, cls, groups, **kwargs):
        self.dtypes = [p.dtype for g in groups for p in g["params"]]
        self.inner = cls([{**g, "params": [p.double() for p in g["params"]]} for g in groups], **kwargs)

    @property
    def param_groups(self):
        dtypes = iter(self.dtypes)
        return [{**g, "params": [p.to(next(dtypes)) for p in g["params"]]} for g in self.inner.param_groups]

    def step(self, closure=None):
        return self.inner.step(closure)

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, state_dict):
        self.inner.load_state_dict(state_dict)


class InProcess:
    """A submission run in this process: `module` stands for the student's optimizers.py, and
    `float64` makes every optimizer compute in double precision (its weights read back in float32)."""

    def __init__(self, module, float64: bool = False):
        self.mod, self.float64 = module, float64
        self.compared: set[str] = set()  # tests that compared a trajectory
        self.current = ""

    def begin_test(self, nodeid: str, seed: int) -> None:
        self.current = nodeid

    def printed(self) -> str:
        return ""

    def module(self, name: str):
        self.compared.add(self.current)  # the suites build the student's optimizers from the module
        if not self.float64:
            return self.mod
        wrapped = types.SimpleNamespace(**vars(self.mod))
        for n in ("SGD", "Adam", "AdamW", "LAMB"):
            setattr(wrapped, n, functools.partial(Float64, getattr(self.mod, n)))
        return wrapped

    def driver(self, name: str, *args, **kwargs):
        args = [a.inner if isinstance(a, Float64) else a for a in args]
        sys.modules["optimizers"] = self.mod
        try:
            return getattr(drivers, name)(*args, **kwargs)
        finally:
            sys.modules.pop("optimizers", None)

    # a batch: the requests run in turn when it is sent, as the worker runs them
    def pending_driver(self, name: str, *args, **kwargs):
        return lambda: self.driver(name, *args, **kwargs)

    def pending_attr(self, obj, name: str):
        return lambda: copy.deepcopy(getattr(obj, name))  # as it is then, as the worker's reply holds it

    def pending_call(self, obj, name: str, *args, **kwargs):
        return lambda: getattr(obj, name)(*args, **kwargs)

    def batch(self, pending: list, key: str | None = None) -> list:
        return [p() for p in pending]


def grade_in_process(sub: InProcess, scale: float, select: str = "") -> dict[str, tuple[bool, str]]:
    """Every hw3 test (public and hidden, 3.5 left out) on `sub` with the trajectory tolerance times
    `scale`: {test: (passed, feedback)} for the tests that ran the student's optimizers."""
    from grader.config import load_course

    assignment = load_course(ROOT).built("hw3")
    plugin = GradingPlugin(assignment, sub)
    dirs = [str(paths.SUITES / "hw3" / s) for s in ("public", "hidden")]
    expression = f"({NOT_TRAJECTORIES})" + (f" and ({select})" if select else "")
    args = [*dirs, "-c", str(PYTEST_INI), "--rootdir", str(paths.SUITES), "-q", "-p", "no:cacheprovider",
            "--import-mode=importlib", "--assert=plain", "-k", expression]
    rtol, atol = trajectories.RTOL, trajectories.ATOL
    trajectories.RTOL, trajectories.ATOL = rtol * scale, atol * scale
    autoload = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            pytest.main(args, plugins=[plugin])
    finally:
        trajectories.RTOL, trajectories.ATOL = rtol, atol
        if autoload is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = autoload
    return {n: (r["passed"], r.get("feedback", "")) for n, r in plugin.records.items() if n in sub.compared}


def torch_variant(cls, **options):
    """torch's optimizer class `cls` with its implementation chosen (foreach, fused, single-tensor)."""
    return type(f"{cls.__name__}{options}", (cls,), {"__init__": lambda self, params, **kw: cls.__init__(self, params, **kw, **options)})


def nudged(cls):
    """`cls`, whose every step is followed by a nudge of one ulp upwards on every weight."""
    def step(self, closure=None):
        loss = cls.step(self, closure)
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.copy_(torch.nextafter(p, torch.full_like(p, float("inf"))))
        return loss
    return type(f"Nudged{cls.__name__}", (cls,), {"step": step})


def paper_lamb():
    """The hidden suite's own LAMB, written out independently of the solution and of the rules."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)  # its task marks are the grader's
        from grader.suites.hw3.hidden.test_hw3_hidden import PaperLAMB
    return PaperLAMB


def with_classes(**classes):
    module = reference_module()
    for name, cls in classes.items():
        setattr(module, name, cls)
    return module


IMPLEMENTATIONS = {
    **{label: lambda o=options: with_classes(**{n: torch_variant(getattr(torch.optim, n), **o) for n in ("SGD", "Adam", "AdamW")},
                                               LAMB=RULES["LAMB"])
       for label, options in [("torch foreach", {"foreach": True}), ("torch fused", {"fused": True}),
                              ("torch single-tensor", {"foreach": False})]},
    "LAMB written out as in the paper": lambda: with_classes(LAMB=paper_lamb()),
    "one ulp per step": lambda: with_classes(**{n: nudged(getattr(reference_module(), n)) for n in ("SGD", "Adam", "AdamW", "LAMB")}),
}


@pytest.mark.parametrize("label", list(IMPLEMENTATIONS))
def test_other_implementations_pass_every_comparison_with_half_the_tolerance(label):
    results = grade_in_process(InProcess(IMPLEMENTATIONS[label]()), NOISE_MARGIN)
    assert len(results) >= 15, f"only {len(results)} trajectory comparisons ran"
    failed = {n: f for n, (ok, f) in results.items() if not ok}
    assert not failed, f"{label}: {failed}"


def test_float64_runs_pass_every_comparison_with_half_the_tolerance():
    results = grade_in_process(InProcess(reference_module(), float64=True), NOISE_MARGIN)
    assert len(results) >= 15, f"only {len(results)} trajectory comparisons ran"
    failed = {n: f for n, (ok, f) in results.items() if not ok}
    assert not failed, f"float64: {failed}"


NO_EFFECT = {("Adam", "decay_coupled"), ("Adam", "decay_without_lr"), ("AdamW", "decay_decoupled")}  # already the rule
MISTAKES = [(name, m) for name, rule in RULES.items() for m in rule.MISTAKES if (name, m.key) not in NO_EFFECT]


@pytest.mark.parametrize("name,mistake", MISTAKES, ids=[f"{n}-{m.key}" for n, m in MISTAKES])
def test_every_known_mistake_fails_with_five_times_the_tolerance_and_is_named(name, mistake):
    wrong = functools.partial(RULES[name], mistake=mistake.key)
    select = {"SGD": "sgd", "Adam": "adam or reload", "AdamW": "adam or reload", "LAMB": "lamb"}[name]
    results = grade_in_process(InProcess(with_classes(**{name: wrong})), MISTAKE_MARGIN, select)
    failed = [f for ok, f in results.values() if not ok]
    assert failed, f"{name} with the mistake {mistake.key!r} passes every comparison ({len(results)})"
    assert any(mistake.says in f for f in failed), f"{name}/{mistake.key}: no feedback names it: {failed}"


def test_the_rosenbrock_gradient_written_out_is_autograds():
    """Task 3.5's loop hands the optimizer the gradient of Rosenbrock's function written out; it
    is autograd's, to a few ulps, along the reference's whole trajectory and at random points."""
    from grader.suites.hw3.loops import Local, rosenbrock, rosenbrock_grad, rosenbrock_path

    path = rosenbrock_path(Local(torch.optim.Adam, {"lr": 0.05}), 300)
    points = torch.cat([path, torch.randn(200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2])
    for xy in points:
        xy = xy.clone().requires_grad_(True)
        (expected,) = torch.autograd.grad(rosenbrock(xy), [xy])
        assert torch.allclose(rosenbrock_grad(xy.detach()), expected, rtol=1e-12, atol=1e-12), xy
