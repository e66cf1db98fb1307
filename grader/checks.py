"""Assertion helpers for suites: check the type first, then the value, and say what was expected.

Every helper raises AssertionError with a message the student reads as feedback, so suites write
`close(h, 1.0, "H([1/2, 1/2]) in bits", hint=...)` instead of a bare `assert`.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from grader.remote import StudentError


def number(value, what: str) -> float:
    """`value` as a float, if it is a real number (a bool or an array is not)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise AssertionError(f"{what}: expected a number, got {type(value).__name__} {short(value)}")
    return float(value)


def integer(value, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise AssertionError(f"{what}: expected an integer, got {type(value).__name__} {short(value)}")
    return int(value)


def close(value, expected: float, what: str, tol: float = 1e-9, rel: float = 1e-9, hints=()) -> float:
    """Assert |value - expected| <= tol + rel |expected|; infinities must match exactly.

    `hints` is a sequence of (predicate, message): the first whose predicate holds for the
    student's value explains the error in the subject's terms (e.g. "looks like nats").
    """
    x = number(value, what)
    ok = x == expected if math.isinf(expected) else abs(x - expected) <= tol + rel * abs(expected)
    if not ok:
        message = f"{what}: got {x:.10g}, expected {expected:.10g}"
        for predicate, hint in hints:
            try:
                if predicate(x):
                    message += f"; {hint}"
                    break
            except (ArithmeticError, ValueError):
                continue
        raise AssertionError(message)
    return x


def near(x: float, target: float, tol: float = 1e-6) -> bool:
    return math.isfinite(x) and abs(x - target) <= tol + 1e-6 * abs(target)


def raises(exc_name: str, fn: Callable, *args, what: str, **kwargs) -> StudentError:
    """Assert that calling student code raises `exc_name` (or a subclass)."""
    try:
        value = fn(*args, **kwargs)
    except StudentError as exc:
        if exc.is_a(exc_name):
            return exc
        if exc.cause != "error":
            raise
        raise AssertionError(f"{what}: expected {exc_name}, got {exc}") from None
    raise AssertionError(f"{what}: expected {exc_name}, but it returned {short(value)}")


def mapping(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise AssertionError(f"{what}: expected a dict, got {type(value).__name__} {short(value)}")
    return value


def short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_mismatch(got, expected, rtol: float, atol: float):
    """The first element, in row-major order, where |got - expected| > atol + rtol |expected| (a nan
    or an infinity that `expected` does not have counts too), as (index, got, expected); None when
    every element agrees. Both are tensors or arrays of the same shape."""
    a = np.asarray(_numpy(got), dtype=np.float64)
    b = np.asarray(_numpy(expected), dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(a - b) <= atol + rtol * np.abs(b)) & ~((a == b) & np.isinf(b))
    if not bad.any():
        return None
    index = np.unravel_index(int(np.argmax(bad)), bad.shape)
    return tuple(int(i) for i in index), float(a[index]), float(b[index])


def tensor(value, what: str, shape: tuple | None = None, dtype: str | None = None):
    """`value` if it is a torch tensor (of `shape` and dtype `dtype`, e.g. "float32", when given)."""
    import torch

    if type(value) is not torch.Tensor:
        raise AssertionError(f"{what}: expected a tensor, got {type(value).__name__} {short(value)}")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise AssertionError(f"{what}: expected shape {tuple(shape)}, got {tuple(value.shape)}")
    if dtype is not None and str(value.dtype).removeprefix("torch.") != dtype:
        raise AssertionError(f"{what}: expected dtype {dtype}, got {str(value.dtype).removeprefix('torch.')}")
    return value


def _numpy(value):
    if type(value).__module__.startswith("torch"):
        return value.detach().cpu().double().numpy()
    return value
