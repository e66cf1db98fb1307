"""Task 6.1 on the grading side: the handout's schedule written out, and the training run of the
public and hidden tests, once per submission (and seed).

The run: the student's train() in the worker, on the course's own CourseGPT of the "tiny" shape (so
that it grades the loop, not gpt.py), on the first TRAIN_CHARS characters of the public text, with
the grading budget BUDGET (every step clipped: the gradients' global norm before clipping stays
above 0.26 throughout, BUDGET's clip is 0.1). What comes back is the trained state dict, the history
and, per AdamW step, what the optimizer saw (drivers: train_run); the tests score the weights here
with the course's model (model.py) and compare the rest with the formulas. Nothing the worker
computed is taken as a figure.

The bars hold for every one of 200 seeds of the reference with a margin (a seed sweep of this run:
the reference train.py, CourseGPT, seeds 0-199, one thread): bits per character on the public
text's last VALID_CHARS characters 3.93-4.30 (median 4.01), on The Tempest 3.83-4.29 (median 3.94);
both bars 4.45. A model that learned nothing codes at 6.58 (log2 96), one that learned only the
characters' frequencies at about 4.8. The gradients' global norm before clipping was at least 0.26
at every step of every seed, so BUDGET's clip of 0.1 clips every step.
"""

from __future__ import annotations

import math
import weakref

import torch

from grader.assertions import mapping, sequence, short
from grader.errors import StudentError
from grader.suites.capstone import model

TINY_MODEL = {"d_model": 32, "n_layer": 2, "n_head": 2, "context": 32}  # gpt.CONFIGS["tiny"]["model"]
BUDGET = {"steps": 150, "batch": 16, "lr": 1e-2, "min_lr": 1e-3, "warmup": 15, "weight_decay": 0.1, "clip": 0.1}
CONFIG = {"model": TINY_MODEL, "train": BUDGET}
SHAPE = {**TINY_MODEL, "vocab": 96}  # model.py's config
TRAIN_CHARS = 200_000  # the run trains on the public text's first characters ...
VALID_CHARS = 20_000  # ... and reports on its last ones (history["valid"]), every EVERY steps
EVERY = 75
VALID_BAR = 4.45
HELD_OUT_BAR = 4.45
SEED_NAME = "task 6.1: the tiny model trained"
WHAT = "train(tiny config, 150 steps, batch 16, lr 1e-2 to 1e-3, warmup 15, clip 0.1)"


def lr_at(step: int, steps: int, lr: float, min_lr: float, warmup: int) -> float:
    """The handout's schedule: lr (step + 1) / warmup while step < warmup, then
    min_lr + (lr - min_lr) (1 + cos(pi u)) / 2 with u = (step - warmup) / (steps - warmup)."""
    if step >= warmup:
        progress = (step - warmup) / (steps - warmup)
        return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))
    return (step + 1) * lr / warmup


def texts(public_text: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(training ids, valid ids) of the run, from the public text."""
    ids = model.ids_of(public_text)
    return ids[:TRAIN_CHARS], ids[-VALID_CHARS:]


class Run:
    """The training run's outputs, checked as data: state (model.py's names and shapes, finite),
    history (a dict), steps (what AdamW saw at each step)."""

    def __init__(self, out, train_ids: torch.Tensor, valid_ids: torch.Tensor):
        out = mapping(out, f"{WHAT}: the run")
        self.train_ids, self.valid_ids = train_ids, valid_ids
        if out.get("state") is None:
            raise AssertionError(f"{WHAT} returned a {out.get('returned')!s:.40}, not (the trained model, history)")
        if not out.get("built"):
            raise AssertionError(f"{WHAT} did not build its model with gpt.GPT: GPT(**config['model'])")
        self.state = model.check_state(out["state"], SHAPE, "the trained model's state dict")
        self.history = out.get("history")
        self.steps = out.get("steps")
        self._bpc: dict[str, float] = {}

    def bpc(self, name: str, ids: torch.Tensor) -> float:
        """The trained model's bits per character on `ids`, computed here (once per name)."""
        if name not in self._bpc:
            self._bpc[name] = model.bits_per_char(self.state, SHAPE, ids)
        return self._bpc[name]


_RUNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def trained(submission, seed_of, public_text: str) -> Run:
    """The run, once per submission and seed; its failure is every caller's failure."""
    seed = seed_of(SEED_NAME)
    done = _RUNS.setdefault(submission, {})
    if seed not in done:
        train_ids, valid_ids = texts(public_text)
        try:
            out = submission.driver("train_run", CONFIG, train_ids.to(torch.uint8), valid_ids.to(torch.uint8), seed, EVERY)
            done[seed] = Run(out, train_ids, valid_ids)
        except (AssertionError, StudentError) as e:
            done[seed] = e
    if isinstance(done[seed], Exception):
        raise done[seed]
    return done[seed]


def history_of(run: Run) -> dict:
    """The history, checked: loss and lr one number per step, valid a list of (step, bpc)."""
    steps = BUDGET["steps"]
    history = mapping(run.history, f"{WHAT}: the history")
    for key in ("loss", "lr", "valid"):
        if key not in history:
            raise AssertionError(f"{WHAT}: the history has no {key!r}; it holds loss, lr, valid and seconds")
    for key in ("loss", "lr"):
        values = sequence(history[key], f"{WHAT}: history[{key!r}]", of=(int, float))
        if len(values) != steps:
            raise AssertionError(f"{WHAT}: history[{key!r}] must list one number per step ({steps}), got {len(values)}")
    sequence(history["valid"], f"{WHAT}: history['valid']", max_length=1000)
    return history


def optimizer_steps(run: Run) -> list[dict]:
    """What AdamW saw, step by step, checked: one entry per step, of torch.optim.AdamW."""
    steps = [
        mapping(s, f"{WHAT}: optimizer step {i}") for i, s in enumerate(sequence(run.steps, f"{WHAT}: the optimizer's steps"))
    ]
    if not steps:
        raise AssertionError(f"{WHAT}: no optimizer step was taken")
    kinds = {s.get("optimizer") for s in steps}
    if kinds != {"torch.optim.adamw.AdamW"}:
        raise AssertionError(f"{WHAT}: the steps were taken by {short(sorted(map(str, kinds)))}, not torch.optim.AdamW")
    if len(steps) != BUDGET["steps"]:
        raise AssertionError(
            f"{WHAT}: AdamW stepped {len(steps)} times, expected one step per step of the budget ({BUDGET['steps']})"
        )
    return steps
