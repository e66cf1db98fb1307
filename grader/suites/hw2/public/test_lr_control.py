"""Public tests for hw2 part 3 (lr_control.py): tasks 2.3 and 2.4.

The course trains (grader/suites/hw2/training.py, on the grading side); your LRController only
chooses each step's rates, called once per step with the update ratio the course measured.
"""

import math

import numpy as np
import pytest

from grader.assertions import close, number
from grader.errors import StudentError
from grader.suites.hw2 import training
from grader.worker.drivers.hw2 import GraderPI

TARGET_ACCURACY = 0.85  # held-out accuracy after 300 steps; the seed sweep (benchmarks/seeds_hw2.py) backs it
KP, KI = 0.3, 0.1  # the graders' PI controller (drivers.GraderPI) in the tests of task 2.3


def update_ratio(submission, before: list, after: list):
    """The student's update_ratio on float32 tensors holding these arrays."""
    import torch

    tensors = [[torch.as_tensor(np.asarray(a, dtype=np.float32)) for a in arrays] for arrays in (before, after)]
    return submission.module("lr_control").update_ratio(*tensors)


@pytest.mark.task("2.3")
def test_update_ratio(submission):
    """Is the signal log10(||w_after - w_before|| / ||w_before||) over all tensors together?"""
    w = [np.array([[3.0, 4.0]]), np.array([12.0])]  # ||w|| = 13
    scaled = [1.125 * a for a in w]  # every weight moved by 1/8 of itself
    close(
        update_ratio(submission, w, scaled),
        math.log10(0.125),
        "update ratio of weights scaled by 1.125 (moved by 1/8)",
        tol=1e-6,
        hints=[
            (lambda x: math.isclose(x, 0.125, rel_tol=1e-6), "take log10 of the ratio"),
            (
                lambda x: math.isclose(x, math.log10(1 / 9), rel_tol=1e-6),
                "that divides by the norm of the weights after the step; divide by the norm before the step",
            ),
        ],
    )
    half = [1.125 * w[0], w[1]]  # the first tensor moves by (0.375, 0.5), norm 0.625; the second stays
    close(
        update_ratio(submission, w, half),
        math.log10(0.625 / 13),
        "update ratio when only [[3, 4]] of [[3, 4]], [12] moves, by [[0.375, 0.5]] (norms 0.625 and 13)",
        tol=1e-6,
        hints=[
            (lambda x: math.isclose(x, 0.625 / 13, rel_tol=1e-6), "take log10 of the ratio"),
            (
                lambda x: math.isclose(x, math.log10(0.0625), rel_tol=1e-6) or x == -math.inf,
                "that averages one ratio per tensor; the norms should be over all tensors together",
            ),
            (
                lambda x: math.isclose(x, math.log10(0.125), rel_tol=1e-6),
                "that is the first tensor's ratio alone; the norms should be over all tensors together",
            ),
        ],
    )


def controller(submission, setpoint: float, lrs, lr_min: float, lr_max: float):
    """The student's LRController around the graders' PI (kp = 0.3, ki = 0.1, dt = 1), in the student's process."""
    pi = submission.driver("GraderPI", KP, KI, setpoint)
    return submission.module("lr_control").LRController(pi, list(lrs), lr_min=lr_min, lr_max=lr_max)


def scripted(submission, signals: list, setpoint: float, lrs, lr_min: float, lr_max: float) -> list[list[float]]:
    """The rates of the student's LRController before the first step, then after update(r) for each r."""
    ctrl = controller(submission, setpoint, lrs, lr_min, lr_max)
    rates = [training.checked_rates(ctrl.rates, "LRController.rates before the first step", len(lrs), lr_min, lr_max)]
    for n, r in enumerate(signals):
        rates.append(
            training.checked_rates(ctrl.update(r), f"LRController.update({r:.6g}) at step {n}", len(lrs), lr_min, lr_max)
        )
    return rates


def pi_outputs(signals: list, setpoint: float) -> list[float]:
    """What the graders' PI answers, step by step, to these signals (each non-finite one replaced first)."""
    pi = GraderPI(KP, KI, setpoint)
    return [pi.update(training.sanitized(r, setpoint)) for r in signals]


def clip(lr: float, lr_min: float, lr_max: float) -> float:
    return min(max(lr, lr_min), lr_max)


def agree(a: float, b: float) -> bool:
    """Learning rates agree to 1e-6 relative: a rate computed with float32 tensors is within it."""
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)


