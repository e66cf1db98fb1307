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


def encoded(text: str, code: dict[str, str]) -> dict:
    """The student's encode of `text`, summarised: the types, n_bits and a digest of the bytes."""
    out = importlib.import_module("huffman").encode(text, code)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return {"returned": type(out).__name__}
    data, n_bits = out
    return {
        "data_type": type(data).__name__,
        "n_bits": n_bits if type(n_bits) is int else repr(n_bits)[:80],
        "sha256": hashlib.sha256(bytes(data)).hexdigest() if isinstance(data, (bytes, bytearray)) else "",
    }


def decoded(data: bytes, n_bits: int, code: dict[str, str]) -> dict:
    """The student's decode of `data`, summarised: its type, length and a digest of the text."""
    text = importlib.import_module("huffman").decode(data, n_bits, code)
    return {
        "decoded_type": type(text).__name__,
        "decoded_sha256": hashlib.sha256(text.encode("utf-8", "replace")).hexdigest() if isinstance(text, str) else "",
        "decoded_length": len(text) if isinstance(text, str) else -1,
    }
