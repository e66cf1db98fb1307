"""Drivers for hw2, loaded into the student's process. They hold no verdicts and no expected values.

`GraderPI` is the plain PI controller that tasks 2.2 and 2.3 hand to the student's closed loop and
LRController, so those tasks are graded apart from the student's PID (2.1); the grading side
computes what it must answer on its own. `assign` sets an attribute of a student object (a PID's
setpoint between updates). `saturated_loop` draws a figure of `course plot hw2` and grades nothing.
"""

from __future__ import annotations

import importlib
import math


class GraderPI:
    """A plain PI controller, u = kp e + ki sum(e dt), e = setpoint - y: no limits, no derivative.
    It refuses a non-finite measurement, as the student's PID must."""

    def __init__(self, kp: float, ki: float, setpoint: float, dt: float = 1.0):
        self.kp, self.ki, self.setpoint, self.dt, self.integral = kp, ki, setpoint, dt, 0.0

    def update(self, measurement: float) -> float:
        if not math.isfinite(measurement):
            raise ValueError(f"GraderPI: a measurement must be finite, not {measurement}")
        error = self.setpoint - measurement
        self.integral += self.ki * error * self.dt
        return self.kp * error + self.integral


def assign(obj, name: str, value) -> None:
    """setattr(obj, name, value), for the grading side, which can only call."""
    setattr(obj, name, value)


def saturated_loop(params: dict, plant_args: list, u_limit: float, steps: int, pid_knows_limits: bool) -> dict:
    """The student's PID and SecondOrderPlant with an actuator clipped to +-u_limit; with
    `pid_knows_limits` the PID gets the limits (and can clamp), else they act outside it."""
    pid_mod, plant = importlib.import_module("pid"), importlib.import_module("plant")
    limits = [-u_limit, u_limit] if pid_knows_limits else [None, None]
    pid = pid_mod.PID(**params, output_limits=limits)
    sys = plant.SecondOrderPlant(*plant_args)
    ys, us = [sys.y], []
    for _ in range(steps):
        us.append(min(u_limit, max(-u_limit, pid.update(ys[-1]))))
        ys.append(sys.step(us[-1]))
    return {"t": [i * sys.dt for i in range(steps + 1)], "y": ys}
