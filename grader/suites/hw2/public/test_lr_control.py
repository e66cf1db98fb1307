"""Public tests for hw2 part 3 (lr_control.py): tasks 2.3 and 2.4."""

import math

import numpy as np
import pytest

from grader.checks import close

TARGET_ACCURACY = 0.85  # held-out accuracy after 300 steps; the seed sweep (benchmarks/seeds_hw2.py) backs it
KP, KI = 0.3, 0.1  # the graders' PI controller in track_update_ratio (drivers.ReferencePI)


def update_ratio(submission, before: list, after: list):
    """The student's update_ratio on float32 tensors holding these arrays."""
    return submission.driver("hw2", "update_ratio_of", before, after)


@pytest.mark.task("2.3")
def test_update_ratio(submission):
    """Is the signal log10(||w_after - w_before|| / ||w_before||) over all tensors together?"""
    g = np.random.default_rng(3)
    before = [g.standard_normal((4, 5)).astype(np.float32), g.standard_normal(7).astype(np.float32)]
    after = [(b + 0.01 * g.standard_normal(b.shape)).astype(np.float32) for b in before]
    wide = [[x.astype(np.float64) for x in w] for w in (before, after)]
    delta = math.sqrt(sum(float(((a - b) ** 2).sum()) for a, b in zip(wide[1], wide[0])))
    norm = math.sqrt(sum(float((b**2).sum()) for b in wide[0]))
    norm_after = math.sqrt(sum(float((a**2).sum()) for a in wide[1]))
    per_tensor = [float(np.linalg.norm(a - b) / np.linalg.norm(b)) for a, b in zip(wide[1], wide[0])]
    close(update_ratio(submission, before, after), math.log10(delta / norm), "update ratio of two tensors", tol=1e-6,
          hints=[(lambda x: math.isclose(x, delta / norm, rel_tol=1e-6), "take log10 of the ratio"),
                 (lambda x: math.isclose(x, math.log10(delta / norm_after), rel_tol=1e-6),
                  "that divides by the norm of the weights after the step; divide by the norm before the step"),
                 (lambda x: math.isclose(x, math.log10(sum(per_tensor) / len(per_tensor)), rel_tol=1e-6)
                  or math.isclose(x, sum(map(math.log10, per_tensor)) / len(per_tensor), rel_tol=1e-6),
                  "that averages one ratio per tensor; the norms should be over all tensors together"),
                 (lambda x: x > math.log10(delta / norm) + 0.05, "the norms should be over all tensors together")])


def track(submission, setpoint=-2.5, lrs=(0.05, 0.01), steps=200, lr_min=1e-5, lr_max=5.0, check_error=True, blow_up_at=None):
    r = submission.driver("hw2", "track_update_ratio", setpoint, list(lrs), steps, lr_min, lr_max, blow_up_at=blow_up_at)
    if check_error and r["error"]:
        raise AssertionError(f"training under your LRController stopped at step {len(r['lr0'])}: {r['error']}")
    return r


def pi_outputs(measurements, setpoint: float) -> list[float]:
    """What the graders' PI (kp = 0.3, ki = 0.1, dt = 1) answers to these measurements."""
    integral, out = 0.0, []
    for r in measurements:
        integral += KI * (setpoint - r)
        out.append(KP * (setpoint - r) + integral)
    return out


def clip(lr: float, lr_min: float, lr_max: float) -> float:
    return min(max(lr, lr_min), lr_max)


def agree(a: float, b: float) -> bool:
    """Learning rates agree to 1e-6 relative: a rate computed with float32 tensors is within it."""
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)


@pytest.mark.task("2.3")
@pytest.mark.parametrize("start", [1.0, 1e-4])
def test_controller_holds_the_signal_at_the_setpoint(submission, start):
    """From a rate far too large or far too small, does the signal settle within 0.25 of the setpoint?"""
    r = track(submission, lrs=(start, start / 5))
    signal = np.array(r["signal"])
    assert len(signal) == 200, f"history['signal'] has {len(signal)} entries after 200 steps"
    settled = signal[80:]
    close(float(np.mean(settled)), -2.5, "mean signal over steps 80-200", tol=0.1, rel=0)
    inside = float(np.mean(np.abs(settled + 2.5) <= 0.25))
    assert inside >= 0.9, f"only {inside:.0%} of steps 80-200 are within 0.25 of the setpoint -2.5"


