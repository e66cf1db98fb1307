"""Hidden tests for hw2: random scripted runs, other plants, edge cases, the test split."""

import math
import random

import numpy as np
import pytest

from grader.assertions import close, mapping, number, raises, sequence
from grader.suites.hw2 import training
from grader.suites.hw2.hidden.reference import reference_outputs, solution
from grader.suites.hw2.public.test_lr_control import KI, KP, TARGET_ACCURACY, experiment, update_ratio
from grader.suites.hw2.snapshots import script_pid


@pytest.mark.task("2.1")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_scripts_match_the_reference(submission, seed):
    """On random gains, limits, filters and setpoint changes, do the outputs match to 1e-9?"""
    rng = random.Random(seed)
    params = {
        "kp": rng.uniform(0, 3),
        "ki": rng.uniform(0, 2),
        "kd": rng.uniform(0, 1),
        "setpoint": rng.uniform(-2, 2),
        "dt": rng.choice([0.01, 0.05, 0.2]),
        "output_limits": [rng.uniform(-3, -0.5), rng.uniform(0.5, 3)],
        "tau": rng.choice([None, 0.05, 0.5]),
    }
    ys = [rng.gauss(0, 1.5) for _ in range(120)]
    changes = {str(rng.randrange(120)): rng.uniform(-3, 3) for _ in range(3)}
    expected = reference_outputs(params, ys, changes)
    got = sequence(script_pid(submission, params, ys, changes)["u"], f"random script {seed}: outputs", length=len(expected))
    for i, (u, v) in enumerate(zip(got, expected)):
        close(u, v, f"random script {seed}: output at step {i}", tol=1e-9, rel=1e-9)


@pytest.mark.task("2.1")
def test_one_sided_limits_and_reset(submission):
    """With only an upper limit, and after reset(), do the outputs still match?"""
    params = {"kp": 1.0, "ki": 1.0, "kd": 0.2, "setpoint": 3.0, "dt": 0.1, "output_limits": [None, 2.0]}
    ys = [0.0] * 30 + [5.0] * 30
    expected = reference_outputs(params, ys, {})
    got = sequence(script_pid(submission, params, ys, {})["u"], "upper limit only: outputs", length=len(expected))
    for i, (u, v) in enumerate(zip(got, expected)):
        close(u, v, f"upper limit only: output at step {i}", tol=1e-9)
    pid = submission.module("pid").PID(kp=1.0, ki=1.0, kd=1.0, setpoint=1.0, dt=0.1)
    first = [number(pid.update(y), "PID.update") for y in (0.0, 0.5, 0.7)]
    pid.reset()
    again = [number(pid.update(y), "PID.update after reset()") for y in (0.0, 0.5, 0.7)]
    assert again == first, f"after reset() the same measurements should give the same outputs: {first} then {again}"


@pytest.mark.task("2.2")
def test_metrics_on_other_plants(plant_mod):
    """On a fast first-order plant with negative gain and an underdamped plant, do the metrics match the reference?"""
    ref = solution("plant")
    for plant_args, cls, steps in (
        ((0.5, -2.0, 0.0005), "FirstOrderPlant", 8000),
        ((5.0, 0.35, 1.5, 0.002), "SecondOrderPlant", 6000),
    ):
        t, y = plant_mod.step_response(getattr(plant_mod, cls)(*plant_args), steps)
        t_ref, y_ref = ref.step_response(getattr(ref, cls)(*plant_args), steps)
        y, y_ref = np.asarray(y, float), np.asarray(y_ref)
        assert y.shape == y_ref.shape, (
            f"{cls}{plant_args}: step_response over {steps} steps gave {y.shape[0]} outputs, expected {steps + 1}"
        )
        off = np.flatnonzero(np.abs(y - y_ref) > 1e-9 + 1e-9 * np.abs(y_ref))
        assert off.size == 0, (
            f"{cls}{plant_args}: the step response differs from the reference first at sample {off[0]}: "
            f"{y[off[0]]:.10g}, expected {y_ref[off[0]]:.10g}"
            if off.size
            else ""
        )
        got, expected = mapping(plant_mod.step_metrics(t, y, 1.0), "step_metrics"), ref.step_metrics(t_ref, y_ref, 1.0)
        for key, value in expected.items():
            close(got.get(key), value, f"{cls}{plant_args}: {key}", tol=1e-6)


