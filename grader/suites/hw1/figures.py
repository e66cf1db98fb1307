"""`course plot hw1`: bits per character of English, from context-free codes to context models.

Values come from the learner's own functions (through the worker); the plot is drawn here.
"""

from __future__ import annotations

from pathlib import Path

from grader.data import load_text


def bits_per_character(submission, out: Path) -> list[Path]:
    """Tasks 1.4 and 1.8: F_k by context length against Huffman, zlib, bz2 and lzma."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    info, huff = submission.module("information"), submission.module("huffman")
    text = load_text("train")
    ks = list(range(6))
    f = [info.conditional_entropy(text, k) for k in ks]
    report = huff.compression_report(text)
    rates = {"Huffman (1 char)": report["avg_length"]}
    rates |= {name: 8 / report["ratio"][name] for name in ("zlib", "bz2", "lzma")}

    fig, ax = plt.subplots(figsize=(9.5, 4.2), dpi=120)
    ax.plot(ks, f, "o-", color="#3b6ea5", label="empirical $F_k$ = H(next char | k before)")
    ax.axhline(8, color="#aa3333", linewidth=1, label="8-bit text: 8.00")
    for (name, bits), style in zip(rates.items(), ["--", ":", "-.", (0, (5, 1))]):
        ax.axhline(bits, linestyle=style, color="#555555", linewidth=1, label=f"{name}: {bits:.2f}")
    ax.set_xlabel("context length k (characters)")
    ax.set_ylabel("bits per character")
    ax.set_ylim(0, 8.6)
    ax.set_xticks(ks)
    ax.set_title(f"Shakespeare ({len(text):,} characters): more context, fewer bits")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.text(
        0.01, 0.01, "F_k for large k memorises the text: a plug-in estimate, not the entropy rate", fontsize=7, color="#666666"
    )
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path = out / "hw1_bits_per_character.png"
    fig.savefig(path)
    plt.close(fig)
    return [path]


FIGURES = {"hw1_bits_per_character.png": bits_per_character}


def make(submission, out: Path) -> list[Path]:
    """Every figure, in order (`course plot` draws each on its own)."""
    return [p for draw in FIGURES.values() for p in draw(submission, out)]
