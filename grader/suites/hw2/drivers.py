"""Drivers for hw2: loops that run beside the student's code in the worker.

They return trajectories and histories; the grading side judges them against values the worker
never sees (reference outputs, held-out labels).
"""

from __future__ import annotations

import importlib
import math


def pid_calls(args: list, kwargs: dict, measurements: list) -> list:
    """PID(*args, **kwargs).update(y) for each y; per call {"u": output} or {"error": exception type}."""
    pid = importlib.import_module("pid").PID(*args, **kwargs)
    out = []
    for y in measurements:
        try:
            out.append({"u": float(pid.update(y))})
        except NotImplementedError:
            raise
        except Exception as exc:
            out.append({"error": type(exc).__name__})
    return out


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
    """A plain PI controller (no limits, no derivative), so tasks 2.2 and 2.3 are graded apart from
    2.1. It keeps what it was given and what it answered, and refuses a non-finite measurement as
    the student's PID must."""

    def __init__(self, kp: float, ki: float, setpoint: float, dt: float = 1.0):
        self.kp, self.ki, self.setpoint, self.dt, self.integral = kp, ki, setpoint, dt, 0.0
        self.inputs: list[float] = []
        self.outputs: list[float] = []

    def update(self, measurement: float) -> float:
        self.inputs.append(float(measurement))
        if not math.isfinite(measurement):
            raise ValueError(f"ReferencePI: a measurement must be finite, not {measurement}")
        error = self.setpoint - measurement
        self.integral += self.ki * error * self.dt
        self.outputs.append(self.kp * error + self.integral)
        return self.outputs[-1]


def closed_loop_with_pi(kp: float, ki: float, tau: float, dt: float, steps: int) -> dict:
    """The student's closed_loop and FirstOrderPlant under a ReferencePI with setpoint 1; also what
    the controller was given ("pi_in") and answered ("pi_out"), and what the plant was given
    ("plant_in") and answered ("plant_out"), call by call."""
    plant = importlib.import_module("plant")

    class RecordedPlant(plant.FirstOrderPlant):
        def step(self, u):
            self.inputs.append(float(u))
            y = super().step(u)
            self.outputs.append(float(y))
            return y

    pi, sys = ReferencePI(kp, ki, 1.0, dt), RecordedPlant(tau, 1.0, dt)
    sys.inputs, sys.outputs = [], []
    r = plant.closed_loop(pi, sys, steps)
    out = {key: [float(v) for v in r[key]] for key in ("t", "y", "u")}
    return {**out, "pi_in": pi.inputs, "pi_out": pi.outputs, "plant_in": sys.inputs, "plant_out": sys.outputs}


def update_ratio_of(before: list, after: list):
    """The student's update_ratio on float32 tensors made from these arrays (so the grading side
    needs no torch); returns what it returned."""
    import numpy as np
    import torch

    lr_control = importlib.import_module("lr_control")
    tensors = [[torch.as_tensor(np.asarray(a, dtype=np.float32)) for a in arrays] for arrays in (before, after)]
    return lr_control.update_ratio(*tensors)


def track_update_ratio(setpoint: float, lrs: list, steps: int, lr_min: float, lr_max: float, seed: int = 0,
                       optimizer: str = "SGD", blow_up_at: int | None = None) -> dict:
    """The student's LRController with a ReferencePI, on a small MLP fitting random data, under
    torch.optim.SGD or Adam. Two param groups start at the rates in `lrs`; returns the rates each
    step ran with, per group, the controller's history, and what the ReferencePI was given. With
    `blow_up_at`, that step's gradient holds an inf, so the weights stop being finite."""
    import torch

    lr_control = importlib.import_module("lr_control")
    torch.manual_seed(seed)
    x = torch.randn(256, 16)
    y = torch.sin(x @ torch.randn(16, 1))
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    groups = [{"params": model[0].parameters(), "lr": lrs[0]}, {"params": model[2].parameters(), "lr": lrs[1]}]
    opt = {"SGD": torch.optim.SGD, "Adam": torch.optim.Adam}[optimizer](groups, lr=lrs[0])
    pi = ReferencePI(0.3, 0.1, setpoint)
    ctrl = lr_control.LRController(opt, pi, lr_min=lr_min, lr_max=lr_max)
    rates, error = [[], []], ""
    try:
        for step in range(steps):
            batch = torch.randint(0, 256, (32,))
            loss = torch.nn.functional.mse_loss(model(x[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            if step == blow_up_at:
                model[2].bias.grad.fill_(math.inf)
            rates[0].append(float(opt.param_groups[0]["lr"]))
            rates[1].append(float(opt.param_groups[1]["lr"]))
            ctrl.step()
    except Exception as exc:  # the rates so far still tell the grader what went wrong
        error = f"{type(exc).__name__}: {exc}"
    history = getattr(ctrl, "history", {})
    return {"lr0": rates[0], "lr1": rates[1], "signal": [float(s) for s in history.get("signal", [])],
            "history_lr": [float(v) for v in history.get("lr", [])], "pi_in": pi.inputs, "error": error}


def experiment(x_train, y_train, x_eval, runs: list, steps: int) -> list:
    """The student's train_digits for each (lr, controlled, seed) in `runs`; predictions and histories."""
    import numpy as np

    lr_control = importlib.import_module("lr_control")
    out = []
    for lr, controlled, seed in runs:
        r = lr_control.train_digits(np.asarray(x_train), np.asarray(y_train), np.asarray(x_eval), lr, steps=steps,
                                    controlled=controlled, seed=seed)
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
