"""The course's training loops for tasks 2.3 and 2.4, run on the grading side.

The course trains; the student's LRController only chooses each step's rates. Each step the loop
applies the controller's rates to its own optimizer, steps, measures the update ratio r itself
(its sensor), and calls the controller's `update(r)` in the student's process; every rate that
comes back is checked (a list of one finite positive float per param group, within
[lr_min, lr_max]) before it is applied. Nothing the student's process reports is a verdict: the
graders judge the r this loop measured, the rates it applied, and the held-out accuracy of the
model it trained.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from grader.assertions import number, sequence

SETPOINT = -2.0  # task 2.4's target ratio (lr_control.SETPOINT in the handout)
DIGITS_KP, DIGITS_KI = 0.3, 0.1  # task 2.4's PID gains
DIGITS_BOUNDS = (1e-6, 10.0)  # task 2.4's lr_min, lr_max
STEPS = 300


@contextlib.contextmanager
def _torch_alone(seed: int):
    """Seeded, single-threaded torch that leaves the grading process's own RNG and threads as they were."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield torch
    finally:
        torch.set_num_threads(threads)


def _sensor(before: list, after: list) -> float:
    """The loop's measurement of a step: log10 of how far the weights moved relative to their size."""
    moved = math.sqrt(sum(float(((a - b) ** 2).sum()) for a, b in zip(after, before)))
    size = math.sqrt(sum(float((b**2).sum()) for b in before))
    if not math.isfinite(moved) or not math.isfinite(size):
        return math.nan
    return -math.inf if moved == 0 else math.log10(moved / size)


class _Optimizer:
    """The course's own plain SGD (p <- p - lr g, as torch.optim.SGD without momentum computes it) or
    Adam (torch.optim.Adam's update, betas 0.9 and 0.999, eps 1e-8), over param groups {"params", "lr"}.
    (torch.optim's constructors import torch._dynamo, seconds of start-up the grading side can skip.)"""

    def __init__(self, torch, groups: list[dict], kind: str = "SGD"):
        self.torch, self.kind, self.t = torch, kind, 0
        self.param_groups = [{"params": list(g["params"]), "lr": g["lr"]} for g in groups]
        self.state = {id(p): (torch.zeros_like(p), torch.zeros_like(p)) for g in self.param_groups for p in g["params"]}

    def zero_grad(self) -> None:
        for group in self.param_groups:
            for weight in group["params"]:
                weight.grad = None

    def step(self) -> None:
        self.t += 1
        with self.torch.no_grad():
            for group in self.param_groups:
                for weight in group["params"]:
                    if weight.grad is None:
                        continue
                    if self.kind == "SGD":
                        weight.add_(weight.grad, alpha=-group["lr"])
                        continue
                    m, v = self.state[id(weight)]
                    m.lerp_(weight.grad, 0.1)
                    v.mul_(0.999).addcmul_(weight.grad, weight.grad, value=0.001)
                    denom = (v.sqrt() / math.sqrt(1 - 0.999**self.t)).add_(1e-8)
                    weight.addcdiv_(m, denom, value=-group["lr"] / (1 - 0.9**self.t))


def checked_rates(value, what: str, groups: int, lr_min: float, lr_max: float) -> list[float]:
    """The controller's rates, if they are a list of `groups` finite positive floats in [lr_min, lr_max]."""
    rates = sequence(value, what, length=groups, of=(int, float))
    for g, lr in enumerate(rates):
        lr = number(lr, f"{what}, group {g}")
        if not (math.isfinite(lr) and lr > 0):
            raise AssertionError(f"{what}, group {g}: {lr!r} is not a finite positive learning rate")
        if not lr_min * (1 - 1e-12) <= lr <= lr_max * (1 + 1e-12):
            raise AssertionError(f"{what}, group {g}: {lr:.6g} is outside [lr_min, lr_max] = [{lr_min:g}, {lr_max:g}]")
    return [float(lr) for lr in rates]


