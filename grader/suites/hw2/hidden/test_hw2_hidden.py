"""Hidden tests for hw2: random scripted runs, other plants, edge cases, the test split."""

import math
import random

import numpy as np
import pytest
import torch

from grader.checks import close, mapping, raises
from grader.suites.hw2.hidden.reference import reference_outputs, solution
from grader.suites.hw2.public.test_lr_control import TARGET_ACCURACY, track


@pytest.mark.task("2.1")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_scripts_match_the_reference(submission, seed):
    """On random gains, limits, filters and setpoint changes, do the outputs match to 1e-9?"""
    rng = random.Random(seed)
    params = {"kp": rng.uniform(0, 3), "ki": rng.uniform(0, 2), "kd": rng.uniform(0, 1), "setpoint": rng.uniform(-2, 2),
              "dt": rng.choice([0.01, 0.05, 0.2]), "output_limits": [rng.uniform(-3, -0.5), rng.uniform(0.5, 3)],
              "tau": rng.choice([None, 0.05, 0.5])}
    ys = [rng.gauss(0, 1.5) for _ in range(120)]
    changes = {str(rng.randrange(120)): rng.uniform(-3, 3) for _ in range(3)}
    got = submission.driver("hw2", "script_pid", params, ys, changes)["u"]
    for i, (u, v) in enumerate(zip(got, reference_outputs(params, ys, changes))):
        close(u, v, f"random script {seed}: output at step {i}", tol=1e-9, rel=1e-9)


@pytest.mark.task("2.1")
def test_one_sided_limits_and_reset(submission):
    """With only an upper limit, and after reset(), do the outputs still match?"""
    params = {"kp": 1.0, "ki": 1.0, "kd": 0.2, "setpoint": 3.0, "dt": 0.1, "output_limits": [None, 2.0]}
    ys = [0.0] * 30 + [5.0] * 30
    got = submission.driver("hw2", "script_pid", params, ys, {})["u"]
    for i, (u, v) in enumerate(zip(got, reference_outputs(params, ys, {}))):
        close(u, v, f"upper limit only: output at step {i}", tol=1e-9)
    pid = submission.module("pid").PID(kp=1.0, ki=1.0, kd=1.0, setpoint=1.0, dt=0.1)
    first = [pid.update(y) for y in (0.0, 0.5, 0.7)]
    pid.reset()
    again = [pid.update(y) for y in (0.0, 0.5, 0.7)]
    assert again == first, f"after reset() the same measurements should give the same outputs: {first} then {again}"


@pytest.mark.task("2.2")
def test_metrics_on_other_plants(plant_mod):
    """On a fast first-order plant with negative gain and an underdamped plant, do the metrics match the reference?"""
    ref = solution("plant")
    for plant_args, cls, steps in (((0.5, -2.0, 0.0005), "FirstOrderPlant", 8000), ((5.0, 0.35, 1.5, 0.002), "SecondOrderPlant", 6000)):
        t, y = plant_mod.step_response(getattr(plant_mod, cls)(*plant_args), steps)
        t_ref, y_ref = ref.step_response(getattr(ref, cls)(*plant_args), steps)
        assert np.allclose(y, y_ref, atol=1e-9), f"{cls}{plant_args}: the step response differs from the reference"
        got, expected = mapping(plant_mod.step_metrics(t, y, 1.0), "step_metrics"), ref.step_metrics(t_ref, y_ref, 1.0)
        for key, value in expected.items():
            close(got.get(key), value, f"{cls}{plant_args}: {key}", tol=1e-6)


@pytest.mark.task("2.2")
def test_metrics_refuse_a_zero_final_value(plant_mod):
    """Does step_metrics raise ValueError when the response ends at 0?"""
    raises("ValueError", plant_mod.step_metrics, [0.0, 1.0, 2.0], [0.0, 1.0, 0.0], what="step_metrics with y[-1] = 0")


@pytest.mark.task("2.3")
def test_update_ratio_edge_cases(lrc):
    """Is the ratio -inf for an unchanged model, and a ValueError for all-zero weights?"""
    w = [torch.ones(3)]
    assert lrc.update_ratio(w, [torch.ones(3)]) == -math.inf, "no change: log10(0) = -inf"
    raises("ValueError", lrc.update_ratio, [torch.zeros(3)], [torch.ones(3)], what="update_ratio with all-zero weights")


@pytest.mark.task("2.3")
def test_controller_holds_another_setpoint(submission):
    """From lr = 1e-5, does the signal settle at a setpoint of -3.5?"""
    r = track(submission, setpoint=-3.5, lrs=(1e-5, 1e-5), steps=250)
    settled = np.array(r["signal"][100:])
    close(float(settled.mean()), -3.5, "mean signal over steps 100-250", tol=0.1, rel=0)
    assert len(r["history_lr"]) == 250, "history['lr'] should have one entry per step"


@pytest.mark.task("2.4")
def test_controlled_training_on_the_test_split(submission, digits):
    """From lr = 30 and lr = 0.001, does the controlled run reach the target on the test split?"""
    x, labels, split = digits
    runs = [(30.0, True), (0.001, True)]
    results = submission.driver("hw2", "experiment", x[split == 0], labels[split == 0], x[split == 2], runs, 300)
    for (lr, _), r in zip(runs, results):
        acc = float(np.mean(np.asarray(r["predictions"]) == labels[split == 2]))
        assert acc >= TARGET_ACCURACY, f"controlled run from lr={lr}: test accuracy {acc:.3f} < {TARGET_ACCURACY}"


@pytest.mark.task("2.3")
def test_controller_works_with_adam(submission):
    """Under torch.optim.Adam from lr = 1, does the signal settle at -3?"""
    r = submission.driver("hw2", "track_update_ratio", -3.0, [1.0, 0.5], 250, 1e-6, 5.0, 0, "Adam")
    assert not r["error"], f"training under your LRController stopped: {r['error']}"
    settled = np.array(r["signal"][100:])
    close(float(settled.mean()), -3.0, "mean signal over steps 100-250 under Adam", tol=0.1, rel=0)
