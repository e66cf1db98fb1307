"""`course plot hw4`: pruning, quantization and Deep Compression of LeNet-300-100 on the digits.

One float32 LeNet-300-100 (seed 0) is trained here on the training digits (`experiment.trained`,
as task 4.7's test trains it) and scored on the validation digits. The student's functions, run
through the seam, choose the masks, the quantized and shared weights and the compressed network;
everything else (masked fine-tuning, accuracy, the size table) is done here. Three figures, each
with its numbers as a CSV beside it:

- hw4_sparsity.png: accuracy against sparsity, uniform (`magnitude_mask` on each matrix) and global
  (`global_masks`) pruning, just pruned and after a few epochs of fine-tuning with the masks kept
  (a gradient hook here); and each layer's sparsity under global pruning (tasks 4.1);
- hw4_size.png: Deep Compression's table for the student's `deep_compress`, recounted here from
  the weights it leaves, the last row with the student's `layer_size` (task 4.7);
- hw4_bits.png: accuracy and squared error against bit width 2 to 8, uniform symmetric quantization
  per tensor and per channel, uniform asymmetric per tensor and k-means sharing (`qparams`,
  `quantize`, `dequantize`, `kmeans_share`; tasks 4.3 and 4.4), no fine-tuning. Drawn last: its
  k-means at 7 and 8 bits is the most work the worker does for `course plot hw4`.

Everything runs on one intra-op thread, as the tests and the worker do, so the figures are the
same on any machine.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from grader.assertions import mapping, sequence, tensor
from grader.data import mnist_split
from grader.plots import pyplot, write_csv
from grader.suites.hw4 import experiment

SEED = 0
MATRICES = ("0.weight", "2.weight", "4.weight")  # LeNet-300-100's three weight matrices, in experiment.SPEC
SPARSITIES = (0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99)
FINE_EPOCHS, FINE_LR = 5, 5e-4  # fine-tuning with the masks kept: Adam, batches of 64 (the handout used 20 epochs)
BITS = tuple(range(2, 9))
SIZE_BITS = 4  # deep_compress's default
COLORS = {"uniform": "C0", "global": "C3"}
QUANTIZERS = {  # name: (symmetric, per_channel_axis), or None for k-means
    "uniform symmetric, per tensor": (True, None),
    "uniform symmetric, per channel (output neuron)": (True, 0),
    "uniform asymmetric, per tensor": (False, None),
    "k-means sharing, one codebook per matrix": None,
}
QUANT_STYLE = {
    "uniform symmetric, per tensor": ("C0", "o-"),
    "uniform symmetric, per channel (output neuron)": ("C2", "s-"),
    "uniform asymmetric, per tensor": ("C1", "^--"),
    "k-means sharing, one codebook per matrix": ("C3", "D-"),
}


@contextmanager
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@functools.lru_cache(maxsize=1)
def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_valid, y_valid) of the 28x28 digits, as tensors."""
    return (*mnist_split(0), *mnist_split(1))


def float_state() -> dict:
    """The float32 LeNet-300-100 of SEED trained on the training digits (once per process)."""
    x, y, _, _ = digits()
    return experiment.trained(SEED, x, y)


def valid_accuracy(state: dict) -> float:
    _, _, x, y = digits()
    return experiment.accuracy(experiment.build(experiment.SPEC, state), x, y)


# -- task 4.1: accuracy against sparsity ------------------------------------------------------------


def checked_masks(value, what: str, state: dict) -> dict[str, torch.Tensor]:
    """{matrix name: bool mask of its shape}, or AssertionError naming what came back instead."""
    masks = mapping(value, what)
    if set(masks) != set(MATRICES):
        raise AssertionError(f"{what}: expected masks for {list(MATRICES)}, got keys {list(masks)}")
    return {n: tensor(masks[n], f"{what}[{n!r}]", tuple(state[n].shape), "bool") for n in MATRICES}


def student_masks(submission, state: dict, sparsity: float) -> dict[str, dict[str, torch.Tensor]]:
    """The student's uniform masks (magnitude_mask of each matrix) and global masks (global_masks of
    the three), at `sparsity`, in one round trip."""
    prune = submission.module("prune")
    pending = [submission.pending_call(prune, "magnitude_mask", state[n], sparsity) for n in MATRICES]
    pending.append(submission.pending_call(prune, "global_masks", {n: state[n] for n in MATRICES}, sparsity))
    *uniform, global_ = submission.batch(pending, key="magnitude_mask and global_masks")
    return {
        "uniform": {
            n: tensor(m, f"magnitude_mask({n}, {sparsity})", tuple(state[n].shape), "bool") for n, m in zip(MATRICES, uniform)
        },
        "global": checked_masks(global_, f"global_masks(..., {sparsity})", state),
    }


