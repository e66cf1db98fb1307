"""hw2, part 1: a discrete PID controller.

Each call to `update(y)` takes one measurement y of the process and returns the control u:

    e      = setpoint - y                                  error (positive: the output is too low)
    P      = kp * e
    d_raw  = -(y - y_prev) / dt                            derivative on measurement (0 on the first call)
    d      = a * d_prev + (1 - a) * d_raw,  a = tau / (tau + dt)   low-pass filter (a = 0 when tau is None)
    D      = kd * d
    I_try  = I + ki * e * dt                               integral, in output units
    u_try  = P + I_try + D
    I      = I if u_try is beyond a limit and e pushes further beyond it, else I_try   (clamping)
    u      = clip(P + I + D, u_min, u_max)

A measurement that is not a finite number (NaN, +-inf) raises ValueError and changes nothing.

Derivative on measurement: a setpoint change moves e but not y, so it gives no derivative kick.
Clamping (conditional integration): while the output saturates, the integral stops growing in the
direction that saturates it, so it does not wind up and the output leaves saturation promptly.
"""

from __future__ import annotations

import math


class PID:
    """Task 2.1. A discrete PID controller with output limits, clamping anti-windup, derivative on
    measurement and an optional first-order filter (time constant `tau`) on the derivative.

    Gains are non-negative. `setpoint` may be changed between updates. The attribute `integral`
    holds the I term (in output units) and is read by the graders.
    """

    def __init__(
        self,
        kp: float,
        ki: float = 0.0,
        kd: float = 0.0,
        setpoint: float = 0.0,
        dt: float = 1.0,
        output_limits: tuple[float | None, float | None] = (None, None),
        tau: float | None = None,
    ):
        raise NotImplementedError("Task 2.1: __init__ is not implemented yet")

    def reset(self) -> None:
        """Forget the past: integral 0, no previous measurement, filtered derivative 0."""
        raise NotImplementedError("Task 2.1: reset is not implemented yet")

    def update(self, measurement: float) -> float:
        """One control step: the output u for this measurement (see the module docstring).

        Raises ValueError, and keeps its state, if the measurement is not finite.
        """
        # HINT: keep the integral as a sum of ki * e * dt, so changing ki later does not jump the output.
        raise NotImplementedError("Task 2.1: update is not implemented yet")