def _run(torch, controller, model, optimizer, next_loss, steps: int, lr_min: float, lr_max: float, blow_up=None) -> dict:
    """`steps` steps of the course's loop around the student's controller: per step the rates it
    ran with (one list per group) and the r it produced."""
    groups = len(optimizer.param_groups)
    rates = checked_rates(controller.rates, "LRController.rates before the first step", groups, lr_min, lr_max)
    ran: list[list[float]] = [[] for _ in range(groups)]
    signal: list[float] = []
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for step in range(steps):
        loss = next_loss()
        optimizer.zero_grad()
        loss.backward()
        if blow_up is not None and step == blow_up[0]:
            blow_up[1]()
        for group, lr, record in zip(optimizer.param_groups, rates, ran):
            group["lr"] = lr
            record.append(lr)
        before = [p.detach().clone() for p in params]
        optimizer.step()
        signal.append(_sensor(before, [p.detach() for p in params]))
        rates = checked_rates(controller.update(signal[-1]), f"LRController.update(r) after step {step}", groups, lr_min, lr_max)
    return {"rates": ran, "signal": signal}


def track(submission, controller_args: dict, lrs: list, steps: int, seed: int = 0, optimizer: str = "SGD") -> dict:
    """The student's LRController around the graders' PI (kp, ki, setpoint in `controller_args`),
    on a small MLP fitting random data under plain SGD or Adam with two param groups starting
    at `lrs`. Returns the rates each step ran with per group ("rates"), and each step's r ("signal")."""
    pi = submission.driver("GraderPI", controller_args["kp"], controller_args["ki"], controller_args["setpoint"])
    lr_min, lr_max = controller_args["lr_min"], controller_args["lr_max"]
    controller = submission.module("lr_control").LRController(pi, list(lrs), lr_min=lr_min, lr_max=lr_max)
    with _torch_alone(seed) as torch:
        x = torch.randn(256, 16)
        y = torch.sin(x @ torch.randn(16, 1))
        model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
        groups = [{"params": model[0].parameters(), "lr": lrs[0]}, {"params": model[2].parameters(), "lr": lrs[1]}]
        opt = _Optimizer(torch, groups, optimizer)

        def next_loss():
            batch = torch.randint(0, 256, (32,))
            return torch.nn.functional.mse_loss(model(x[batch]), y[batch])

        return _run(torch, controller, model, opt, next_loss, steps, lr_min, lr_max)


def train_digits(x_train, y_train, x_eval, lr: float, seed: int, controller=None, steps: int = STEPS) -> dict:
    """The course's digits run: a 64-64-10 ReLU MLP, plain SGD, batch 64, `steps` steps from rate
    `lr`, seeded by `seed` (initial weights and batches); the rate fixed (controller None) or chosen
    each step by `controller` (the student's, in their process). Returns the predicted labels of
    x_eval ("predictions"), the rate each step ran with ("lr") and each step's r ("signal")."""
    with _torch_alone(seed) as torch:
        x = torch.as_tensor(np.asarray(x_train), dtype=torch.float32)
        y = torch.as_tensor(np.asarray(y_train), dtype=torch.long)
        model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
        opt = _Optimizer(torch, [{"params": model.parameters(), "lr": lr}])
        generator = torch.Generator().manual_seed(seed)

        def next_loss():
            batch = torch.randint(len(x), (64,), generator=generator)
            return torch.nn.functional.cross_entropy(model(x[batch]), y[batch])

        if controller is None:
            fixed = type("Fixed", (), {"rates": [lr], "update": lambda self, r: [lr]})()
            run = _run(torch, fixed, model, opt, next_loss, steps, lr, lr)
        else:
            run = _run(torch, controller, model, opt, next_loss, steps, *DIGITS_BOUNDS)
        with torch.no_grad():
            predictions = model(torch.as_tensor(np.asarray(x_eval), dtype=torch.float32)).argmax(dim=1).numpy()
    return {"predictions": predictions, "lr": run["rates"][0], "signal": run["signal"]}


def sanitized(r: float, setpoint: float) -> float:
    """What the controller hands its PID for a measured r: setpoint + 10 for +inf or NaN, setpoint - 10 for -inf."""
    if math.isfinite(r):
        return r
    return setpoint + 10.0 if r > 0 or math.isnan(r) else setpoint - 10.0