def pruned(state: dict, masks: dict[str, torch.Tensor]) -> dict:
    return {k: v * masks[k] if k in masks else v.clone() for k, v in state.items()}


def fine_tuned(state: dict, masks: dict[str, torch.Tensor], seed: int) -> dict:
    """`state` pruned by `masks` and trained on for FINE_EPOCHS with the masks kept: a gradient hook
    zeroes the pruned weights' gradients, and Adam, created after it, leaves them 0."""
    x, y, _, _ = digits()
    model = experiment.build(experiment.SPEC, pruned(state, masks))
    for name, p in model.named_parameters():
        if name in masks:
            p.register_hook(lambda grad, keep=masks[name]: grad * keep)
    experiment.train(model, x, y, FINE_EPOCHS, FINE_LR, seed)
    after = {k: v.detach().clone() for k, v in model.state_dict().items()}
    assert all(not after[n][~m].any() for n, m in masks.items()), "a pruned weight moved during fine-tuning"
    return after


def draw_sparsity(submission, plt, path: Path, table: Path) -> None:
    state = float_state()
    base = valid_accuracy(state)
    rows: list[dict] = []
    layer_sparsity: dict[str, list[float]] = {n: [] for n in MATRICES}
    accs: dict[tuple[str, str], list[float]] = {}
    for s in SPARSITIES:
        chosen = student_masks(submission, state, s)
        for n in MATRICES:
            layer_sparsity[n].append(1 - float(chosen["global"][n].float().mean()))
        for kind, masks in chosen.items():
            just = valid_accuracy(pruned(state, masks))
            tuned = valid_accuracy(fine_tuned(state, masks, SEED + 1))
            accs.setdefault((kind, "just pruned"), []).append(just)
            accs.setdefault((kind, "fine-tuned"), []).append(tuned)
            kept = sum(int(m.sum()) for m in masks.values())
            rows.append(
                {
                    "pruning": kind,
                    "sparsity": s,
                    "kept_weights": kept,
                    **{f"sparsity_{n}": round(1 - float(masks[n].float().mean()), 4) for n in MATRICES},
                    "val_accuracy_pruned": round(just, 4),
                    f"val_accuracy_fine_tuned_{FINE_EPOCHS}_epochs": round(tuned, 4),
                    "val_accuracy_float32": round(base, 4),
                }
            )

    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.8), dpi=120, gridspec_kw={"width_ratios": [1.35, 1]})
    a.axhline(base, color="black", linewidth=0.8, linestyle=":", label=f"float32, unpruned: {base:.1%}")
    for (kind, stage), values in accs.items():
        style = "-" if stage == "fine-tuned" else "--"
        marker = "o" if stage == "fine-tuned" else "x"
        label = f"{kind}, {stage}" + (f" ({FINE_EPOCHS} epochs, masks kept)" if stage == "fine-tuned" else "")
        a.plot(SPARSITIES, values, style, marker=marker, color=COLORS[kind], label=label)
    ticks = list(SPARSITIES)
    a.set_xscale("logit")
    a.set_xticks(ticks, [f"{t:.0%}" for t in ticks])
    a.minorticks_off()
    a.set(
        ylim=(0, 1),
        xlabel="sparsity: weights pruned from the three matrices (logit scale)",
        ylabel="validation accuracy (1,000 digits)",
        title="LeNet-300-100: uniform (magnitude_mask per matrix) vs global (global_masks)",
    )
    a.grid(alpha=0.3)
    a.legend(fontsize=8, loc="lower left")

    b.plot(SPARSITIES, SPARSITIES, color="black", linewidth=0.8, linestyle=":", label="uniform: every matrix alike")
    for n, shape, color in zip(MATRICES, ("784 -> 300", "300 -> 100", "100 -> 10"), ("C4", "C5", "C6")):
        b.plot(SPARSITIES, layer_sparsity[n], "o-", color=color, label=f"{n} ({shape}), global")
    b.set_xscale("logit")
    b.set_xticks(ticks, [f"{t:.0%}" for t in ticks])
    b.minorticks_off()
    b.set(
        ylim=(0, 1),
        xlabel="overall sparsity (logit scale)",
        ylabel="sparsity of the matrix",
        title="global pruning: where the one threshold cuts",
    )
    b.grid(alpha=0.3)
    b.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    write_csv(table, rows)


