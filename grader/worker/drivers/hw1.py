"""Drivers for hw1: run beside the student's code in the worker and return the student functions'
raw outputs, nothing computed from them.

Whatever runs here runs in the student's process, so student code can replace it: nothing a driver
returns is a verdict. The grading side checks the outputs' types and sizes, then compares them with
values the worker never sees. The type names ride along only because bytes and bytearray look
alike once they cross.
"""

from __future__ import annotations

import importlib


def _types(value) -> list[str]:
    """The type name of `value` and, for a tuple or list, of its first items."""
    items = value[:3] if type(value) in (tuple, list) else ()
    return [type(value).__name__, *(type(v).__name__ for v in items)]


def encoded(text: str, code: dict[str, str]) -> dict:
    """The student's encode(text, code), as returned: (data, n_bits) for a right answer (~0.7 MB for the corpus)."""
    out = importlib.import_module("huffman").encode(text, code)
    return {"out": out, "types": _types(out)}


def decoded(data: bytes, n_bits: int, code: dict[str, str]) -> dict:
    """The student's decode(data, n_bits, code), as returned: the text for a right answer (~0.9 MB for the corpus)."""
    out = importlib.import_module("huffman").decode(data, n_bits, code)
    return {"out": out, "types": _types(out)}


def round_trip(text: str, code: dict[str, str]) -> dict:
    """encode then decode `text` with the student's functions; both raw outputs, for the grading side to judge."""
    huffman = importlib.import_module("huffman")
    data, n_bits = huffman.encode(text, code)
    out = huffman.decode(data, n_bits, code)
    return {
        "data": data,
        "data_type": type(data).__name__,
        "n_bits": n_bits,
        "decoded": out,
        "decoded_type": type(out).__name__,
        "decoded_length": len(out) if type(out) is str else -1,
    }