@pytest.mark.task("2.3")
def test_every_group_is_scaled_and_bounds_hold(submission):
    """Does every param group keep its share of the rate, and does the rate never leave [lr_min, lr_max]?"""
    r = track(submission, setpoint=3.0, lrs=(0.05, 0.01), lr_max=0.4, check_error=False)  # unreachable: pins the rate
    assert max(r["lr0"] + r["lr1"]) <= 0.4 + 1e-12, f"a rate went above lr_max = 0.4 (up to {max(r['lr0'] + r['lr1']):.3g})"
    assert not r["error"], f"training under your LRController stopped: {r['error']}"
    assert r["lr0"][-1] == pytest.approx(0.4), "with the signal far below the setpoint the rate should sit at lr_max"
    r = track(submission, setpoint=-2.5, lrs=(0.05, 0.01))
    ratios = np.array(r["lr0"]) / np.array(r["lr1"])
    assert np.allclose(ratios, 5.0), "each group's rate must be lr0 * 10**u: the groups' ratio (5) changed"
    r = track(submission, setpoint=-12.0, lrs=(0.05, 0.01), lr_min=1e-4, check_error=False)
    assert min(r["lr0"] + r["lr1"]) >= 1e-4 - 1e-15, f"a rate went below lr_min = 1e-4 (down to {min(r['lr0'] + r['lr1']):.3g})"


@pytest.mark.task("2.3")
def test_each_rate_is_the_initial_rate_times_10_to_the_u(submission):
    """Does step n + 1 run at clip(lr0 * 10**u[n]) for each group, lr0 the group's rate when the controller was made?"""
    lrs, lr_min, lr_max, setpoint = (8.0, 1.6), 1e-5, 5.0, -2.5
    r = track(submission, setpoint, lrs, steps=60, lr_min=lr_min, lr_max=lr_max)
    assert len(r["pi_in"]) == 60, f"the PID was asked {len(r['pi_in'])} times in 60 steps; once per step"
    u = pi_outputs(r["pi_in"], setpoint)
    for g, (lr0, rates) in enumerate(zip(lrs, (r["lr0"], r["lr1"]))):
        close(rates[0], clip(lr0, lr_min, lr_max), f"group {g}: the rate of the first step (lr0 = {lr0:g} clipped into "
              f"[{lr_min:g}, {lr_max:g}])")
        for n in range(59):
            expected = clip(lr0 * 10 ** u[n], lr_min, lr_max)
            if agree(rates[n + 1], expected):
                continue
            if agree(rates[n + 1], clip(rates[n] * 10 ** u[n], lr_min, lr_max)):
                raise AssertionError(f"group {g}, step {n + 1}: the change compounds onto the current rate (lr * 10**u); "
                                     f"use the base rate: lr = clip(lr0 * 10**u), lr0 = {lr0:g} the group's rate when "
                                     "the controller was made")
            raise AssertionError(f"group {g}, step {n + 1}: rate {rates[n + 1]:.6g}, expected clip(lr0 * 10**u) = "
                                 f"clip({lr0:g} * 10**{u[n]:.4f}) = {expected:.6g}")


@pytest.mark.task("2.3")
def test_history_holds_the_rate_and_signal_of_each_step(submission):
    """Is history['lr'][n] the rate step n ran with, and history['signal'][n] the r that step gave the PID?"""
    r = track(submission, steps=40)
    ran, recorded, given, signal = r["lr0"], r["history_lr"], r["pi_in"], r["signal"]
    assert len(recorded) == len(signal) == 40, f"history has {len(recorded)} rates and {len(signal)} signals after 40 steps"
    if not all(agree(a, b) for a, b in zip(recorded, ran)):
        shifted = all(agree(a, b) for a, b in zip(recorded, ran[1:]))
        n = next(i for i, (a, b) in enumerate(zip(recorded, ran)) if not agree(a, b))
        raise AssertionError(f"history['lr'][{n}] = {recorded[n]:.6g}, but step {n} ran with {ran[n]:.6g}"
                             + ("; the history is off by one step: record the rate before the controller changes it"
                                if shifted else ""))
    for n, (a, b) in enumerate(zip(signal, given)):
        if not (agree(a, b) or (math.isfinite(b) and not math.isfinite(a))):
            shifted = n + 1 < len(given) and agree(a, given[n + 1])
            raise AssertionError(f"history['signal'][{n}] = {a:.6g}, but step {n} gave the PID {b:.6g}"
                                 + ("; the history is off by one step" if shifted else ""))