def sparsity(submission, out: Path) -> list[Path]:
    """Task 4.1: accuracy against sparsity, uniform vs global, just pruned and fine-tuned (and the CSV)."""
    paths = [out / "hw4_sparsity.png", out / "hw4_sparsity.csv"]
    with one_thread():
        draw_sparsity(submission, pyplot(), *paths)
    return paths


# -- tasks 4.3 and 4.4: accuracy against bit width ------------------------------------------------


def uniform_weight(submission, w: torch.Tensor, name: str, bits: int, symmetric: bool, axis: int | None) -> torch.Tensor:
    """w quantized and dequantized with the student's qparams, quantize and dequantize."""
    quant = submission.module("quantize")
    call = f"qparams({name}, {bits}, symmetric={symmetric}, per_channel_axis={axis})"
    pair = sequence(quant.qparams(w, bits, symmetric, axis), call, length=2)
    count = 1 if axis is None else w.shape[axis]
    scale = tensor(pair[0], f"{call}'s scale", None, "float32")
    zero_point = tensor(pair[1], f"{call}'s zero point", None, "int64")
    if scale.numel() != count or zero_point.numel() != count:
        raise AssertionError(f"{call}: expected {count} scale(s) and zero point(s), got {scale.numel()} and {zero_point.numel()}")
    if axis is None:
        scale, zero_point = scale.reshape(()), zero_point.reshape(())
    q = tensor(quant.quantize(w, scale, zero_point, bits, symmetric, axis), f"quantize({name}, ...)", tuple(w.shape), "int64")
    return tensor(quant.dequantize(q, scale, zero_point, axis), f"dequantize(q of {name}, ...)", tuple(w.shape), "float32")


def shared_weight(submission, w: torch.Tensor, name: str, bits: int) -> torch.Tensor:
    """codebook[indices] of the student's kmeans_share of w."""
    call = f"kmeans_share({name}, {bits})"
    pair = sequence(submission.module("quantize").kmeans_share(w, bits), call, length=2)
    codebook = tensor(pair[0], f"{call}'s codebook", (2**bits,), "float32")
    indices = tensor(pair[1], f"{call}'s indices", tuple(w.shape), "int64")
    if int(indices.min()) < 0 or int(indices.max()) >= 2**bits:
        raise AssertionError(f"{call}'s indices run from {int(indices.min())} to {int(indices.max())}, not 0 to {2**bits - 1}")
    return codebook[indices]


def draw_bits(submission, plt, path: Path, table: Path) -> None:
    state = float_state()
    base = valid_accuracy(state)
    numel = sum(state[n].numel() for n in MATRICES)
    rows: list[dict] = []
    accs: dict[str, list[float]] = {q: [] for q in QUANTIZERS}
    errors: dict[str, list[float]] = {q: [] for q in QUANTIZERS}
    for bits in BITS:
        for method, how in QUANTIZERS.items():
            new = dict(state)
            for n in MATRICES:
                w = state[n]
                new[n] = shared_weight(submission, w, n, bits) if how is None else uniform_weight(submission, w, n, bits, *how)
            acc = valid_accuracy(new)
            mse = sum(float(((new[n].double() - state[n].double()) ** 2).sum()) for n in MATRICES) / numel
            accs[method].append(acc)
            errors[method].append(mse)
            levels = 2**bits if how is None or not how[0] else 2**bits - 1
            rows.append(
                {
                    "method": method,
                    "bits": bits,
                    "levels": levels,
                    "val_accuracy": round(acc, 4),
                    "mean_squared_error": f"{mse:.4g}",
                    "val_accuracy_float32": round(base, 4),
                }
            )

    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.8), dpi=120)
    a.axhline(base, color="black", linewidth=0.8, linestyle=":", label=f"float32: {base:.1%}")
    a.axhline(0.1, color="0.6", linewidth=0.8, linestyle="-.", label="chance: 10%")
    for method in QUANTIZERS:
        color, style = QUANT_STYLE[method]
        a.plot(BITS, accs[method], style, color=color, label=f"{method}: {accs[method][0]:.1%} at 2 bits")
    a.set(
        ylim=(0, 1),
        xlabel="bits per weight (b)",
        ylabel="validation accuracy (1,000 digits)",
        title="LeNet-300-100, all three matrices quantized, no fine-tuning",
    )
    a.set_xticks(list(BITS))
    a.grid(alpha=0.3)
    a.legend(fontsize=8, loc="lower right")

    for method in QUANTIZERS:
        color, style = QUANT_STYLE[method]
        b.semilogy(BITS, errors[method], style, color=color, label=method)
    anchor = errors["uniform symmetric, per channel (output neuron)"][BITS.index(4)]
    b.semilogy(
        BITS,
        [anchor * 4.0 ** (4 - k) for k in BITS],
        color="black",
        linewidth=0.8,
        linestyle=":",
        label="1/4 per extra bit (6.02 dB), through per channel at 4 bits",
    )
    b.set(
        xlabel="bits per weight (b)",
        ylabel="mean squared error of the weights",
        title="distortion: symmetric uses $2^b - 1$ levels, the others $2^b$",
    )
    b.set_xticks(list(BITS))
    b.grid(alpha=0.3, which="both")
    b.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    write_csv(table, rows)


