"""The hw4 solutions, loaded on the grading side for the hidden suite (instructor's copy only)."""

from __future__ import annotations

from grader.paths import solution_module


def solution(name: str):
    """solutions/hw4/<name>.py as a module of its own (not the student's): "prune", "quantize",
    "distill" or "compress" (its layer_size and huffman_bits count sizes; its deep_compress, which
    imports prune and quantize by name, is not run here)."""
    return solution_module("hw4", name)
