"""Public tests for hw2 part 2 (plant.py): task 2.2."""

import math

import numpy as np
import pytest

from grader.assertions import close, mapping, number, sequence
from grader.worker.drivers.hw2 import GraderPI


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
        close(
            plant.step(u),
            y,
            f"FirstOrderPlant(tau={tau}, gain={gain}, dt={dt}): y after step {n + 1}",
            hints=[
                (
                    lambda x, euler=euler: math.isclose(x, euler),
                    "that is a forward Euler step, which is not exact: "
                    "with the input held, y[n+1] = a y[n] + (1 - a) K u[n], a = exp(-dt / tau)",
                )
            ],
        )


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
    close(
        m["overshoot"],
        25.0,
        "overshoot of a response peaking at 1.0 and settling at 0.8 (setpoint 1)",
        hints=[(lambda x: abs(x) < 1e-9, "measured against the setpoint: use 100 (max - final) / final")],
    )
    close(
        m["steady_state_error"],
        0.2,
        "steady-state error = setpoint - final value",
        hints=[
            (lambda x: math.isclose(x, -0.2), "the sign is reversed: setpoint - final value, positive when the output ends low")
        ],
    )
    close(
        m["settling_time"],
        1.0,
        "settling time: the first sample after the last one outside the 2% band",
        tol=1e-9,
        hints=[
            (lambda x: math.isclose(x, 0.4), "that is the first entry into the band; settling is for good, after the last exit")
        ],
    )


@pytest.mark.task("2.2")
def test_rise_time_interpolates_between_samples(plant_mod):
    """On a coarsely sampled response, is the rise time taken between linearly interpolated 10% and 90% crossings?"""
    t, y = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [0.0, 0.3, 0.6, 0.9, 1.0, 1.0]
    close(
        metrics(plant_mod, t, y)["rise_time"],
        3.0 - 1.0 / 3.0,
        "rise time of y = 0, 0.3, 0.6, 0.9, 1, 1 at t = 0..5",
        hints=[
            (
                lambda x: math.isclose(x, 2.0),
                "the crossings are taken at samples: interpolate linearly between the two samples around each crossing",
            )
        ],
    )


def agree(u: float, v: float) -> bool:
    return abs(u - v) <= 1e-9 + 1e-9 * abs(v)  # the handout's tolerance for float64 values


def same(a, b) -> bool:
    return len(a) == len(b) and all(agree(u, v) for u, v in zip(a, b))


def samples(value, what: str, length: int) -> list[float]:
    """A 1-D array or list of `length` real numbers, as floats."""
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or value.dtype.kind not in "iuf":
            raise AssertionError(f"{what}: expected a 1-D array of numbers, got shape {value.shape} of {value.dtype}")
        value = value.tolist()
    return [float(v) for v in sequence(value, what, length=length, of=(int, float))]


def closed_loop_with_pi(submission, kp: float, ki: float, tau: float, dt: float, steps: int) -> dict:
    """The student's closed_loop around the graders' PI (setpoint 1) and the student's FirstOrderPlant:
    t, y and u as lists of steps + 1 floats."""
    plant_mod = submission.module("plant")
    pi = submission.driver("GraderPI", kp, ki, 1.0, dt)
    r = mapping(plant_mod.closed_loop(pi, plant_mod.FirstOrderPlant(tau, 1.0, dt), steps), "closed_loop")
    return {key: samples(r.get(key), f"closed_loop(...)[{key!r}] over {steps} steps", steps + 1) for key in ("t", "y", "u")}


def pi_answers(kp: float, ki: float, dt: float, measurements: list) -> list[float]:
    pi = GraderPI(kp, ki, 1.0, dt)
    return [pi.update(y) for y in measurements]


def plant_answers(submission, tau: float, dt: float, inputs: list) -> list[float]:
    """What a fresh FirstOrderPlant of the student's returns, step by step, for these inputs."""
    plant = submission.module("plant").FirstOrderPlant(tau, 1.0, dt)
    return [number(plant.step(u), f"FirstOrderPlant.step({u:.6g})") for u in inputs]


@pytest.mark.task("2.2")
def test_closed_loop_applies_each_input_in_its_own_step(submission):
    """Each step n, does the PID get y[n], and does the plant get that same step's u[n] (no lag, no shift)?"""
    steps, kp, ki, tau, dt = 30, 2.0, 1.0, 0.5, 0.1
    r = closed_loop_with_pi(submission, kp, ki, tau, dt, steps)
    y, u = r["y"], r["u"]
    order = "each step n: u[n] = pid.update(y[n]), then y[n+1] = plant.step(u[n])"
    close(y[0], 0.0, "y[0], the plant's initial output")
    answered = pi_answers(kp, ki, dt, y[:-1])
    if not same(u[:-1], answered):
        n = next(i for i, (a, b) in enumerate(zip(u, answered)) if not agree(a, b))
        shifted = " (it was handed y[n + 1]: the time index is off by one)" if same(u[:-1], pi_answers(kp, ki, dt, y[1:])) else ""
        raise AssertionError(f"u[{n}] = {u[n]:.6g}, but the PID answers {answered[n]:.6g} to y[0..{n}]{shifted}; {order}")
    if u[-1] != u[-2]:
        raise AssertionError(f"u[-1] = {u[-1]:.6g} must repeat u[-2] = {u[-2]:.6g}")
    stepped = plant_answers(submission, tau, dt, u[:-1])
    if not same(y[1:], stepped):
        if same(y[1:], plant_answers(submission, tau, dt, [0.0] + u[:-2])):
            raise AssertionError(
                "the control input lags one step behind: at step n the plant got the PID's output from "
                f"step n - 1 (time index off by one); {order}"
            )
        n = next(i for i, (a, b) in enumerate(zip(y[1:], stepped)) if not agree(a, b))
        raise AssertionError(f"y[{n + 1}] = {y[n + 1]:.6g}, but the plant answers {stepped[n]:.6g} to u[0..{n}]; {order}")


@pytest.mark.task("2.2")
def test_p_leaves_an_offset_and_pi_removes_it(submission):
    """In closed loop with a first-order plant, does P alone settle at kp/(1+kp) and PI at the setpoint?"""
    r = closed_loop_with_pi(submission, 4.0, 0.0, 1.0, 0.01, 2000)
    close(r["y"][-1], 0.8, "P control (kp = 4): final output kp / (1 + kp)", tol=1e-6)
    r = closed_loop_with_pi(submission, 4.0, 4.0, 1.0, 0.01, 2000)
    close(r["y"][-1], 1.0, "PI control: final output", tol=1e-4)