def assert_rule(rates: list, signals: list, setpoint: float, lrs, lr_min: float, lr_max: float, what: str) -> None:
    """rates[0] = clip(lr0) and rates[n + 1] = clip(lr0 * 10**u[n]) for every group, u the PI's answers."""
    u = pi_outputs(signals, setpoint)
    for g, lr0 in enumerate(lrs):
        close(
            rates[0][g],
            clip(lr0, lr_min, lr_max),
            f"{what}, group {g}: the rate before the first step (lr0 = {lr0:g} clipped into [{lr_min:g}, {lr_max:g}])",
            tol=1e-12,
            rel=1e-6,
        )
        for n in range(len(signals)):
            got, expected = rates[n + 1][g], clip(lr0 * 10 ** u[n], lr_min, lr_max)
            if agree(got, expected):
                continue
            if agree(got, clip(rates[n][g] * 10 ** u[n], lr_min, lr_max)):
                raise AssertionError(
                    f"{what}, group {g}, after step {n}: the change compounds onto the current rate "
                    f"(lr * 10**u); use the base rate: lr = clip(lr0 * 10**u), lr0 = {lr0:g} the group's "
                    "initial rate"
                )
            if g and agree(got, clip(lrs[0] * 10 ** u[n], lr_min, lr_max)):
                raise AssertionError(
                    f"{what}, group {g}, after step {n}: rate {got:.6g} is group 0's; each group scales "
                    f"its own lr0 ({lr0:g}), so the groups' ratio must not change"
                )
            if n and agree(got, clip(lr0 * 10 ** u[n - 1], lr_min, lr_max)):
                raise AssertionError(
                    f"{what}, group {g}: update(r) at step {n} returned the rate for step {n} "
                    f"(off by one step); it must return the rates for the next step, from this r"
                )
            raise AssertionError(
                f"{what}, group {g}, after step {n}: rate {got:.6g}, expected clip(lr0 * 10**u) = "
                f"clip({lr0:g} * 10**{u[n]:.4f}) = {expected:.6g}"
            )


SIGNALS = [-2.5 + 1.2 * math.sin(0.4 * n) + 0.3 * math.cos(1.3 * n) for n in range(60)]


@pytest.mark.task("2.3")
def test_each_rate_is_the_initial_rate_times_10_to_the_u(submission):
    """Does update(r) return clip(lr0 * 10**u) for each group, lr0 the group's initial rate, u = pid.update(r)?"""
    lrs, lr_min, lr_max, setpoint = (8.0, 1.6), 1e-5, 5.0, -2.5
    rates = scripted(submission, SIGNALS, setpoint, lrs, lr_min, lr_max)
    assert_rule(rates, SIGNALS, setpoint, lrs, lr_min, lr_max, "60 scripted signals")


@pytest.mark.task("2.3")
def test_every_group_is_scaled_and_bounds_hold(submission):
    """Does every param group keep its share of the rate, and does the rate reach but never leave [lr_min, lr_max]?"""
    low = [-6.0] * 40  # far below the setpoint: the rate climbs to lr_max
    rates = scripted(submission, low, -2.5, (0.05, 0.01), 1e-5, 0.4)
    assert rates[-1][0] == pytest.approx(0.4), (
        f"with the signal far below the setpoint the rate should sit at lr_max = 0.4, not {rates[-1][0]:.6g}"
    )
    free = [r for r in rates if r[0] < 0.4]
    assert all(math.isclose(a / b, 5.0, rel_tol=1e-6) for a, b in free), (
        "each group's rate must be lr0 * 10**u: the groups' ratio (5) changed"
    )
    high = [1.0] * 40  # far above: the rate falls to lr_min
    rates = scripted(submission, high, -2.5, (0.05, 0.01), 1e-4, 5.0)
    assert rates[-1][1] == pytest.approx(1e-4), (
        f"with the signal far above the setpoint the rate should sit at lr_min = 1e-4, not {rates[-1][1]:.6g}"
    )


