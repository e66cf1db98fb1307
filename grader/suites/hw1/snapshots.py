"""What `course snapshot hw1` stores: reference values the public suite needs, computed by the
solutions through the same seam the suites use, so no reference code ships with the public tests."""

import bz2
import hashlib
import lzma
import zlib
from collections import Counter

from grader.data import load_text
from grader.suites.hw1.codes import elias_gamma_code

REPORT_CHARS = 200_000  # the public compression report runs on this much of the corpus (mostly Hamlet)
ENGLISH_CHARS = 200_000  # the public F_k tests run on this much of the corpus: one call, well inside the time limit
REPORT_TEXT = "this is an example of a huffman tree"  # the short text of the public compression report

# Frequency tables whose optimal expected code length the public suite checks.
TABLES = {
    "clrs": {"a": 45, "b": 13, "c": 12, "d": 16, "e": 9, "f": 5},
    "fibonacci": {s: f for s, f in zip("abcdefgh", (1, 1, 2, 3, 5, 8, 13, 21))},
    "dyadic": {"a": 8, "b": 4, "c": 2, "d": 1, "e": 1},
}


def make(submission) -> dict:
    info, huff = submission.module("information"), submission.module("huffman")
    text = load_text("train")
    tables = {
        **TABLES,
        "corpus": dict(Counter(text)),
        "report_short": dict(Counter(REPORT_TEXT)),
        "report_corpus": dict(Counter(text[:REPORT_CHARS])),
    }
    costs = {}
    for name, freqs in tables.items():
        lengths = huff.code_lengths(freqs)
        costs[name] = sum(freqs[s] * lengths[s] for s in freqs)
    corpus_lengths = huff.code_lengths(tables["corpus"])
    return {
        "conditional_entropy": [info.conditional_entropy(text[:ENGLISH_CHARS], k) for k in range(4)],
        "optimal_cost": costs,
        "corpus_lengths": corpus_lengths,
        "corpus_canonical_code": huff.canonical_code(corpus_lengths),
        "report_compressed_bytes": compressed_sizes(text[:REPORT_CHARS]),
        "corpus_gamma_code": packed_digest(*huff.encode(text, elias_gamma_code(text))),
    }


def compressed_sizes(text: str) -> dict[str, int]:
    """Bytes out of the standard library's compressors at their default settings."""
    raw = text.encode("utf-8")
    return {"zlib": len(zlib.compress(raw)), "bz2": len(bz2.compress(raw)), "lzma": len(lzma.compress(raw))}


BLOCK = 65_536  # bytes per stored digest of the encoded corpus, to say where a wrong encoding first differs


def packed_digest(data: bytes, n_bits: int) -> dict:
    """What the public suite needs of the solution's encoding of the corpus: its size, its first bytes,
    and sha256 digests of the whole and of each BLOCK bytes."""
    return {
        "n_bits": n_bits,
        "bytes": len(data),
        "head": data[:16].hex(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "block_sha256": [hashlib.sha256(data[i : i + BLOCK]).hexdigest() for i in range(0, len(data), BLOCK)],
    }
