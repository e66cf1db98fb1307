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
def test_first_order_plant_is_exact_under_a_held_input(plant_mod):
    """Is y[n+1] = a y[n] + (1 - a) K u[n], a = exp(-dt / tau), exactly, whatever the step dt?"""
    tau, gain, dt = 0.5, 2.0, 0.1
    plant, a = plant_mod.FirstOrderPlant(tau, gain, dt), math.exp(-dt / tau)
    y = 0.0
    for n, u in enumerate([1.0, 1.0, -0.5]):
        euler = y + dt / tau * (gain * u - y)
        y = a * y + (1 - a) * gain * u
        close(plant.step(u), y, f"FirstOrderPlant(tau={tau}, gain={gain}, dt={dt}): y after step {n + 1}",
              hints=[(lambda x, euler=euler: math.isclose(x, euler), "that is a forward Euler step, which is not exact: "
                      "with the input held, y[n+1] = a y[n] + (1 - a) K u[n], a = exp(-dt / tau)")])


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
    close(m["steady_state_error"], 0.2, "steady-state error = setpoint - final value",
          hints=[(lambda x: math.isclose(x, -0.2), "the sign is reversed: setpoint - final value, positive when the output ends low")])
    close(m["settling_time"], 1.0, "settling time: the first sample after the last one outside the 2% band", tol=1e-9,
          hints=[(lambda x: math.isclose(x, 0.4), "that is the first entry into the band; settling is for good, after the last exit")])


@pytest.mark.task("2.2")
def test_rise_time_interpolates_between_samples(plant_mod):
    """On a coarsely sampled response, is the rise time taken between linearly interpolated 10% and 90% crossings?"""
    t, y = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [0.0, 0.3, 0.6, 0.9, 1.0, 1.0]
    close(metrics(plant_mod, t, y)["rise_time"], 3.0 - 1.0 / 3.0, "rise time of y = 0, 0.3, 0.6, 0.9, 1, 1 at t = 0..5",
          hints=[(lambda x: math.isclose(x, 2.0), "the crossings are taken at samples: interpolate linearly between "
                  "the two samples around each crossing")])


def agree(u: float, v: float) -> bool:
    return abs(u - v) <= 1e-9 + 1e-9 * abs(v)  # the handout's tolerance for float64 values


def same(a, b) -> bool:
    return len(a) == len(b) and all(agree(u, v) for u, v in zip(a, b))


@pytest.mark.task("2.2")
def test_closed_loop_applies_each_input_in_its_own_step(submission):
    """Each step n, does the PID get y[n], and does the plant get that same step's u[n] (no lag, no shift)?"""
    steps = 30
    r = submission.driver("hw2", "closed_loop_with_pi", 2.0, 1.0, 0.5, 0.1, steps)
    y, u, pi_in, pi_out, plant_in = r["y"], r["u"], r["pi_in"], r["pi_out"], r["plant_in"]
    order = "each step n: u[n] = pid.update(y[n]), then y[n+1] = plant.step(u[n])"
    assert len(y) == len(u) == len(r["t"]) == steps + 1, f"closed_loop over {steps} steps: t, y and u need {steps + 1} samples"
    assert len(pi_in) == len(plant_in) == steps, (
        f"over {steps} steps pid.update was called {len(pi_in)} times and plant.step {len(plant_in)} times; {order}")
    if not same(pi_in, y[:-1]):
        n = next(i for i, (a, b) in enumerate(zip(pi_in, y)) if not agree(a, b))
        shifted = " (y[n + 1]: the time index is off by one)" if same(pi_in, y[1:]) else ""
        raise AssertionError(f"at step {n} the PID was given {pi_in[n]:.6g}, not y[{n}] = {y[n]:.6g}{shifted}; {order}")
    if not same(plant_in, pi_out):
        if same(plant_in[1:], pi_out[:-1]):
            raise AssertionError("the control input lags one step behind: at step n the plant got the PID's output from "
                                 f"step n - 1 (time index off by one); {order}")
        n = next(i for i, (a, b) in enumerate(zip(plant_in, pi_out)) if not agree(a, b))
        raise AssertionError(f"at step {n} the plant got u = {plant_in[n]:.6g}, but the PID answered {pi_out[n]:.6g}; {order}")
    if not same(y[1:], r["plant_out"]):
        raise AssertionError("y[n+1] must be what plant.step(u[n]) returned at step n")
    if not same(u[:-1], plant_in) or u[-1] != u[-2]:
        shifted = " (shifted by one step: off by one)" if same(u[1:], plant_in) or same(u[:-2], plant_in[1:]) else ""
        raise AssertionError(f"u[n] must be the input the plant got at step n, and u[-1] repeat u[-2]{shifted}")


@pytest.mark.task("2.2")
def test_p_leaves_an_offset_and_pi_removes_it(submission):
    """In closed loop with a first-order plant, does P alone settle at kp/(1+kp) and PI at the setpoint?"""
    r = submission.driver("hw2", "closed_loop_with_pi", 4.0, 0.0, 1.0, 0.01, 2000)
    assert len(r["y"]) == len(r["t"]) == 2001, f"closed_loop over 2000 steps: expected 2001 samples, got {len(r['y'])}"
    close(r["y"][-1], 0.8, "P control (kp = 4): final output kp / (1 + kp)", tol=1e-6)
    r = submission.driver("hw2", "closed_loop_with_pi", 4.0, 4.0, 1.0, 0.01, 2000)
    close(r["y"][-1], 1.0, "PI control: final output", tol=1e-4)
