"""An optimizer's trajectory against the reference's: the problem and the loop that drives both (on
the grading side: the student's optimizer only takes its steps, see `grader.suites.hw3.loops`), the
tolerance, the first step that differs, and what that difference usually means.

The tolerance comes from the noise. Over these 100-step runs, torch's own implementations (foreach,
fused, single-tensor) and a float64 run differ from torch's default by at most 1.5e-5, and a nudge
of one ulp on every weight after every step moves a weight by at most 1.1e-4; a weight is accepted
when |got - expected| <= ATOL + RTOL * |expected|, which all of them meet with half of it to spare,
while every known mistake fails it five times over (`tests/test_tolerances.py`). Realistic
mistakes move some weight by 6e-3 or more.

When a run first differs, the known mistakes of `grader/suites/hw3/hidden/rules.py` are run on the
same problem; one that the student's trajectory follows is named in the feedback. Those rules are
the optimizers written out, so they stay in the instructor's copy: without them (a student's
`course check`) the feedback still names the step, parameter, element and size of the first
difference, and where it begins (first step, after the reload, aliasing with p.grad).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from grader.assertions import first_mismatch, integer, mapping, number, tensor
from grader.suites.hw3.loops import Local, Loop, Student, state_entries, weights_of  # noqa: F401 (the suites' helpers)

RTOL, ATOL = 1e-3, 2e-4
NAMES = ["first layer weight", "first layer bias", "second layer weight", "parameter without gradient"]
SHAPES = [(5, 6), (5,), (3, 5), (4,)]
CLEAR_MATCH = 0.1  # a mistake this close (in tolerances) explains the run; no need to try the others
ZEROING = ("none", "zeros", "accumulate")  # how gradients are cleared between steps (see `gradients`)


def build_problem(seed: int = 0):
    """A two-layer model's weights, one of them never gets a gradient, and a fixed batch."""
    g = torch.Generator().manual_seed(seed)
    first = torch.randn(5, 6, generator=g) * 0.5
    bias = torch.randn(5, generator=g) * 0.1
    second = torch.randn(3, 5, generator=g) * 0.5
    unused = torch.randn(4, generator=g)
    x, y = torch.randn(32, 6, generator=g), torch.randn(32, 3, generator=g)
    return [first, bias, second, unused], x, y


def loss_of(params, x, y, step: int):
    first, bias, second, _ = params
    scale = 1.0 + 0.5 * math.sin(step)  # gradients that change from step to step
    return ((torch.tanh(x @ first.T + bias) @ second.T - y * scale) ** 2).mean()


def gradients(weights: list, x, y, step: int, zeroing: str) -> list:
    """This step's gradients at `weights`, per parameter: None for the parameter without one, else
    the parts to add into p.grad: the whole batch, or ("accumulate") two half-batches, each loss
    halved, as gradient accumulation does."""
    if zeroing not in ZEROING:
        raise ValueError(f"zeroing must be one of {ZEROING}")
    params = [w.detach().clone().requires_grad_(True) for w in weights]
    half = len(x) // 2
    parts = [slice(0, half), slice(half, None)] if zeroing == "accumulate" else [slice(None)]
    out: list[list] = [[] for _ in params]
    for part in parts:
        loss = loss_of(params, x[part], y[part], step) / len(parts)
        for i, g in enumerate(torch.autograd.grad(loss, params, allow_unused=True)):
            if g is not None:
                out[i].append(g)
    return [grads or None for grads in out]


def drive(case: Case, side, seed: int = 0) -> dict:
    """`case` run with the optimizer `side` (a `loops.Local` reference or the `loops.Student`'s),
    driven from here: the weights before the first step and after each ("path": per parameter,
    shape (steps + 1, *shape)) and the number of parameters with state at the end."""
    weights, x, y = build_problem(seed)
    loop = Loop(side, [(weights[:2], case.groups[0]), (weights[2:], case.groups[1])], case.what, "float32")
    path = [[w] for w in loop.current]
    for step in range(case.steps):
        if step == case.reload_at:
            loop.reload()
        grads = gradients(loop.current, x, y, step, case.zeroing)
        for trace, w in zip(path, loop.step(grads, in_place=case.zeroing != "none")):
            trace.append(w)
    return {"path": [torch.stack(trace) for trace in path], "state_entries": loop.state_entries()}


