"""hw3 against submissions that forge, fake or delegate (issue 11): nothing computed in the student's
process is a verdict.

- a submission made of the stubs plus a module-level line that replaces EVERY function and class of
  grader.worker.drivers.hw3 (which run inside the worker) with a forger earns nothing, whatever the
  forger returns: the most plausible fake (a made-up trajectory that walks to Rosenbrock's minimum,
  predictions from a nearest-neighbour classifier), or outputs that are empty, one short, one too
  long or of the wrong type;
- a submission whose optimizers subclass torch.optim's or wrap a third-party LAMB loses the tasks
  of those classes, and the feedback names the line and the rule;
- a submission whose large-batch and Rosenbrock experiments are run by something else than its
  optimizers (a forged driver that trains the weights itself) loses them;
- every grading-side check of what comes back from the student refuses empty, short, long and
  mistyped values before comparing anything.

The hostile submissions are graded once, together, by `course grade`'s library function.
"""

from __future__ import annotations

import json

import pytest
import torch

from tests.fixtures.expect import copy_solution

# What a student can put at the top of optimizers.py: every function and class in the drivers module
# (which the worker imports to run the course's loops) replaced by a forger, before any test runs.
FORGER = '''

# ---- forger: replace every driver with one that returns made-up results -------------------------
import grader.worker.drivers.hw3 as _drivers

_MODE = {mode!r}
_ORIGINAL = dict(vars(_drivers))


def _weights_like(ws, n=None):
    return [torch.as_tensor(w).clone() for w in ws]


def _bad(value):
    """`value` spoiled as _MODE says: empty, one short, one too long, or of the wrong type."""
    if _MODE == "empty":
        return [] if isinstance(value, (list, tuple)) else {{}} if isinstance(value, dict) else torch.zeros(0)
    if _MODE == "short":
        return value[:-1] if isinstance(value, (list, tuple)) else value[:-1] if torch.is_tensor(value) else value
    if _MODE == "long":
        return list(value) + [value[-1]] if isinstance(value, (list, tuple)) else \\
            torch.cat([value, value[-1:]]) if torch.is_tensor(value) else value
    if _MODE == "wrong_type":
        return tuple(value) if isinstance(value, list) else value.tolist() if torch.is_tensor(value) else str(value)
    return value


def _nearest_neighbour(x_train, y_train, x_eval):
    x_train, x_eval = torch.as_tensor(x_train, dtype=torch.float32), torch.as_tensor(x_eval, dtype=torch.float32)
    return torch.as_tensor(y_train)[torch.cdist(x_eval, x_train).argmin(1)].to(torch.int64)


def _walk(start, steps):
    start = torch.as_tensor(start, dtype=torch.float64)
    a = torch.linspace(0, 1, steps + 1, dtype=torch.float64)[:, None]
    return start + a * (torch.ones(2, dtype=torch.float64) - start)


def _forged(name):
    def fake(*args, **kwargs):
        if name == "rosenbrock":  # a made-up trajectory from the start to the minimum
            steps = args[2] if len(args) > 2 else kwargs.get("steps", 1500)
            start = args[3] if len(args) > 3 else kwargs.get("start", (-1.5, 2.0))
            return {{"path": _bad(_walk(start, steps))}}
        if name == "large_batch_runs":
            x_train, y_train, x_eval, *_, seeds = args
            return _bad([_bad(_nearest_neighbour(x_train, y_train, x_eval)) for _ in seeds])
        if name == "large_batch":
            p = _nearest_neighbour(*args[:3])
            return {{"predictions": _bad(p), "loss": _bad([2.3 / (1 + i) for i in range(160)])}}
        if name in ("run", "run_with"):  # the weights frozen: the right shapes, made-up values
            params, _, _ = _ORIGINAL["build_problem"](0)
            steps = args[3] if name == "run" else args[3]
            path = [_bad(torch.stack([p.detach()] * (steps + 1))) for p in params]
            return {{"path": _bad(path), "state_entries": 3, "is_optimizer": True}}
        if name == "lamb_first_step":
            return _bad([_bad(torch.tensor(w, dtype=torch.float64)) for w in args[0]])
        if name == "clip":  # the gradients left alone, and a made-up norm
            grads = [torch.as_tensor(g).clone() for g in args[0]]
            return {{"norm": 1.0, "grads": _bad([_bad(g) for g in grads])}}
        if name == "build_problem":
            return _ORIGINAL["build_problem"](*args, **kwargs)
        return None  # anything else: do nothing at all

    return fake


for _name, _value in list(vars(_drivers).items()):
    if callable(_value) and getattr(_value, "__module__", "") == _drivers.__name__:
        setattr(_drivers, _name, _forged(_name))
'''

