"""Drivers for hw1: run beside the student's code in the worker, return only plain summaries.

A driver never sees an expected value; the grading side judges what it returns.
"""

from __future__ import annotations

import hashlib
import importlib


def round_trip(text: str, code: dict[str, str]) -> dict:
    """encode then decode `text` with the student's functions; report digests, not the data,
    so a megabyte-sized round trip crosses the process boundary as a few numbers."""
    huffman = importlib.import_module("huffman")
    data, n_bits = huffman.encode(text, code)
    decoded = huffman.decode(data, n_bits, code)
    return {
        "data_type": type(data).__name__,
        "n_bits": n_bits if type(n_bits) is int else repr(n_bits),
        "sha256": hashlib.sha256(bytes(data)).hexdigest() if isinstance(data, (bytes, bytearray)) else "",
        "decoded_type": type(decoded).__name__,
        "decoded_sha256": hashlib.sha256(decoded.encode("utf-8")).hexdigest() if isinstance(decoded, str) else "",
        "decoded_length": len(decoded) if isinstance(decoded, str) else -1,
    }