@dataclass(frozen=True)
class Case:
    """One run the graders compare: the student's class `name` with these hyper-parameters (two
    param groups), `steps` steps, rebuilt from its state_dict after `reload_at`, gradients cleared
    as `zeroing` says (see `gradients`)."""

    name: str
    kwargs: dict
    groups: list
    what: str
    steps: int = 100
    reload_at: int | None = 50
    zeroing: str = "none"

    def run(self, cls, kwargs: dict | None = None) -> dict:
        """The reference optimizer class `cls` on this case, here: run once per grading process
        (it is the same for every student), where `cls` has a name that says what it is."""
        kwargs = self.kwargs if kwargs is None else kwargs
        name = _qualified(cls)
        if name is None:
            return drive(self, Local(cls, kwargs))
        key = repr((self, name, kwargs))
        if key not in _REFERENCE_RUNS:
            _REFERENCE_RUNS[key] = drive(self, Local(cls, kwargs))
        return _REFERENCE_RUNS[key]

    def run_student(self, submission) -> dict:
        """The student's class `name` on this case, driven from here through the seam."""
        return drive(self, Student(submission, self.name, self.kwargs))


_REFERENCE_RUNS: dict[str, dict] = {}  # Case.run's results in this process, by case, class and arguments


def _qualified(cls) -> str | None:
    """`module.qualname` of a class or function (a partial's with its arguments); None for one
    that has no name to tell it apart (a lambda, or one defined inside a function)."""
    if isinstance(cls, functools.partial):
        inner = _qualified(cls.func)
        return None if inner is None else f"{inner}{cls.args!r}{sorted(cls.keywords.items())!r}"
    module, qualname = getattr(cls, "__module__", None), getattr(cls, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    return f"{module}.{qualname}"


def checked(case: Case, got) -> dict:
    """The student's run, its types and shapes checked before anything is computed on it."""
    got = mapping(got, f"{case.what}: the run")
    paths = got.get("path")
    if not isinstance(paths, list) or len(paths) != len(NAMES):
        raise AssertionError(f"{case.what}: expected the trajectories of {len(NAMES)} parameters")
    for label, path, shape in zip(NAMES, paths, SHAPES):
        tensor(path, f"{case.what}: {label}", (case.steps + 1, *shape), "float32")
    integer(got.get("state_entries"), f"{case.what}: number of state entries")
    return got


def divergence(paths: list, expected: list):
    """(step, parameter, index, got, expected) where `paths` first leaves the tolerance around
    `expected` (the earliest step; within it, the first parameter), or None."""
    first = None
    for i, (a, b) in enumerate(zip(paths, expected)):
        hit = first_mismatch(a, b, RTOL, ATOL)
        if hit is not None and (first is None or hit[0][0] < first[0]):
            (step, *index), x, y = hit
            first = (step, i, tuple(index), x, y)
    return first


def worst(paths: list, expected: list, upto: int) -> float:
    """The largest |got - expected| / (ATOL + RTOL |expected|) over the first `upto` steps."""
    out = 0.0
    for a, b in zip(paths, expected):
        a, b = a[: upto + 1].double().numpy(), b[: upto + 1].double().numpy()
        with np.errstate(invalid="ignore"):
            r = np.abs(a - b) / (ATOL + RTOL * np.abs(b))
        out = max(out, float(np.nan_to_num(r, nan=np.inf).max(initial=0.0)))
    return out


def known_rules() -> dict:
    """The written-out rules with their mistakes, where the hidden suite is present; else {}."""
    try:
        from grader.suites.hw3.hidden.rules import RULES
    except ImportError:
        return {}
    return RULES


def matching_mistake(case: Case, paths: list, step: int) -> str:
    """What a known mistake the student's trajectory follows up to a few steps past `step` says, or ""."""
    rule = known_rules().get(case.name)
    if rule is None:
        return ""
    horizon = min(case.steps, step + 5)
    reload_at = case.reload_at if case.reload_at is not None and case.reload_at < horizon else None
    short = replace(case, steps=horizon, reload_at=reload_at)
    best, says = 1.0, ""
    for mistake in rule.MISTAKES:
        try:
            candidate = short.run(functools.partial(rule, mistake=mistake.key))
        except Exception:  # a rule that cannot run this configuration does not explain it
            continue
        score = worst(paths, candidate["path"], horizon)
        if score <= CLEAR_MATCH:
            return mistake.says
        if score <= best:
            best, says = score, mistake.says
    return says


def cause(case: Case, paths: list, step: int, rerun) -> str:
    says = matching_mistake(case, paths, step)
    if says:
        return f"Your trajectory matches a known mistake: {says}."
    if case.reload_at is not None and step == case.reload_at + 1:
        return (
            f"It goes wrong on the first step after the optimizer was rebuilt from its state_dict() (saved after "
            f"step {case.reload_at}): keep all of its state in self.state[p]."
        )
    if case.zeroing != "none" and rerun is not None:
        again, expected = rerun()
        if divergence(checked(replace(case, zeroing="none"), again)["path"], expected["path"]) is None:
            return (
                "With zero_grad() it matches, with p.grad zeroed in place and accumulated it does not: the optimizer's "
                "state shares memory with p.grad. Keep a copy in self.state[p], never p.grad itself."
            )
    if step == 0:
        return "The weights changed before the first step: building the optimizer must leave them alone."
    if step == 1:
        return "Already the first step differs: check the update at t = 1 against the handout's formula."
    return "Step 1 agrees." if step == 2 else f"Steps 1 to {step - 1} agree."


def verify(case: Case, got, expected: dict, against: str, rerun=None) -> None:
    """Assert that the student's run `got` follows `expected` within the tolerance and keeps state
    for exactly the parameters it should; the feedback names the first step, parameter and element
    that differ, by how much, and the likely mistake. `rerun()`, if given, returns the student's
    and the reference's runs with the gradients set to None between steps instead."""
    got = checked(case, got)
    where = divergence(got["path"], expected["path"])
    if where is not None:
        step, i, index, x, y = where
        at = f"{NAMES[i]}[{', '.join(map(str, index))}]" if index else NAMES[i]
        last = max(float((a[-1].double() - b[-1].double()).abs().max()) for a, b in zip(got["path"], expected["path"]))
        raise AssertionError(
            f"{case.what}: step {step} of {case.steps} is the first that differs from {against}: {at} is {x:.7g}, "
            f"expected {y:.7g} (off by {abs(x - y):.3g}, tolerance {ATOL + RTOL * abs(y):.3g}; after step {case.steps} "
            f"some weight is off by {last:.3g}). " + cause(case, got["path"], step, rerun)
        )
    if got["state_entries"] != expected["state_entries"]:
        raise AssertionError(
            f"{case.what}: optimizer state for {got['state_entries']} parameters, expected {expected['state_entries']} "
            "(keep state in self.state[p], and none for a parameter without a gradient)"
        )


def checked_clip(got, grads: list) -> tuple[float, list]:
    """clip_grad_norm's return value as a float (a one-element tensor is accepted) and the
    gradients after it, each checked for type, number, shape and dtype."""
    got = mapping(got, "clip_grad_norm")
    norm = got.get("norm")
    if type(norm) is torch.Tensor and norm.numel() == 1 and norm.dtype.is_floating_point:
        norm = float(norm)
    norm = number(norm, "clip_grad_norm's return value")
    after = got.get("grads")
    assert type(after) is list and len(after) == len(grads), f"clip_grad_norm: expected the {len(grads)} gradients"
    return norm, [tensor(a, f"gradient {i}", tuple(t.shape), "float32") for i, (a, t) in enumerate(zip(after, grads))]
