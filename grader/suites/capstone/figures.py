"""`course plot capstone`: the training curve, the size-bits frontier of the compression stages, and
compressed size against text length, drawn from the student's files and code. Each figure writes its
numbers as a CSV beside it.

- capstone_training.png: the training loss and held-out bits per character of the submitted
  model.pt, from the history gpt.save keeps (train.py's main writes it); without one, the student's
  train.train on the tiny configuration here (task 6.1's grading run).
- capstone_frontier.png: bits per character on held-out text against size in bytes, for model.pt in
  float32, pruned (the student's global_masks), pruned and shared (the student's compress, no
  fine-tuning), entropy-coded (pack's length) and the submitted model.sqz (fine-tuned); bz2's rate
  on the same text, and the 3% budget.
- capstone_crossover.png: bits to send the first n characters against n, for gzip, bz2 and xz
  (measured on the corpus) and the model counted with its size (the student's tradeoff.size_curve),
  float32 and compressed; where each model line crosses bz2's is the crossover length.

Bits per character are computed here from weights (model.py) on The Tempest where this copy of the
course has it (instructors), otherwise on the last 100,000 characters of train.txt, which the model
was trained on (marked "training text" on the figures: optimistic).
"""

from __future__ import annotations

import io
import weakref
from pathlib import Path

import torch

from grader.assertions import mapping
from grader.data import load_text
from grader.plots import pyplot, write_csv
from grader.suites.capstone import artifact
from grader.suites.capstone import model as M
from grader.suites.capstone.training import CONFIG, texts

SPARSITY, BITS = 0.7, 3  # the handout's pipeline: the stages drawn without fine-tuning


def finish(plt, fig, out: Path, name: str, rows: list[dict]) -> list[Path]:
    """Save the figure as out/<name>.png and its numbers as out/<name>.csv; [the figure's path]."""
    fig.tight_layout()
    path = out / f"{name}.png"
    fig.savefig(path)
    plt.close(fig)
    write_csv(out / f"{name}.csv", rows)
    return [path]


def heldout() -> tuple[str, str]:
    """(text, its name): The Tempest where it is here, else the tail of train.txt."""
    try:
        return load_text("valid"), "The Tempest (held out)"
    except (OSError, ValueError):
        return load_text("train")[-100_000:], "training text (optimistic)"


_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def models(submission) -> tuple[bytes, dict, dict, dict]:
    """model.sqz's bytes, model.pt's (config, state) and model.sqz's state as the student's unpack
    reads it: once per submission, for the frontier and the crossover."""
    if submission not in _MODELS:
        f = artifact.files(submission)
        artifact.need(submission, f)
        assert f.pt is not None and f.sqz is not None, "artifact.need found both files"
        config, state = artifact.checkpoint(f.pt)
        sqz = M.check_state(submission.driver("figures_unpack", f.sqz), config, "model.sqz's state")
        _MODELS[submission] = f.sqz, config, state, sqz
    return _MODELS[submission]


def saved(submission) -> dict:
    f = artifact.files(submission)
    artifact.need(submission, f)
    assert f.pt is not None, "artifact.need found model.pt"
    return torch.load(io.BytesIO(f.pt), map_location="cpu", weights_only=True)


