"""The course's loops for hw3, run on the grading side around the student's optimizer.

The student's optimizer only does its part: the grading side builds it by calling the student's
class through the seam (no driver in between), and then, step by step, computes the loss and the
gradients here, hands the gradients over (`drivers.set_grads`), calls the optimizer's own `step()`
and reads the weights back from its `param_groups` (one batch of requests, one round trip, a
step), checked for type, length, shape and dtype before anything is computed on them. Data, labels and losses never leave this process.

A reference optimizer (torch.optim, torch_optimizer, a rule written out) runs through the same
loop here, so the student's run and the reference's differ only in the optimizer.
"""

from __future__ import annotations

import random

import torch

from grader.assertions import mapping, short, tensor
from grader.worker.drivers import hw3 as drivers

SPOT_CHECKS = 8  # about one step in this many (and the first) reads the weights before step() too
_draws = random.SystemRandom()  # which steps: not knowable in advance by the student's process


class Local:
    """A reference optimizer class, run in this process."""

    spot_checks = False

    def __init__(self, cls, kwargs: dict):
        self.cls, self.kwargs = cls, kwargs

    def build(self, groups: list):
        return self.cls([{**hp, "params": [w.detach().clone() for w in ws]} for ws, hp in groups], **self.kwargs)

    def step(self, optimizer, grads: list, in_place: bool, look_before: bool) -> tuple:
        """Hand `grads` over and call step(): (None, the param_groups after it)."""
        drivers.set_grads(optimizer, grads, in_place)
        optimizer.step()
        return None, optimizer.param_groups


class Student:
    """The student's optimizer class `name` from optimizers.py, called through the seam."""

    spot_checks = True

    def __init__(self, submission, name: str, kwargs: dict):
        self.sub, self.name, self.kwargs = submission, name, kwargs

    def build(self, groups: list):
        cls = getattr(self.sub.module("optimizers"), self.name)
        return cls([{**hp, "params": [w.detach().clone() for w in ws]} for ws, hp in groups], **self.kwargs)

    def step(self, optimizer, grads: list, in_place: bool, look_before: bool) -> tuple:
        """Hand `grads` over (`drivers.set_grads`), read the param_groups if `look_before`, call
        the optimizer's own step() and read them after it, all in one round trip:
        (the param_groups before step() or None, the param_groups after it)."""
        sub = self.sub
        before = [sub.pending_attr(optimizer, "param_groups")] if look_before else []
        values = sub.batch(
            [
                sub.pending_driver("set_grads", optimizer, grads, in_place),
                *before,
                sub.pending_call(optimizer, "step"),
                sub.pending_attr(optimizer, "param_groups"),
            ],
            key=f"{self.name}.step",
        )
        return (values[1] if look_before else None), values[-1]


def weights_of(groups, what: str, shapes: list, counts: list, dtype: str) -> list:
    """The weights in an optimizer's `param_groups`, in order, after checking that there are
    len(counts) groups holding counts[i] tensors each, of these shapes and dtype."""
    if type(groups) is not list or len(groups) != len(counts):
        raise AssertionError(f"{what}: param_groups should be a list of {len(counts)} groups, got {short(groups)}")
    out = []
    for i, (group, n) in enumerate(zip(groups, counts)):
        params = mapping(group, f"{what}: param group {i}").get("params")
        if type(params) is not list or len(params) != n:
            raise AssertionError(f"{what}: param group {i} should hold {n} parameters, got {short(params)}")
        out += params
    return [tensor(w, f"{what}: parameter {i}", s, dtype).detach().clone() for i, (w, s) in enumerate(zip(out, shapes))]


def state_entries(state_dict, what: str) -> int:
    """The number of parameters with state in an optimizer's state_dict(), after checking its form."""
    state_dict = mapping(state_dict, f"{what}: state_dict()")
    state = state_dict.get("state")
    if type(state) is not dict or type(state_dict.get("param_groups")) is not list:
        raise AssertionError(
            f"{what}: state_dict() should hold a dict 'state' and a list 'param_groups', got {short(state_dict)}"
        )
    return len(state)


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool(((a == b) | (a.isnan() & b.isnan())).all())