@pytest.mark.task("2.3")
def test_a_non_finite_step_counts_as_far_too_large(submission):
    """When the weights blow up (r = +inf, then NaN), does the PID get setpoint + 10, and the rate fall, with no error?"""
    setpoint, k = -2.5, 20
    r = track(submission, setpoint, steps=30, blow_up_at=k, check_error=False)
    given = r["pi_in"]
    bad = next((n for n, v in enumerate(given) if not math.isfinite(v)), None)
    if bad is not None:
        raise AssertionError(f"step {bad} gave r = {given[bad]} and your controller handed it to the PID: a step whose r "
                             f"is not finite must count as setpoint + 10 = {setpoint + 10:g} (far too large), "
                             "never reach the PID as it is")
    assert not r["error"], f"training under your LRController stopped at step {len(r['lr0'])}: {r['error']}"
    assert len(given) == 30, f"the PID was asked {len(given)} times in 30 steps; once per step"
    for n in range(k, 30):
        close(given[n], setpoint + 10, f"what the PID got at step {n}, after the weights blew up at step {k}",
              hints=[(lambda x: math.isclose(x, setpoint - 10), "that is setpoint - 10, for r = -inf (nothing moved); "
                      "a blow-up (r = +inf or NaN) counts as setpoint + 10")])
    assert r["lr0"][k + 1] < r["lr0"][k], "after the weights blew up, the rate must fall"


def experiment(submission, digits, runs: list, split: int) -> list:
    """Train with the student's train_digits for each (lr, controlled, seed); the held-out accuracy of each run."""
    x, labels, parts = digits
    results = submission.driver("hw2", "experiment", x[parts == 0], labels[parts == 0], x[parts == split], runs, 300)
    truth = labels[parts == split]
    accuracies = []
    for (lr, controlled, _), r in zip(runs, results):
        kind = "controlled" if controlled else "fixed"
        assert len(r["lr"]) == len(r["loss"]) == len(r["signal"]) == 300, f"{kind} run from lr={lr}: histories must have 300 entries"
        predictions = np.asarray(r["predictions"])
        assert predictions.shape == truth.shape, f"{kind} run from lr={lr}: {predictions.shape} predictions for {truth.shape} images"
        if controlled:
            first = clip(lr, 1e-6, 10.0)
            assert all(1e-6 <= v <= 10.0 for v in r["lr"]), f"controlled run from lr={lr}: the rate left [1e-6, 10]"
            assert agree(r["lr"][0], first), (
                f"controlled run from lr={lr}: lr[0] = {r['lr'][0]:.6g}, but the first step runs at {first:g}; the history "
                "is off by one step if it records the rate after the controller changed it")
        else:
            assert set(r["lr"]) == {lr}, f"fixed run from lr={lr}: the rate must stay {lr}"
        accuracies.append(float(np.mean(predictions == truth)))
    return accuracies


@pytest.mark.task("2.4")
@pytest.mark.seeded
def test_controlled_training_reaches_the_target_where_fixed_does_not(submission, digits, seed):
    """From lr = 10 and lr = 0.003, does the controlled run reach 85% held-out accuracy in 300 steps, and the fixed one not?"""
    runs = [(10.0, False, seed), (10.0, True, seed), (0.003, False, seed), (0.003, True, seed)]
    for (lr, controlled, _), acc in zip(runs, experiment(submission, digits, runs, split=1)):
        if controlled:
            assert acc >= TARGET_ACCURACY, f"controlled run from lr={lr}: held-out accuracy {acc:.3f} < {TARGET_ACCURACY}"
        else:
            assert acc < TARGET_ACCURACY, f"fixed run from lr={lr}: accuracy {acc:.3f}; a bad fixed rate should not reach the target"