def bit_widths(submission, out: Path) -> list[Path]:
    """Tasks 4.3 and 4.4: accuracy and error against bits, per tensor, per channel and k-means (and the CSV)."""
    paths = [out / "hw4_bits.png", out / "hw4_bits.csv"]
    with one_thread():
        draw_bits(submission, pyplot(), *paths)
    return paths


# -- task 4.7: Deep Compression's size table ------------------------------------------------------


def checked_layer_size(value, what: str) -> dict:
    """The LayerSize fields the `layer_size` driver returned: whole numbers of bits and a format."""
    fields = mapping(value, what)
    for part in ("positions", "values", "codebook", "total"):
        v = fields.get(part)
        if type(v) is not int or v < 0:
            raise AssertionError(f"{what}.{part}: expected a whole number of bits, got {v!r}")
    if fields["total"] != fields["positions"] + fields["values"] + fields["codebook"]:
        raise AssertionError(f"{what}.total is {fields['total']}, not positions + values + codebook")
    return fields


def draw_size(submission, plt, path: Path, table: Path, layers_table: Path) -> None:
    x, y, _, _ = digits()
    original = float_state()
    out = submission.driver("deep_compress", experiment.SPEC, original, x, y, SEED)
    if type(out) is not dict or "state" not in out:
        raise AssertionError(f"deep_compress's run returned {type(out).__name__}, not the network")
    state = experiment.checked_state(out["state"], original)
    base, acc = valid_accuracy(original), valid_accuracy(state)
    masks, indices = {}, {}
    for n in MATRICES:
        masks[n], codebook = experiment.shared(state[n], f"parameter {n}", SIZE_BITS)
        indices[n] = torch.searchsorted(codebook, state[n][masks[n]])  # one index per kept weight, row-major
    pending = [submission.pending_driver("layer_size", masks[n], indices[n], SIZE_BITS) for n in MATRICES]
    sizes = {n: checked_layer_size(s, f"layer_size({n})") for n, s in zip(MATRICES, submission.batch(pending, key="layer_size"))}

    dense = sum(v.numel() for k, v in state.items() if k not in MATRICES)  # the biases, float32
    numel = {n: state[n].numel() for n in MATRICES}
    kept = {n: int(masks[n].sum()) for n in MATRICES}
    float_bits = experiment.PARAMETERS * 32
    stages = [
        ("float32", float_bits),
        (
            f"pruned to {1 - sum(kept.values()) / sum(numel.values()):.1%}, float32 values, bitmask",
            sum(numel[n] + 32 * kept[n] for n in MATRICES) + 32 * dense,
        ),
        (
            f"+ {SIZE_BITS}-bit k-means sharing ({SIZE_BITS}-bit indices, {2**SIZE_BITS} float32 centroids)",
            sum(numel[n] + SIZE_BITS * kept[n] + 32 * 2**SIZE_BITS for n in MATRICES) + 32 * dense,
        ),
        ("+ cheapest positions, Huffman-coded values (layer_size)", sum(sizes[n]["total"] for n in MATRICES) + 32 * dense),
    ]
    rows = [
        {"stage": stage, "bits": bits, "kilobytes": round(bits / 8000, 1), "times_smaller": round(float_bits / bits, 2)}
        for stage, bits in stages
    ]
    layer_rows = [
        {
            "matrix": n,
            "shape": "x".join(str(d) for d in state[n].shape),
            "kept": kept[n],
            "density": round(kept[n] / numel[n], 4),
            "positions_format": sizes[n]["format"],
            "positions_bits": sizes[n]["positions"],
            "values_bits": sizes[n]["values"],
            "codebook_bits": sizes[n]["codebook"],
            "total_bits": sizes[n]["total"],
            "bits_per_kept_weight": round(sizes[n]["total"] / max(kept[n], 1), 2),
        }
        for n in MATRICES
    ]
    layer_rows.append(
        {"matrix": "biases (float32)", "shape": str(dense), "kept": dense, "density": 1.0, "positions_format": "-", "positions_bits": 0,
         "values_bits": 32 * dense, "codebook_bits": 0, "total_bits": 32 * dense, "bits_per_kept_weight": 32.0}
    )  # fmt: skip
    size = out.get("size")
    reported = size.get("bits") if isinstance(size, dict) else None

    fig, (a, b) = plt.subplots(2, 1, figsize=(12, 5.0), dpi=120, gridspec_kw={"height_ratios": [1, 1.1]})
    for ax in (a, b):
        ax.axis("off")
    top = a.table(
        cellText=[[r["stage"], f"{r['bits']:,}", f"{r['kilobytes']:,.1f}", f"{r['times_smaller']:.1f}x"] for r in rows],
        colLabels=["stage", "bits", "KB", "smaller than float32"],
        colWidths=[0.58, 0.14, 0.1, 0.18],
        loc="center",
        cellLoc="right",
    )
    bottom = b.table(
        cellText=[
            [
                r["matrix"],
                r["shape"],
                f"{r['kept']:,} ({r['density']:.1%})",
                r["positions_format"],
                f"{r['positions_bits']:,}",
                f"{r['values_bits']:,}",
                f"{r['codebook_bits']:,}",
                f"{r['total_bits']:,}",
                f"{r['bits_per_kept_weight']:.2f}",
            ]
            for r in layer_rows
        ],
        colLabels=[
            "matrix",
            "shape",
            "kept (density)",
            "positions as",
            "positions",
            "values",
            "codebook",
            "total bits",
            "bits / kept",
        ],
        loc="center",
        cellLoc="right",
    )
    for t in (top, bottom):
        t.auto_set_font_size(False)
        t.set_fontsize(9)
        t.scale(1, 1.45)
        for (row, col), cell in t.get_celld().items():
            if row == 0:
                cell.set_text_props(weight="bold")
                cell.set_facecolor("0.9")
            if col == 0:  # names read from the left; PAD is a fraction of the cell's width
                cell._loc, cell.PAD = "left", 0.03
                cell.set_text_props(ha="left")
    a.set_title(
        f"Deep Compression of LeNet-300-100 (your deep_compress, sparsity 0.92, {SIZE_BITS} bits, seed {SEED}): "
        f"validation accuracy {base:.1%} float32, {acc:.1%} compressed",
        fontsize=10,
    )
    b.set_title("the last row in bits, per matrix (your layer_size on the weights deep_compress left)", fontsize=10)
    note = "counted here from the weights deep_compress left: mask = w != 0, codebook = their distinct values"
    if isinstance(reported, int) and not isinstance(reported, bool):
        same = "the same" if reported == stages[-1][1] else f"{reported - stages[-1][1]:+,} bits from this count"
        note += f"; deep_compress's own ModelSize.bits: {reported:,} ({same})"
    fig.text(0.01, 0.01, note, fontsize=7.5, color="0.35")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    write_csv(table, [{**r, "val_accuracy_float32": round(base, 4), "val_accuracy_compressed": round(acc, 4)} for r in rows])
    write_csv(layers_table, layer_rows)


def size_table(submission, out: Path) -> list[Path]:
    """Task 4.7: the bits of each stage of Deep Compression, and per matrix (and the CSVs)."""
    paths = [out / "hw4_size.png", out / "hw4_size.csv", out / "hw4_size_layers.csv"]
    with one_thread():
        draw_size(submission, pyplot(), *paths)
    return paths


FIGURES = {"hw4_sparsity.png": sparsity, "hw4_size.png": size_table, "hw4_bits.png": bit_widths}


def make(submission, out: Path) -> list[Path]:
    """Every figure, in order (`course plot` draws each on its own)."""
    return [p for draw in FIGURES.values() for p in draw(submission, out)]
