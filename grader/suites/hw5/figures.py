"""`course plot hw5`: the ViT against a CNN on the digits, and what the ViT looks at.

The student's ViT(dim=64, depth=2, heads=4) of task 5.5's test and the course's SmallCNN (about as
many parameters) are both trained by the student's train_vit in the worker, on the 3,000 training
digits, with one recipe (task 5.5's test's: 10 epochs, batches of 64, lr 3e-3, ±2-pixel shifts, seed 0); their
accuracy is scored here on the 1,000 validation digits. Three figures, each with its numbers as a
CSV beside it:

- hw5_training.png: the training loss per step of both (a moving average over an epoch) and their
  validation accuracy, parameters and training time;
- hw5_rollout.png: validation digits with the class token's attention rollout (the student's
  attention_rollout of the student's weights) overlaid on the image;
- hw5_heads.png: the class token's attention on the patches per layer and head (the student's
  attention_maps) for two digits.

Figures train on the worker's threads, or on a GPU with `course plot hw5 --device cuda`
(`submission.device`, passed to train_vit and attention_maps), so their times are the machine's; on
the CPU the accuracy is the same step for step on any machine with the same torch.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from grader.assertions import mapping, tensor
from grader.data import mnist_split
from grader.plots import pyplot, write_csv
from grader.suites.hw5 import model, training
from grader.worker.drivers.hw5 import SmallCNN

SEED = 0
EPOCHS = 10  # task 5.5's test's budget: the ViT here is that test's run of seed 0
SETTINGS = {**training.SETTINGS, "epochs": EPOCHS, "seed": SEED}
SHOWN = 8  # digits in the rollout figure
HEADS_OF = 2  # digits in the per-head figure


@functools.lru_cache(maxsize=1)
def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_valid, y_valid) of the 28x28 digits, as tensors."""
    return (*mnist_split(0), *mnist_split(1))


_RUNS: dict = {}  # (id of the submission, model) -> (state, history, logits): one training per plot run


def run(submission, which: str) -> tuple[dict, dict, torch.Tensor]:
    """The student's ViT or the CNN trained by the student's train_vit (once per submission):
    (state, history, logits on the validation digits), the logits computed here (the course's ViT
    holding the student's weights, as task 5.5's test scores them)."""
    key = (id(submission), which)
    if key not in _RUNS:
        x, y, xv, _ = digits()
        settings = {**SETTINGS, "device": submission.device}
        if which == "vit":
            out = mapping(submission.driver("train", training.CONFIG, SEED, x, y, settings), "the ViT's training")
            state = training.checked_state(out["state"])
            with torch.no_grad():
                logits = torch.cat([model.vit(state, training.CONFIG["heads"], c, 7)[0] for c in xv.split(500)])
        else:
            out = mapping(submission.driver("train_cnn", SEED, x, y, settings), "the CNN's training")
            state = {k: tensor(v, f"the CNN's {k}") for k, v in mapping(out["state"], "the CNN's state").items()}
            logits = cnn_logits(state, xv)
        history = mapping(out["history"], f"train_vit's history of the {which}")
        _RUNS[key] = state, history, logits
    return _RUNS[key]


@torch.no_grad()
def cnn_logits(state, x: torch.Tensor) -> torch.Tensor:
    net = SmallCNN()
    net.load_state_dict({k: tensor(v, f"the CNN's {k}") for k, v in mapping(state, "the CNN's state").items()})
    net.eval()
    return torch.cat([net(c) for c in x.split(500)])


