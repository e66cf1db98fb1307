"""hw2, part 3: a PID controller that sets the learning rate, and the experiment that tests it.

The controlled signal is the update-to-weight ratio of one optimizer step, over all parameters:

    r = log10( ||w_after - w_before|| / ||w_before|| )

A healthy run of plain SGD keeps r near -3 (each step changes the weights by about 0.1%); a learning
rate 100x too small gives r near -5, one far too large gives r near -1 or above and diverges.
The controller treats training as the plant: its input is the learning rate, its output r.
It acts on the logarithm of the rate, the natural scale of a quantity that spans decades:

    u = pid.update(r)                        the PID's setpoint is the target ratio, e.g. -3
    lr = clip(lr0 * 10**u, lr_min, lr_max)   for every param group, lr0 its initial rate

lr0 is the group's rate when the controller is created (the first step runs at clip(lr0)), never
the rate of the last step: the change does not compound. A step whose r is not finite is not
handed to the PID as it is: r = +inf or NaN (the weights blew up) counts as setpoint + 10, far too
large, so the rate falls; r = -inf (nothing moved) counts as setpoint - 10.
"""

from __future__ import annotations

import math

import torch

# The target update ratio for plain SGD on this MLP. The rule of thumb r = -3 suits Adam on large
# models; here the rates that train best (0.1 to 1) give r between -2.4 and -2, so we hold -2.
SETPOINT = -2.0


def update_ratio(before: list[torch.Tensor], after: list[torch.Tensor]) -> float:
    """Task 2.3. log10(||after - before|| / ||before||), the norms taken over all tensors together.

    Returns -inf when nothing changed; raises ValueError when the weights before are all zero.
    """
    raise NotImplementedError("Task 2.3: update_ratio is not implemented yet")


class LRController:
    """Task 2.3. Steers every param group's learning rate so the update ratio tracks pid.setpoint.

    Use it in place of optimizer.step(): `controller.step()` runs the optimizer's step, measures
    r, asks the PID for u and sets lr = clip(lr0 * 10**u, lr_min, lr_max) for the next step, lr0
    each group's rate when the controller was created. The constructor clips the rates into
    [lr_min, lr_max] for the first step. `history` records, for step n, "lr"[n] (the first group's
    rate step n ran with) and "signal"[n] (the r step n produced, as handed to the PID).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, pid, lr_min: float = 1e-6, lr_max: float = 10.0):
        raise NotImplementedError("Task 2.3: __init__ is not implemented yet")

    def step(self, closure=None):
        """optimizer.step(closure), then measure r and set the next learning rates. Returns the loss."""
        raise NotImplementedError("Task 2.3: step is not implemented yet")


def train_digits(x_train, y_train, x_eval, lr: float, steps: int = 300, controlled: bool = False, seed: int = 0) -> dict:
    """Task 2.4. Train a 64-64-10 ReLU MLP with plain SGD (batch 64) on the digits.

    x_train (n, 64) float pixels scaled to [0, 1], y_train (n,) labels, x_eval (m, 64) images to
    classify. With `controlled`, an LRController around your PID (kp=0.3, ki=0.1, setpoint=SETPOINT,
    lr_min=1e-6, lr_max=10) steers the rate from `lr`; otherwise `lr` stays fixed. Seeded by `seed`
    (initial weights and batches).
    Returns {"predictions": (m,) predicted labels for x_eval, and one entry per step n in "lr" (the
    rate step n ran with), "loss" (its batch loss) and "signal" (its update ratio r)}.
    """
    raise NotImplementedError("Task 2.4: train_digits is not implemented yet")