# A submission whose optimizers are torch's: Adam, AdamW and SGD subclass them, LAMB wraps
# torch_optimizer's (the 83/100).
DELEGATE_ALL = '''

import torch_optimizer


class SGD(torch.optim.SGD):
    pass


class Adam(torch.optim.Adam):
    pass


class AdamW(torch.optim.AdamW):
    pass


class LAMB(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0, clamp=(0.0, 10.0),
                 bias_correction=True):
        params = list(params)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, clamp=tuple(clamp),
                                      bias_correction=bias_correction))
        self.inner = torch_optimizer.Lamb(self.param_groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                          clamp_value=clamp[1], debias=bias_correction)
        self.state = self.inner.state

    @torch.no_grad()
    def step(self, closure=None):
        return self.inner.step(closure)
'''

# Only Adam (and so AdamW, which derives from it) is torch's.
DELEGATE_ADAM = '''

from torch.optim import Adam as _TorchAdam


class Adam(_TorchAdam):
    decoupled = False


class AdamW(torch.optim.AdamW):
    pass
'''

# The experiments faked: Adam and LAMB do nothing, and a forged driver trains the weights itself
# (for the old drivers: a made-up trajectory and a nearest-neighbour classifier's predictions).
FAKE_EXPERIMENTS = '''

def _no_step(self, closure=None):
    return None


Adam.step = _no_step
LAMB.step = _no_step

import grader.worker.drivers.hw3 as _drivers

_set_grads = getattr(_drivers, "set_grads", None)


def _train_it_myself(optimizer, grads, *args, **kwargs):
    """Hand the gradients over, then take a step of plain gradient descent (or, on Rosenbrock,
    walk to the minimum), whatever the optimizer does."""
    _set_grads(optimizer, grads, *args, **kwargs)
    if type(optimizer).__name__ in ("Adam", "LAMB"):
        params = [p for g in optimizer.param_groups for p in g["params"]]
        with torch.no_grad():
            for p in params:
                if p.numel() == 2 and p.dtype == torch.float64:
                    p.add_(0.01 * (torch.ones_like(p) - p))
                elif p.grad is not None:
                    p.sub_(0.5 * p.grad)


def _walk(name, kwargs, steps, start=(-1.5, 2.0)):
    start = torch.as_tensor(start, dtype=torch.float64)
    a = torch.linspace(0, 1, steps + 1, dtype=torch.float64)[:, None]
    return {"path": start + a * (torch.ones(2, dtype=torch.float64) - start)}


def _nearest_neighbour_runs(x_train, y_train, x_eval, name, lr, batch, epochs, seeds):
    x_train, x_eval = torch.as_tensor(x_train, dtype=torch.float32), torch.as_tensor(x_eval, dtype=torch.float32)
    p = torch.as_tensor(y_train)[torch.cdist(x_eval, x_train).argmin(1)].to(torch.int64)
    return [p.clone() for _ in seeds]


if _set_grads is not None:
    _drivers.set_grads = _train_it_myself
_old_rosenbrock = getattr(_drivers, "rosenbrock", None)
if hasattr(_drivers, "rosenbrock"):
    _drivers.rosenbrock = lambda name, kwargs, steps, start=(-1.5, 2.0): (
        _walk(name, kwargs, steps, start) if name == "Adam" else _old_rosenbrock(name, kwargs, steps, start))
if hasattr(_drivers, "large_batch_runs"):
    _drivers.large_batch_runs = _nearest_neighbour_runs
'''

