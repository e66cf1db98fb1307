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
        ### BEGIN SOLUTION 2.2
        a = math.exp(-self.dt / self.tau)
        self.y = a * self.y + (1 - a) * self.gain * u
        return self.y
        ### END SOLUTION


class SecondOrderPlant:
    """Task 2.2. y'' + 2 zeta wn y' + wn^2 y = gain wn^2 u, one RK4 step of dt per sample."""

    def __init__(self, wn: float, zeta: float, gain: float = 1.0, dt: float = 0.01, y0: float = 0.0):
        self.wn, self.zeta, self.gain, self.dt = wn, zeta, gain, dt
        self.y, self.v = y0, 0.0  # position and velocity

    def step(self, u: float) -> float:
        """Advance one sample with input u; return the new output y."""
        ### BEGIN SOLUTION 2.2
        def f(y, v):
            return v, self.gain * self.wn**2 * u - 2 * self.zeta * self.wn * v - self.wn**2 * y

        h = self.dt
        k1 = f(self.y, self.v)
        k2 = f(self.y + h / 2 * k1[0], self.v + h / 2 * k1[1])
        k3 = f(self.y + h / 2 * k2[0], self.v + h / 2 * k2[1])
        k4 = f(self.y + h * k3[0], self.v + h * k3[1])
        self.y += h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        self.v += h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        return self.y
        ### END SOLUTION


def step_response(plant, steps: int, u: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Open loop: hold input u for `steps` samples from t = 0. Returns (t, y), y[0] the initial output."""
    ### BEGIN SOLUTION 2.2
    y = [plant.y] + [plant.step(u) for _ in range(steps)]
    return np.arange(steps + 1) * plant.dt, np.asarray(y)
    ### END SOLUTION


def closed_loop(pid, plant, steps: int) -> dict:
    """Closed loop: each sample, u = pid.update(y), then y = plant.step(u).

    Returns {"t": times, "y": outputs, "u": inputs} as arrays of length steps + 1 (u[-1] repeats u[-2]).
    """
    ### BEGIN SOLUTION 2.2
    ys, us = [plant.y], []
    for _ in range(steps):
        us.append(pid.update(ys[-1]))
        ys.append(plant.step(us[-1]))
    us.append(us[-1] if us else 0.0)
    return {"t": np.arange(steps + 1) * plant.dt, "y": np.asarray(ys), "u": np.asarray(us)}
    ### END SOLUTION


def step_metrics(t, y, setpoint: float = 1.0) -> dict:
    """Task 2.2. Rise time, settling time, overshoot (%) and steady-state error of a step response.

    Returns {"rise_time", "settling_time", "overshoot", "steady_state_error"} (see the module docstring;
    y_final = y[-1]). Raises ValueError if y_final is 0 or t and y differ in length.
    """
    ### BEGIN SOLUTION 2.2
    t, y = np.asarray(t, float), np.asarray(y, float)
    if t.shape != y.shape or t.ndim != 1:
        raise ValueError("t and y must be 1-D and of the same length")
    final = y[-1]
    if final == 0:
        raise ValueError("the final value is 0: metrics relative to it are undefined")
    s = y / final  # normalised so the response heads for 1

    def crossing(level: float) -> float:
        i = int(np.argmax(s >= level))
        if s[i] < level:
            return math.nan
        if i == 0:
            return float(t[0])
        return float(t[i - 1] + (level - s[i - 1]) * (t[i] - t[i - 1]) / (s[i] - s[i - 1]))

    outside = np.flatnonzero(np.abs(y - final) > 0.02 * abs(final))
    settling = float(t[0]) if outside.size == 0 else float(t[min(outside[-1] + 1, len(t) - 1)])
    return {
        "rise_time": crossing(0.9) - crossing(0.1),
        "settling_time": settling,
        "overshoot": max(0.0, 100.0 * (float(s.max()) - 1.0)),
        "steady_state_error": float(setpoint - final),
    }
    ### END SOLUTION
