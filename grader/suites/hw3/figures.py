"""`course plot hw3`: optimizer trajectories on Rosenbrock's function, and the large-batch experiment
on the digits (LAMB and Adam at batch 1024 over a range of learning rates, against small-batch Adam).
The numbers behind the second figure are also written as a CSV. The loops run here, around the
student's optimizers (`grader.suites.hw3.loops`), as in the tests."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from grader.data import digit_features
from grader.plots import pyplot
from grader.suites.hw3.loops import Student, predictions, rosenbrock_path, train_digits

START, STEPS = (-1.5, 2.0), 1500
TRAJECTORIES = [("SGD", {"lr": 5e-4, "momentum": 0.9}), ("Adam", {"lr": 0.05}), ("LAMB", {"lr": 0.01})]
LARGE, SMALL, EPOCHS, SEEDS = 1024, 32, 80, (0, 1, 2)
SMALL_LR = 1e-3
SCALED_LR = SMALL_LR * LARGE / SMALL  # the linear scaling rule: 0.032
LRS = (0.001, 0.0032, 0.01, SCALED_LR, 0.1, 0.32)
COLORS = {("Adam", SMALL): "0.45", ("Adam", LARGE): "C0", ("LAMB", LARGE): "C1"}


def rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def label(name: str, kwargs: dict) -> str:
    return f"{name}(" + ", ".join(f"{k}={v:g}" for k, v in kwargs.items()) + ")"


def draw_rosenbrock(submission, plt, path: Path) -> None:
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.6), dpi=120)
    gx: np.ndarray
    gy: np.ndarray
    gx, gy = np.meshgrid(np.linspace(-2, 2, 400), np.linspace(-1, 3, 400))
    a.contour(gx, gy, np.log10(rosenbrock(gx, gy) + 1e-3), levels=20, colors="0.75", linewidths=0.6)
    a.plot(*START, "ko")
    a.plot(1, 1, "k*", markersize=12)
    for name, kwargs in TRAJECTORIES:
        p = rosenbrock_path(Student(submission, name, kwargs), STEPS, START).numpy()
        end = p[-1]
        (line,) = a.plot(p[:, 0], p[:, 1], linewidth=1, label=f"{label(name, kwargs)}: ends at ({end[0]:.3f}, {end[1]:.3f})")
        b.semilogy(np.maximum(rosenbrock(p[:, 0], p[:, 1]), 1e-16), color=line.get_color(), label=name)
    a.set(title=f"Rosenbrock's function from {START}, {STEPS} steps", xlabel="x", ylabel="y", xlim=(-2, 2), ylim=(-1, 3))
    a.legend(fontsize=7, loc="lower left")
    b.set(title="f(x, y) along the trajectory", xlabel="step", ylabel="f")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def epoch_means(losses, n: int, batch: int) -> np.ndarray:
    per_epoch = math.ceil(n / batch)
    return np.asarray(losses, dtype=float).reshape(-1, per_epoch).mean(axis=1)


def draw_large_batch(submission, plt, path: Path, table: Path) -> None:
    x, labels, split = digit_features()
    train, valid = split == 0, split == 1
    x_train, y_train, x_valid, y_valid = x[train], labels[train], x[valid], labels[valid]
    rows, curves = [], {}

    def run(name, lr, batch, seed):
        kwargs = {"lr": lr, "weight_decay": 0.01} if name == "LAMB" else {"lr": lr}
        model, losses = train_digits(Student(submission, name, kwargs), x_train, y_train, batch, EPOCHS, seed)
        acc = float(np.mean(predictions(model, x_valid).numpy() == y_valid))
        rows.append(dict(optimizer=name, lr=lr, batch=batch, epochs=EPOCHS, seed=seed, val_accuracy=round(acc, 4)))
        if seed == SEEDS[0] and (batch == SMALL or lr == SCALED_LR):
            curves[name, batch, lr] = epoch_means(losses, len(x_train), batch)
        return acc

    small = [run("Adam", SMALL_LR, SMALL, s) for s in SEEDS]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.6), dpi=120)
    a.axhspan(
        min(small),
        max(small),
        color=COLORS["Adam", SMALL],
        alpha=0.3,
        label=f"Adam, batch {SMALL}, lr {SMALL_LR:g}: {np.mean(small):.3f}",
    )
    for name in ("Adam", "LAMB"):
        accs = np.array([[run(name, lr, LARGE, s) for s in SEEDS] for lr in LRS])
        mean = accs.mean(axis=1)
        a.errorbar(
            LRS,
            mean,
            yerr=[mean - accs.min(axis=1), accs.max(axis=1) - mean],
            marker="o",
            capsize=3,
            color=COLORS[name, LARGE],
            label=f"{name}, batch {LARGE}: {mean[LRS.index(SCALED_LR)]:.3f} at lr {SCALED_LR:g}",
        )
    a.axvline(SCALED_LR, color="black", linewidth=0.8, linestyle=":")
    a.set(
        xscale="log",
        ylim=(0.5, 1),
        xlabel="learning rate",
        ylabel="validation accuracy",
        title=f"digits, {EPOCHS} epochs (mean, min-max of {len(SEEDS)} seeds); dotted: {SMALL_LR:g} x {LARGE}/{SMALL}",
    )
    a.legend(fontsize=8, loc="lower center")
    for (name, batch, lr), curve in curves.items():
        b.semilogy(np.arange(1, len(curve) + 1), curve, color=COLORS[name, batch], label=f"{name}, batch {batch}, lr {lr:g}")
    b.set(title="training loss, mean per epoch (seed 0)", xlabel="epoch", ylabel="cross-entropy")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    with table.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def trajectories(submission, out: Path) -> list[Path]:
    """Tasks 3.1 to 3.3: SGD, Adam and LAMB on Rosenbrock's function."""
    draw_rosenbrock(submission, pyplot(), out / "hw3_rosenbrock.png")
    return [out / "hw3_rosenbrock.png"]


def large_batch(submission, out: Path) -> list[Path]:
    """Tasks 3.2 and 3.3: LAMB and Adam at batch 1024 against small-batch Adam (and the CSV)."""
    paths = [out / "hw3_large_batch.png", out / "hw3_large_batch.csv"]
    draw_large_batch(submission, pyplot(), *paths)
    return paths


FIGURES = {"hw3_rosenbrock.png": trajectories, "hw3_large_batch.png": large_batch}


def make(submission, out: Path) -> list[Path]:
    """Every figure, in order (`course plot` draws each on its own)."""
    return [p for draw in FIGURES.values() for p in draw(submission, out)]
