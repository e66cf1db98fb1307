"""Task 5.5's experiment on the grading side: the student's ViT trained by the student's train_vit in
the worker, once per submission, and scored here on digits whose labels the student's code never
sees during the run (the validation split in the public test, the held-out test split in the hidden
one).

What comes back is checked as data (the handout's parameter names and numbers of entries, finite)
and scored here with the course's own implementation of the ViT (`model.accuracy`), never with the
student's forward or evaluate: logits computed in the worker could come from anything (a forged
driver returning a nearest-neighbour classifier's logits would pass), weights scored here cannot.
The ViT trained is the student's when its forward is the handout's, and otherwise the course's own
(`handout_forward`; the drivers' CourseViT, with the same parameters and initial weights): this task
grades train_vit, and a ViT that attends without the 1/sqrt(d_k) scale learns to anything from 43%
to 86%, so scoring it here would charge a 5.1 mistake to 5.5 at a seed-dependent price.

The budget is in epochs, so the run is the same step for step on every machine; the bars come from the reference's accuracy over 100 seeds (benchmarks/bench_hw5.py): each holds for every
one of them with a margin.
"""

from __future__ import annotations

import torch

from grader.assertions import tensor
from grader.data import mnist_split
from grader.errors import StudentError
from grader.suites.hw5 import model

CONFIG = {"dim": 64, "depth": 2, "heads": 4}  # ViT(**CONFIG): 7x7 patches of the 28x28 digits, 17 tokens
SETTINGS = {"epochs": 10, "batch_size": 64, "lr": 3e-3}  # train_vit's other arguments at their defaults
STEPS = 10 * 47  # 3,000 training digits in batches of 64: 47 per epoch
VALIDATION_BAR = 0.80  # the reference over 100 seeds: 84.9-93.8% (p1 88.3%); see bench_hw5.py
TEST_BAR = 0.80  # 84.4-94.4% (p1 88.9%)
SEED_NAME = "task 5.5: the ViT trained on the digits"


def training_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 3,000 training digits: images (3000, 1, 28, 28) float32 in [0, 1] and labels int64."""
    return mnist_split(0)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The fraction of images whose largest logit is at their label, counted here."""
    return float((logits.argmax(1) == labels).double().mean())


def checked_state(state) -> dict:
    """The trained ViT's state dict, checked: the handout's names and numbers of entries, finite."""
    shapes = model.vit_shapes(**CONFIG)
    if type(state) is not dict or set(state) != set(shapes):
        got = sorted(state) if type(state) is dict else type(state).__name__
        raise AssertionError(f"the trained ViT's parameters are {got}, expected the handout's {sorted(shapes)}")
    out = {}
    for name, shape in shapes.items():
        value = tensor(state[name], f"parameter {name} after train_vit", dtype="float32")
        if value.numel() != torch.Size(shape).numel():
            raise AssertionError(f"parameter {name} has shape {tuple(value.shape)}, expected {shape}")
        if not bool(torch.isfinite(value).all()):
            raise AssertionError(f"parameter {name} is not finite after train_vit (a diverged run)")
        out[name] = value.reshape(shape)
    return out


def score(state: dict, x: torch.Tensor, y: torch.Tensor) -> float:
    """The accuracy of the course's ViT holding `state` on (x, y)."""
    return model.accuracy(state, CONFIG["heads"], 7, x, y)


def handout_forward(submission, images: torch.Tensor, seed: int) -> bool:
    """Whether the student's ViT(**CONFIG), holding random weights, gives the course's logits on
    `images` (within 1e-4): its forward is the handout's. False when it raises or cannot run."""
    state = model.vit_state(CONFIG, seed)
    try:
        out = submission.driver("vit_forward", CONFIG, state, images)
    except StudentError:
        return False
    logits = out.get("logits") if type(out) is dict else None
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (len(images), 10):
        return False
    with torch.no_grad():
        expected, _ = model.vit(state, CONFIG["heads"], images, 7)
    return bool(torch.allclose(logits.double(), expected.double(), rtol=1e-4, atol=1e-4))