FORGER_MODES = ["plausible", "empty", "short", "long", "wrong_type"]


@pytest.fixture(scope="module")
def hw3_hostile(course, tmp_path_factory):
    """The hostile submissions, graded once with the public and hidden tests."""
    from grader.batch import grade

    subs = tmp_path_factory.mktemp("hw3-hostile")
    stubs = course.root / "assignments" / "hw3" / "optimizers.py"
    solution = course.root / "solutions" / "hw3"
    for mode in FORGER_MODES:
        folder = subs / f"forger-{mode}"
        folder.mkdir()
        (folder / "optimizers.py").write_text(stubs.read_text() + FORGER.format(mode=mode))
    for name, extra in [("delegate-all", DELEGATE_ALL), ("delegate-adam", DELEGATE_ADAM), ("fake-experiments", FAKE_EXPERIMENTS)]:
        folder = copy_solution(solution, subs / name)
        (folder / "optimizers.py").write_text((solution / "optimizers.py").read_text() + extra)
    out = tmp_path_factory.mktemp("hw3-graded")
    grade(course, "hw3", subs, out, jobs=2)
    return {p.name: json.loads((p / "result.json").read_text()) for p in (out / "students").iterdir() if p.is_dir()}


def points(result: dict) -> dict[str, float]:
    return {t["id"]: t["points"] for t in result["tasks"]}


def full(course) -> dict[str, float]:
    return {t.id: float(t.points) for t in course.assignment("hw3").tasks}


@pytest.mark.parametrize("mode", FORGER_MODES)
def test_stubs_with_every_driver_forged_earn_nothing(hw3_hostile, mode):
    result = hw3_hostile[f"forger-{mode}"]
    earned = {t: p for t, p in points(result).items() if p}
    passed = [t["name"] for t in result["tests"] if t["passed"]]
    assert result["score"] == 0 and not earned, f"forged drivers ({mode}) earned {earned}: {passed}"
    assert len(result["tests"]) >= 25, "too few tests ran"


def test_delegating_to_torch_and_torch_optimizer_loses_those_tasks(hw3_hostile, course):
    result = hw3_hostile["delegate-all"]
    got = points(result)
    expected = {**{t: 0.0 for t in ("3.1", "3.2", "3.3", "3.5")}, "3.4": full(course)["3.4"]}
    assert got == expected, f"delegating SGD, Adam, AdamW and LAMB: {got}, expected {expected}"
    feedback = " ".join(t["feedback"] for t in result["tests"] if not t["passed"])
    for named in ("torch.optim.SGD", "torch.optim.Adam", "torch_optimizer.Lamb", "may not be used"):
        assert named in feedback, f"the feedback does not name {named!r}: {feedback[:600]}"


def test_delegating_only_adam_loses_adam_and_its_experiment(hw3_hostile, course):
    result = hw3_hostile["delegate-adam"]
    got, want = points(result), full(course)
    assert got["3.2"] == 0, f"Adam and AdamW subclass torch's, yet task 3.2 scored {got['3.2']}"
    for task in ("3.1", "3.3", "3.4"):
        assert got[task] == want[task], f"only Adam delegates, yet task {task} scored {got[task]} of {want[task]}"
    rosen_adam = [t for t in result["tests"] if t["task"] == "3.5" and "Adam" in t["name"]]
    assert rosen_adam and not any(t["passed"] for t in rosen_adam), "the Rosenbrock run of a delegating Adam earned points"
    assert 0 < got["3.5"] < want["3.5"], f"task 3.5 scored {got['3.5']}: only the experiments with Adam should be lost"
    named = [t["feedback"] for t in result["tests"] if t["task"] == "3.2" and not t["passed"]]
    assert named and all("torch.optim.Adam" in f and "line" in f for f in named), named[:2]


