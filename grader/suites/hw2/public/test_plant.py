"""Public tests for hw2 part 2 (plant.py): task 2.2."""

import math

import pytest

from grader.checks import close, mapping


def metrics(plant_mod, t, y, setpoint=1.0):
    m = mapping(plant_mod.step_metrics(t, y, setpoint), "step_metrics")
    for key in ("rise_time", "settling_time", "overshoot", "steady_state_error"):
        assert key in m, f"step_metrics: missing key {key!r}"
    return m


@pytest.mark.task("2.2")
def test_first_order_step_response(plant_mod):
    """First order: no overshoot, rise time ln 9 tau, settling time ln 50 tau?"""
    tau = 2.0
    t, y = plant_mod.step_response(plant_mod.FirstOrderPlant(tau, 1.0, 0.001), 30000)
    close(y[-1], 1.0, "y at t = 30 s (steady state)", tol=1e-6)
    m = metrics(plant_mod, t, y)
    close(m["rise_time"], math.log(9) * tau, "rise time 10% -> 90%", tol=2e-3, rel=0)
    close(m["settling_time"], math.log(50) * tau, "settling time (2% band)", tol=2e-3, rel=0)
    close(m["overshoot"], 0.0, "overshoot of a first-order plant", tol=1e-9)


@pytest.mark.task("2.2")
@pytest.mark.parametrize("zeta", [0.2, 0.5, 0.7])
def test_second_order_overshoot(plant_mod, zeta):
    """Second order: is the overshoot 100 exp(-zeta pi / sqrt(1 - zeta^2)) percent?"""
    t, y = plant_mod.step_response(plant_mod.SecondOrderPlant(3.0, zeta, 1.0, 0.001), 30000)
    expected = 100 * math.exp(-zeta * math.pi / math.sqrt(1 - zeta**2))
    close(metrics(plant_mod, t, y)["overshoot"], expected, f"overshoot at zeta = {zeta} (percent)", tol=0.02, rel=0)


@pytest.mark.task("2.2")
def test_metrics_are_relative_to_the_final_value(plant_mod):
    """Is overshoot measured against the final value (not the setpoint), and the steady-state error setpoint - final?"""
    t = [0.1 * i for i in range(50)]
    y = [min(1.0, 0.2 * i) if i < 10 else 0.8 for i in range(50)]  # peaks at 1.0, settles at 0.8
    m = metrics(plant_mod, t, y, setpoint=1.0)
    close(m["overshoot"], 25.0, "overshoot of a response peaking at 1.0 and settling at 0.8 (setpoint 1)",
          hints=[(lambda x: abs(x) < 1e-9, "measured against the setpoint: use 100 (max - final) / final")])
    close(m["steady_state_error"], 0.2, "steady-state error = setpoint - final value")
    close(m["settling_time"], 1.0, "settling time: the first sample after the last one outside the 2% band", tol=1e-9)


@pytest.mark.task("2.2")
def test_p_leaves_an_offset_and_pi_removes_it(submission):
    """In closed loop with a first-order plant, does P alone settle at kp/(1+kp) and PI at the setpoint?"""
    r = submission.driver("hw2", "closed_loop_with_pi", 4.0, 0.0, 1.0, 0.01, 2000)
    assert len(r["y"]) == len(r["t"]) == 2001, f"closed_loop over 2000 steps: expected 2001 samples, got {len(r['y'])}"
    close(r["y"][-1], 0.8, "P control (kp = 4): final output kp / (1 + kp)", tol=1e-6)
    r = submission.driver("hw2", "closed_loop_with_pi", 4.0, 4.0, 1.0, 0.01, 2000)
    close(r["y"][-1], 1.0, "PI control: final output", tol=1e-4)