def smooth(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def draw_training(submission, out: Path) -> list[Path]:
    plt = pyplot()
    _, _, xv, yv = digits()
    vit_state, vit_history, vit_logits = run(submission, "vit")
    cnn_state, cnn_history, cnn_logits_ = run(submission, "cnn")
    vit_acc, cnn_acc = training.accuracy(vit_logits, yv), training.accuracy(cnn_logits_, yv)
    per_epoch = training.STEPS // EPOCHS
    rows = []
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.6), dpi=120, gridspec_kw={"width_ratios": [1.6, 1]})
    results = []
    for name, history, acc, params, color in (
        ("ViT (dim 64, 2 blocks, 4 heads, 7×7 patches)", vit_history, vit_acc, sum(v.numel() for v in vit_state.values()), "C0"),
        ("CNN (3 conv layers, 32-64-96 channels)", cnn_history, cnn_acc, sum(v.numel() for v in cnn_state.values()), "C3"),
    ):
        losses = [float(v) for v in history["loss"]]
        steps = list(range(1, len(losses) + 1))
        a.plot([s / per_epoch for s in steps], smooth(losses, per_epoch), color=color, label=name)
        seconds = float(history.get("seconds", float("nan")))
        results.append((name, acc, params, seconds, color))
        rows.append(
            {
                "model": name,
                "parameters": params,
                "epochs": EPOCHS,
                "steps": len(losses),
                "train_seconds": round(seconds, 2),
                "val_accuracy": round(acc, 4),
                "final_loss": round(losses[-1], 4),
            }
        )
    a.set(
        yscale="log",
        xlabel="epoch",
        ylabel="training loss (cross-entropy, mean over the last epoch's steps)",
        title=f"Both trained by your train_vit: {EPOCHS} epochs, batches of 64, lr 3e-3, ±2-pixel shifts",
    )
    a.grid(alpha=0.3)
    a.legend(fontsize=8)
    names = [r[0].split(" (")[0] for r in results]
    bars = b.bar(names, [r[1] for r in results], color=[r[4] for r in results])
    for bar, (_, acc, params, seconds, _) in zip(bars, results):
        b.text(
            bar.get_x() + bar.get_width() / 2,
            acc + 0.005,
            f"{acc:.1%}\n{params:,} parameters\n{seconds:.0f} s",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    b.set(
        ylim=(min(r[1] for r in results) - 0.1, 1.04),
        ylabel="validation accuracy (1,000 digits)",
        title="The same budget: the CNN's locality is built in",
    )
    b.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    path = out / "hw5_training.png"
    fig.savefig(path)
    plt.close(fig)
    write_csv(out / "hw5_training.csv", rows)
    return [path, out / "hw5_training.csv"]


def draw_rollout(submission, out: Path) -> list[Path]:
    plt = pyplot()
    _, _, xv, yv = digits()
    state, _, logits = run(submission, "vit")
    images = xv[:SHOWN]
    grid = 28 // training.CONFIG.get("patch", 7)
    maps = tensor(
        submission.driver("rollouts", training.CONFIG, state, images, submission.device), "rollout_maps", (SHOWN, grid, grid)
    )
    fig, axes = plt.subplots(2, SHOWN, figsize=(2 * SHOWN, 4.8), dpi=120)
    rows = []
    for i in range(SHOWN):
        up = torch.nn.functional.interpolate(maps[i][None, None].float(), size=(28, 28), mode="nearest")[0, 0]
        axes[0, i].imshow(images[i, 0], cmap="gray")
        axes[0, i].set_title(f"label {int(yv[i])}, predicted {int(logits[i].argmax())}", fontsize=8)
        axes[1, i].imshow(images[i, 0], cmap="gray")
        axes[1, i].imshow(up, cmap="inferno", alpha=0.6)
        axes[1, i].set_xlabel(f"rollout: max {float(maps[i].max()):.2f}", fontsize=8)
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
        rows.append(
            {
                "digit": i,
                "label": int(yv[i]),
                **{f"r{r}c{c}": round(float(maps[i, r, c]), 4) for r in range(grid) for c in range(grid)},
            }
        )
    fig.suptitle("The class token's attention rollout over the patches (Abnar & Zuidema 2020), on the image", fontsize=10)
    fig.tight_layout()
    path = out / "hw5_rollout.png"
    fig.savefig(path)
    plt.close(fig)
    write_csv(out / "hw5_rollout.csv", rows)
    return [path, out / "hw5_rollout.csv"]


def draw_heads(submission, out: Path) -> list[Path]:
    plt = pyplot()
    _, _, xv, yv = digits()
    state, _, _ = run(submission, "vit")
    depth, heads = 2, training.CONFIG["heads"]
    grid = 4
    chosen = [SHOWN]
    for i in range(SHOWN + 1, len(yv)):  # the next digit of another class
        if len(chosen) < HEADS_OF and int(yv[i]) not in {int(yv[c]) for c in chosen}:
            chosen.append(i)
    images, labels = xv[chosen], yv[chosen]
    maps = tensor(
        submission.driver("maps", training.CONFIG, state, images, submission.device),
        "attention_maps",
        (HEADS_OF, depth, heads, grid, grid),
    )
    fig, axes = plt.subplots(HEADS_OF * depth, heads + 1, figsize=(2.1 * (heads + 1), 2.1 * HEADS_OF * depth), dpi=120)
    rows = []
    for d in range(HEADS_OF):
        for layer in range(depth):
            r = d * depth + layer
            axes[r, 0].imshow(images[d, 0], cmap="gray")
            axes[r, 0].set_title(f"digit {int(labels[d])}, layer {layer}", fontsize=8)
            for h in range(heads):
                m = maps[d, layer, h]
                axes[r, h + 1].imshow(m, cmap="viridis", vmin=0)
                axes[r, h + 1].set_title(f"head {h}: max {float(m.max()):.2f}", fontsize=8)
                rows.append(
                    {
                        "digit": d,
                        "label": int(labels[d]),
                        "layer": layer,
                        "head": h,
                        **{f"r{i}c{j}": round(float(m[i, j]), 4) for i in range(grid) for j in range(grid)},
                    }
                )
            for ax in axes[r]:
                ax.set_xticks([])
                ax.set_yticks([])
    fig.suptitle("What the class token attends to: each head of each layer over the 4×4 patches", fontsize=10)
    fig.tight_layout()
    path = out / "hw5_heads.png"
    fig.savefig(path)
    plt.close(fig)
    write_csv(out / "hw5_heads.csv", rows)
    return [path, out / "hw5_heads.csv"]


FIGURES = {"hw5_training.png": draw_training, "hw5_rollout.png": draw_rollout, "hw5_heads.png": draw_heads}


def make(submission, out: Path) -> list[Path]:
    """Every figure, in order (`course plot` draws each on its own)."""
    return [p for draw in FIGURES.values() for p in draw(submission, out)]