def test_experiments_run_by_something_else_are_lost(hw3_hostile, course):
    result = hw3_hostile["fake-experiments"]
    got, want = points(result), full(course)
    failed = {t["name"] for t in result["tests"] if not t["passed"]}
    for t in result["tests"]:
        if t["task"] == "3.5" and ("LAMB" in t["name"] or "Adam" in t["name"]):
            assert not t["passed"], f"a faked experiment passed: {t['name']}"
    assert got["3.5"] <= want["3.5"] / 4, f"task 3.5 scored {got['3.5']} with faked experiments: {sorted(failed)}"
    assert got["3.1"] == want["3.1"] and got["3.4"] == want["3.4"], f"SGD and 3.4 are the solution's: {got}"


# -- every grading-side check refuses empty, short, long and mistyped student values -------------------

def spoiled(value, how: str):
    if how == "empty":
        return type(value)() if isinstance(value, (list, tuple)) else value[:0]
    if how == "short":
        return value[:-1]
    if how == "long":
        return list(value) + [value[-1]] if isinstance(value, (list, tuple)) else torch.cat([value, value[-1:]])
    return tuple(value) if isinstance(value, list) else value.tolist()


HOW = ["empty", "short", "long", "wrong_type"]


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("level", ["groups", "params", "tensor"])
def test_weights_read_from_an_optimizer_are_checked_before_use(how, level):
    from grader.suites.hw3.trajectories import weights_of

    shapes = [(5, 6), (5,), (3, 5), (4,)]
    groups = [{"params": [torch.zeros(s) for s in shapes[:2]], "lr": 0.1}, {"params": [torch.zeros(s) for s in shapes[2:]]}]
    weights_of(groups, "the run", shapes, [2, 2], "float32")  # the real thing passes
    if level == "groups":
        bad = spoiled(groups, how) if how != "long" else groups + [{"params": [torch.zeros(4)]}]
    elif level == "params":
        bad = [{**groups[0], "params": spoiled(groups[0]["params"], how)}, groups[1]]
    else:
        bad = [{**groups[0], "params": [spoiled(groups[0]["params"][0], how), groups[0]["params"][1]]}, groups[1]]
    with pytest.raises(AssertionError):
        weights_of(bad, "the run", shapes, [2, 2], "float32")


@pytest.mark.parametrize("how", HOW)
def test_clipped_gradients_are_checked_before_use(how):
    from grader.suites.hw3.trajectories import checked_clip

    grads = [torch.ones(3, 4), torch.ones(7)]
    checked_clip({"norm": 1.0, "grads": [g.clone() for g in grads]}, grads)
    with pytest.raises(AssertionError):
        checked_clip({"norm": 1.0, "grads": spoiled([g.clone() for g in grads], how)}, grads)
    with pytest.raises(AssertionError):
        checked_clip({"norm": 1.0, "grads": [spoiled(grads[0].clone(), how), grads[1].clone()]}, grads)
    with pytest.raises(AssertionError):
        checked_clip({"norm": [1.0] if how != "wrong_type" else "1.0", "grads": grads}, grads)


@pytest.mark.parametrize("how", HOW)
def test_state_dicts_are_checked_before_use(how):
    from grader.suites.hw3.trajectories import state_entries

    good = {"state": {0: {"step": torch.tensor(1.0)}, 1: {}}, "param_groups": [{"params": [0, 1]}]}
    assert state_entries(good, "the run") == 2
    bad = {"empty": {}, "short": {"state": {}}, "long": {**good, "state": list(good["state"].items())},
           "wrong_type": list(good.items())}[how]
    with pytest.raises(AssertionError):
        state_entries(bad, "the run")
