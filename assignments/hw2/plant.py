"""hw2, part 2: plants to control, closed-loop simulation, and step-response metrics.

Plants hold the input constant over each sample (zero-order hold):

    first order   tau y' + y = K u             exactly: y[n+1] = a y[n] + (1 - a) K u[n],  a = exp(-dt / tau)
    second order  y'' + 2 zeta wn y' + wn^2 y = K wn^2 u     one classical Runge-Kutta (RK4) step per sample

Step metrics follow the python-control conventions (control.step_info), with y_final = y[-1]:

    rise time      t(90% of y_final) - t(10% of y_final), first crossings, linear interpolation
    settling time  the time after which |y - y_final| <= 2% |y_final| for good
    overshoot      100 * (max(y) - y_final) / |y_final|, in percent of the FINAL value, 0 if none
    steady-state error   setpoint - y_final
"""

from __future__ import annotations

import math

import numpy as np


class FirstOrderPlant:
    """Task 2.2. tau y' + y = gain u, sampled every dt seconds with the input held constant."""

    def __init__(self, tau: float, gain: float = 1.0, dt: float = 0.01, y0: float = 0.0):
        self.tau, self.gain, self.dt, self.y = tau, gain, dt, y0

    def step(self, u: float) -> float:
        """Advance one sample with input u; return the new output y."""
        raise NotImplementedError("Task 2.2: step is not implemented yet")


class SecondOrderPlant:
    """Task 2.2. y'' + 2 zeta wn y' + wn^2 y = gain wn^2 u, one RK4 step of dt per sample."""

    def __init__(self, wn: float, zeta: float, gain: float = 1.0, dt: float = 0.01, y0: float = 0.0):
        self.wn, self.zeta, self.gain, self.dt = wn, zeta, gain, dt
        self.y, self.v = y0, 0.0  # position and velocity

    def step(self, u: float) -> float:
        """Advance one sample with input u; return the new output y."""
        raise NotImplementedError("Task 2.2: step is not implemented yet")


def step_response(plant, steps: int, u: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Open loop: hold input u for `steps` samples from t = 0. Returns (t, y), y[0] the initial output."""
    raise NotImplementedError("Task 2.2: step_response is not implemented yet")


def closed_loop(pid, plant, steps: int) -> dict:
    """Closed loop: each sample, u = pid.update(y), then y = plant.step(u).

    Returns {"t": times, "y": outputs, "u": inputs} as arrays of length steps + 1 (u[-1] repeats u[-2]).
    """
    raise NotImplementedError("Task 2.2: closed_loop is not implemented yet")


def step_metrics(t, y, setpoint: float = 1.0) -> dict:
    """Task 2.2. Rise time, settling time, overshoot (%) and steady-state error of a step response.

    Returns {"rise_time", "settling_time", "overshoot", "steady_state_error"} (see the module docstring;
    y_final = y[-1]). Raises ValueError if y_final is 0 or t and y differ in length.
    """
    raise NotImplementedError("Task 2.2: step_metrics is not implemented yet")