@pytest.mark.task("2.2")
def test_metrics_refuse_a_zero_final_value(plant_mod):
    """Does step_metrics raise ValueError when the response ends at 0?"""
    raises("ValueError", plant_mod.step_metrics, [0.0, 1.0, 2.0], [0.0, 1.0, 0.0], what="step_metrics with y[-1] = 0")


@pytest.mark.task("2.3")
def test_update_ratio_edge_cases(submission):
    """Is the ratio -inf for an unchanged model, and a ValueError for all-zero weights?"""
    ones, zeros = [np.ones(3)], [np.zeros(3)]
    unchanged = number(update_ratio(submission, ones, ones), "update_ratio with nothing changed")
    assert unchanged == -math.inf, f"update_ratio with nothing changed gave {unchanged!r}; log10(0) = -inf"
    raises("ValueError", update_ratio, submission, zeros, ones, what="update_ratio with all-zero weights")


@pytest.mark.task("2.3")
def test_update_ratio_of_random_weights(submission):
    """On random weights moved a little, is the ratio log10(||w_after - w_before|| / ||w_before||) to 1e-6?"""
    g = np.random.default_rng(3)
    before = [g.standard_normal((4, 5)).astype(np.float32), g.standard_normal(7).astype(np.float32)]
    after = [(b + 0.01 * g.standard_normal(b.shape)).astype(np.float32) for b in before]
    wide = [[x.astype(np.float64) for x in w] for w in (before, after)]
    delta = math.sqrt(sum(float(((a - b) ** 2).sum()) for a, b in zip(wide[1], wide[0])))
    norm = math.sqrt(sum(float((b**2).sum()) for b in wide[0]))
    close(update_ratio(submission, before, after), math.log10(delta / norm), "update ratio of two random tensors", tol=1e-6)


@pytest.mark.task("2.3")
def test_controller_holds_another_setpoint(submission):
    """From lr = 1e-5, does the signal settle at a setpoint of -3.5?"""
    args = {"kp": KP, "ki": KI, "setpoint": -3.5, "lr_min": 1e-5, "lr_max": 5.0}
    r = training.track(submission, args, [1e-5, 1e-5], steps=250)
    settled = np.array(r["signal"][100:])
    close(float(settled.mean()), -3.5, "mean update ratio over steps 100-250", tol=0.1, rel=0)


@pytest.mark.task("2.4")
@pytest.mark.seeded
def test_controlled_training_on_the_test_split(submission, digits, seed):
    """From lr = 5 and lr = 0.001, does the controlled run reach the target on the test split?"""
    for lr, acc in zip([5.0, 0.001], experiment(submission, digits, [5.0, 0.001], split=2, seed=seed)):
        assert acc >= TARGET_ACCURACY, f"controlled run from lr={lr}: test accuracy {acc:.3f} < {TARGET_ACCURACY}"


@pytest.mark.task("2.3")
def test_controller_works_with_adam(submission):
    """Under torch.optim.Adam from lr = 1, does the signal settle at -3?"""
    args = {"kp": KP, "ki": KI, "setpoint": -3.0, "lr_min": 1e-6, "lr_max": 5.0}
    r = training.track(submission, args, [1.0, 0.5], steps=250, optimizer="Adam")
    settled = np.array(r["signal"][100:])
    close(float(settled.mean()), -3.0, "mean update ratio over steps 100-250 under Adam", tol=0.1, rel=0)
