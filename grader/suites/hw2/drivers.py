"""Drivers for hw2: loops that run beside the student's code in the worker.

They return trajectories and histories; the grading side judges them against values the worker
never sees (reference outputs, held-out labels).
"""

from __future__ import annotations

import importlib
import math


def script_pid(params: dict, measurements: list, setpoints: dict | None = None) -> dict:
    """Feed measurements to the student's PID; `setpoints` maps a step index to a new setpoint."""
    pid = importlib.import_module("pid").PID(**params)
    outputs, integrals = [], []
    for i, y in enumerate(measurements):
        if setpoints and str(i) in setpoints:
            pid.setpoint = setpoints[str(i)]
        outputs.append(float(pid.update(y)))
        integrals.append(float(getattr(pid, "integral", math.nan)))
    return {"u": outputs, "integral": integrals}


class ReferencePI:
    """A plain PI controller (no limits, no derivative), so tasks 2.2 and 2.3 are graded apart from 2.1."""

    def __init__(self, kp: float, ki: float, setpoint: float, dt: float = 1.0):
        self.kp, self.ki, self.setpoint, self.dt, self.integral = kp, ki, setpoint, dt, 0.0

    def update(self, measurement: float) -> float:
        error = self.setpoint - measurement
        self.integral += self.ki * error * self.dt
        return self.kp * error + self.integral


def closed_loop_with_pi(kp: float, ki: float, tau: float, dt: float, steps: int) -> dict:
    """The student's closed_loop and FirstOrderPlant under a ReferencePI with setpoint 1."""
    plant = importlib.import_module("plant")
    r = plant.closed_loop(ReferencePI(kp, ki, 1.0, dt), plant.FirstOrderPlant(tau, 1.0, dt), steps)
    return {key: [float(v) for v in r[key]] for key in ("t", "y", "u")}


def track_update_ratio(setpoint: float, lrs: list, steps: int, lr_min: float, lr_max: float, seed: int = 0,
                       optimizer: str = "SGD") -> dict:
    """The student's LRController with a ReferencePI, on a small MLP fitting random data, under
    torch.optim.SGD or Adam. Two param groups start at the rates in `lrs`; returns the rates per
    group and the signal."""
    import torch

    lr_control = importlib.import_module("lr_control")
    torch.manual_seed(seed)
    x = torch.randn(256, 16)
    y = torch.sin(x @ torch.randn(16, 1))
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    groups = [{"params": model[0].parameters(), "lr": lrs[0]}, {"params": model[2].parameters(), "lr": lrs[1]}]
    opt = {"SGD": torch.optim.SGD, "Adam": torch.optim.Adam}[optimizer](groups, lr=lrs[0])
    ctrl = lr_control.LRController(opt, ReferencePI(0.3, 0.1, setpoint), lr_min=lr_min, lr_max=lr_max)
    rates, error = [[], []], ""
    try:
        for _ in range(steps):
            batch = torch.randint(0, 256, (32,))
            loss = torch.nn.functional.mse_loss(model(x[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            rates[0].append(float(opt.param_groups[0]["lr"]))
            rates[1].append(float(opt.param_groups[1]["lr"]))
            ctrl.step()
    except Exception as exc:  # the rates so far still tell the grader what went wrong
        error = f"{type(exc).__name__}: {exc}"
    history = getattr(ctrl, "history", {})
    return {"lr0": rates[0], "lr1": rates[1], "signal": [float(s) for s in history.get("signal", [])],
            "history_lr": [float(v) for v in history.get("lr", [])], "error": error}


def experiment(x_train, y_train, x_eval, runs: list, steps: int) -> list:
    """The student's train_digits for each (lr, controlled) in `runs`; predictions and histories."""
    import numpy as np

    lr_control = importlib.import_module("lr_control")
    out = []
    for lr, controlled in runs:
        r = lr_control.train_digits(np.asarray(x_train), np.asarray(y_train), np.asarray(x_eval), lr, steps=steps, controlled=controlled)
        out.append({
            "predictions": np.asarray(r["predictions"]).astype(np.int64),
            "lr": [float(v) for v in r["lr"]],
            "loss": [float(v) for v in r["loss"]],
            "signal": [float(v) for v in r["signal"]],
        })
    return out


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