@pytest.mark.task("2.3")
def test_a_non_finite_step_counts_as_far_too_large(submission):
    """For r = +inf or NaN (the weights blew up) does the PID get setpoint + 10, and for r = -inf setpoint - 10?"""
    setpoint, lrs, lr_min, lr_max = -2.5, (0.05, 0.01), 1e-12, 1e6
    signals = SIGNALS[:10] + [math.inf, math.nan, math.nan] + SIGNALS[10:15] + [-math.inf] + SIGNALS[15:20]
    try:
        rates = scripted(submission, signals, setpoint, lrs, lr_min, lr_max)
    except StudentError as exc:
        if exc.is_a("ValueError"):
            raise AssertionError(
                f"update(r) for a non-finite r raised {exc}: your controller handed it to the PID as it "
                "is; a step whose r is not finite "
                f"must count as setpoint + 10 = {setpoint + 10:g} (far too large, r = +inf or NaN) or "
                f"setpoint - 10 (r = -inf), never reach the PID as it is"
            ) from None
        raise
    assert rates[11][0] < rates[10][0], "after r = +inf (the weights blew up) the rate must fall"
    swapped = [training.sanitized(-r if math.isinf(r) else r, setpoint) for r in signals]
    try:
        assert_rule(rates, signals, setpoint, lrs, lr_min, lr_max, "signals with inf, NaN and -inf")
    except AssertionError:
        u = pi_outputs(swapped, setpoint)
        if all(agree(rates[n + 1][0], clip(lrs[0] * 10 ** u[n], lr_min, lr_max)) for n in range(len(signals))):
            raise AssertionError(
                "+inf and -inf are swapped: r = +inf (the weights blew up) counts as setpoint + 10, "
                "r = -inf (nothing moved) as setpoint - 10"
            ) from None
        raise


@pytest.mark.task("2.3")
@pytest.mark.parametrize("start", [1.0, 1e-4])
def test_controller_holds_the_signal_at_the_setpoint(submission, start):
    """Training a small MLP from a rate far too large or far too small, does r settle within 0.25 of the setpoint?"""
    args = {"kp": KP, "ki": KI, "setpoint": -2.5, "lr_min": 1e-5, "lr_max": 5.0}
    r = training.track(submission, args, [start, start / 5], steps=200)
    settled = np.array(r["signal"][80:])
    close(float(np.mean(settled)), -2.5, "mean update ratio over steps 80-200", tol=0.1, rel=0)
    inside = float(np.mean(np.abs(settled + 2.5) <= 0.25))
    assert inside >= 0.9, f"only {inside:.0%} of steps 80-200 are within 0.25 of the setpoint -2.5"


def experiment(submission, digits, lrs: list, split: int, seed: int) -> list[float]:
    """The course's digits run from each rate, steered by the student's digits_controller; the held-out
    accuracy of each. Checks that each run's rates are what the controller's rule gives with the
    student's own PID(kp=0.3, ki=0.1, setpoint=-2) on the r the course measured."""
    x, labels, parts = digits
    lr_control, pid_mod = submission.module("lr_control"), submission.module("pid")
    truth = labels[parts == split]
    lr_min, lr_max = training.DIGITS_BOUNDS
    accuracies = []
    for lr in lrs:
        run = training.train_digits(
            x[parts == 0], labels[parts == 0], x[parts == split], lr, seed, controller=lr_control.digits_controller(lr)
        )
        pid = pid_mod.PID(kp=training.DIGITS_KP, ki=training.DIGITS_KI, setpoint=training.SETPOINT)
        rates = run["lr"]
        close(rates[0], clip(lr, lr_min, lr_max), f"run from lr={lr}: the rate of the first step", tol=1e-12, rel=1e-6)
        for n, r in enumerate(run["signal"][:-1]):
            u = number(pid.update(training.sanitized(r, training.SETPOINT)), f"PID.update at step {n}")
            expected = clip(lr * 10**u, lr_min, lr_max)
            if not agree(rates[n + 1], expected):
                raise AssertionError(
                    f"run from lr={lr}: step {n + 1} ran at {rates[n + 1]:.6g}, but an LRController from lr={lr:g} "
                    f"(bounds [1e-6, 10]) around PID(kp=0.3, ki=0.1, setpoint=SETPOINT = -2) gives clip(lr0 * 10**u) = "
                    f"{expected:.6g} for the r the course measured; digits_controller must build exactly that"
                )
        accuracies.append(float(np.mean(run["predictions"] == truth)))
    return accuracies


@pytest.mark.task("2.4")
@pytest.mark.seeded
def test_controlled_training_reaches_the_target_where_fixed_does_not(submission, digits, seed):
    """From lr = 10 and lr = 0.003 (where a fixed rate stays below 50%), does the controlled run reach 85% held-out accuracy?"""
    for lr, acc in zip([10.0, 0.003], experiment(submission, digits, [10.0, 0.003], split=1, seed=seed)):
        assert acc >= TARGET_ACCURACY, (
            f"controlled run from lr={lr}: held-out accuracy {acc:.3f} < {TARGET_ACCURACY} "
            "(a fixed rate of 10 or 0.003 stays below 0.5)"
        )