class Loop:
    """One optimizer over param groups of given weights, driven step by step from here."""

    def __init__(self, side, groups: list, what: str, dtype: str):
        self.side, self.what, self.dtype = side, what, dtype
        self.hps = [hp for _, hp in groups]
        self.counts = [len(ws) for ws, _ in groups]
        self.shapes = [tuple(w.shape) for ws, _ in groups for w in ws]
        self.optimizer = side.build(groups)
        self.current = self.read(self.optimizer.param_groups)  # as the optimizer holds them once built
        self.steps = 0

    def read(self, groups) -> list:
        return weights_of(groups, self.what, self.shapes, self.counts, self.dtype)

    def step(self, grads: list, in_place: bool = False) -> list:
        """Hand `grads` over, call the optimizer's step(), and return the weights after it."""
        look = self.side.spot_checks and (self.steps == 0 or _draws.randrange(SPOT_CHECKS) == 0)
        before, after = self.side.step(self.optimizer, grads, in_place, look)
        if look and not all(same(a, b) for a, b in zip(self.read(before), self.current)):
            raise AssertionError(
                f"{self.what}: the weights changed before step {self.steps + 1} was called, while the "
                "gradients were handed over: only the optimizer's step() may change them"
            )
        self.steps += 1
        self.current = self.read(after)
        return self.current

    def state_entries(self) -> int:
        return state_entries(self.optimizer.state_dict(), self.what)

    def reload(self) -> None:
        """Save the optimizer's state_dict(), build a new optimizer over the current weights, and
        load it there (a checkpoint and a restart in the middle of training)."""
        saved = self.optimizer.state_dict()
        state_entries(saved, self.what)
        it = iter(self.current)
        self.optimizer = self.side.build([([next(it) for _ in range(n)], hp) for n, hp in zip(self.counts, self.hps)])
        self.optimizer.load_state_dict(saved)


# -- the experiments of task 3.5 -----------------------------------------------------------------------


def rosenbrock(xy: torch.Tensor) -> torch.Tensor:
    return (1 - xy[0]) ** 2 + 100 * (xy[1] - xy[0] ** 2) ** 2


def rosenbrock_grad(xy: torch.Tensor) -> torch.Tensor:
    """The gradient of `rosenbrock` at xy, written out (autograd's, without its cost per step):
    (-2 (1 - x) - 400 x (y - x^2), 200 (y - x^2))."""
    x, y = xy.tolist()
    return torch.tensor([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)], dtype=torch.float64)


def rosenbrock_path(side, steps: int, start=(-1.5, 2.0)) -> torch.Tensor:
    """`steps` steps of the optimizer on Rosenbrock's function from `start`: the points, (steps + 1, 2)."""
    loop = Loop(side, [([torch.tensor(start, dtype=torch.float64)], {})], "the trajectory", "float64")
    path = [loop.current[0]]
    for _ in range(steps):
        path.append(loop.step([[rosenbrock_grad(loop.current[0])]])[0])
    return torch.stack(path)


def mlp(seed: int) -> torch.nn.Sequential:
    """The 64-128-10 MLP, initialised from `seed` (without touching this process's generator)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))


def train_digits(side, x_train, y_train, batch: int, epochs: int, seed: int = 0) -> tuple[torch.nn.Module, list]:
    """The MLP trained on (x_train, y_train) with the optimizer, here: the model with the optimizer's
    final weights, and the loss of every step."""
    model = mlp(seed)
    params = list(model.parameters())
    loop = Loop(side, [([p.detach() for p in params], {})], "the MLP's optimizer", "float32")
    x, y = torch.as_tensor(x_train, dtype=torch.float32), torch.as_tensor(y_train, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch):
            with torch.no_grad():
                for p, w in zip(params, loop.current):
                    p.copy_(w)
            idx = order[i : i + batch]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            grads = torch.autograd.grad(loss, params)
            loop.step([[gr] for gr in grads])
            losses.append(loss.item())
    with torch.no_grad():
        for p, w in zip(params, loop.current):
            p.copy_(w)
    return model, losses


def predictions(model: torch.nn.Module, x) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.as_tensor(x, dtype=torch.float32)).argmax(1)