def draw_training(submission, out: Path) -> list[Path]:
    plt = pyplot()
    history = None
    try:
        history = saved(submission).get("history")
    except (AssertionError, OSError):
        pass
    label = "model.pt's training (its history)"
    if not isinstance(history, dict) or not history.get("loss"):
        ids, valid = texts(load_text("train"))
        run = mapping(submission.driver("train_run", CONFIG, ids, valid, 0, 10), "the training run")
        history, label = mapping(run["history"], "the history"), "task 6.1's grading run (tiny shape: model.pt has no history)"
    loss = [float(v) / 0.6931471805599453 for v in history["loss"]]  # nats -> bits
    valid = [(int(s), float(b)) for s, b in history.get("valid", [])]
    fig, ax = plt.subplots(figsize=(8, 4.6), dpi=120)
    window = max(1, len(loss) // 50)
    smooth = [sum(loss[max(0, i - window + 1) : i + 1]) / len(loss[max(0, i - window + 1) : i + 1]) for i in range(len(loss))]
    ax.plot(range(1, len(loss) + 1), smooth, label="training loss (bits per character, moving average)")
    if valid:
        ax.plot(*zip(*valid), "o-", label="held-out bits per character")
        ax.annotate(f"{valid[-1][1]:.3f}", valid[-1], textcoords="offset points", xytext=(4, 6))
    ax.set(xlabel="step", ylabel="bits per character", title=label)
    ax.grid(alpha=0.3)
    ax.legend()
    return finish(plt, fig, out, "capstone_training", [{"step": i + 1, "loss_bits": v} for i, v in enumerate(loss)])


def draw_frontier(submission, out: Path) -> list[Path]:
    plt = pyplot()
    data, config, state, sqz = models(submission)
    text, where = heldout()
    ids = M.ids_of(text)
    stages = mapping(submission.driver("figures_stages", config, state, SPARSITY, BITS), "the stages")
    pruned = M.check_state(stages["pruned"], config, "the pruned state")
    shared = M.check_state(stages["shared"], config, "the shared state")
    rows = [
        ("float32", 4 * artifact.parameters(state), M.bits_per_char(state, config, ids)),
        (f"pruned {SPARSITY:.0%}", int(stages["pruned_bytes"]["pruned"]), M.bits_per_char(pruned, config, ids)),
        (f"+ {BITS}-bit sharing", int(stages["shared_bytes"]["shared"]), M.bits_per_char(shared, config, ids)),
    ]
    if "coded" in stages["shared_bytes"]:
        rows.append(("+ entropy coding", int(stages["shared_bytes"]["coded"]), rows[-1][2]))
    rows.append(("model.sqz (fine-tuned)", len(data), M.bits_per_char(sqz, config, ids)))
    bz2 = artifact.baselines(text)["bz2"]
    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=120)
    ax.plot([r[1] for r in rows], [r[2] for r in rows], "o-", color="C0")
    for i, (name, size, bpc) in enumerate(rows):  # alternate sides: stages of one rate sit together
        ax.annotate(
            f"{name}\n{size / 1024:,.0f} KiB, {bpc:.3f}",
            (size, bpc),
            textcoords="offset points",
            xytext=(8, 6) if i % 2 else (8, -22),
            fontsize=8,
        )
    ax.axhline(bz2, color="C3", ls="--", label=f"bz2 -9 on this text ({bz2:.3f})")
    ax.axhline(rows[0][2] * 1.03, color="grey", ls=":", label="float32 + 3% (the budget)")
    ax.set_xscale("log")
    ax.set(xlabel="model size (bytes)", ylabel=f"bits per character, {where}", title="What each compression stage costs")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="center right")  # the stages sit at the top and the bottom
    return finish(plt, fig, out, "capstone_frontier", [{"stage": n, "bytes": s, "bpc": b} for n, s, b in rows])


def draw_crossover(submission, out: Path) -> list[Path]:
    plt = pyplot()
    data, config, state, sqz = models(submission)
    text, where = heldout()
    ids = M.ids_of(text)
    corpus = load_text("train") + load_text("more_plays")
    lengths = [n for n in (1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000) if n < len(corpus)] + [
        len(corpus)
    ]
    curves = {}
    for name, size, st in (("float32 model", 4 * artifact.parameters(state), state), ("model.sqz", len(data), sqz)):
        bpc = M.bits_per_char(st, config, ids)
        c = mapping(submission.driver("figures_size_curve", corpus, lengths, size, bpc), "size_curve")
        curves[f"{name} ({size / 1024:,.0f} KiB, {bpc:.3f} bpc)"] = c["model"]
        base = c
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for i, name in enumerate(("gzip", "bz2", "xz")):
        ax.plot(lengths, [b / 8 for b in base[name]], "s--", color=f"C{i + 1}", label=f"{name} (measured)")
    for i, (name, bits) in enumerate(curves.items()):
        ax.plot(lengths, [b / 8 for b in bits], "o-", color=["C0", "C4"][i], label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(
        xlabel="text length n (characters of the corpus)",
        ylabel="bytes to send it (the model counted)",
        title=f"Model + code against general compressors (model rates on {where})",
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    rows = [
        {"n": n, **{k: v[i] for k, v in base.items() if k != "model"}, **{k: v[i] for k, v in curves.items()}}
        for i, n in enumerate(lengths)
    ]
    return finish(plt, fig, out, "capstone_crossover", rows)


FIGURES = {
    "capstone_training.png": draw_training,
    "capstone_frontier.png": draw_frontier,
    "capstone_crossover.png": draw_crossover,
}
