"""Assertion helpers for suites: check the type first, then the value, and say what was expected.

Every helper raises AssertionError with a message the student reads as feedback, so suites write
`close(h, 1.0, "H([1/2, 1/2]) in bits", hint=...)` instead of a bare `assert`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from grader.errors import StudentError


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


def sequence(value, what: str, length: int | None = None, of: type | tuple | None = None, max_length: int = 10_000_000) -> list:
    """`value` as a list, if it is a list or tuple (of `length` items, each of type `of`, when given).
    Check this before comparing element by element: zip() of an empty or short list compares nothing."""
    if type(value) not in (list, tuple):
        raise AssertionError(f"{what}: expected a list, got {type(value).__name__} {short(value)}")
    if length is not None and len(value) != length:
        raise AssertionError(f"{what}: expected {length} items, got {len(value)}")
    if len(value) > max_length:
        raise AssertionError(f"{what}: {len(value)} items is more than the {max_length} expected at most")
    if of is not None:
        for i, v in enumerate(value):
            if not isinstance(v, of) or isinstance(v, bool) and bool not in (of if isinstance(of, tuple) else (of,)):
                names = " or ".join(t.__name__ for t in (of if isinstance(of, tuple) else (of,)))
                raise AssertionError(f"{what}: item {i} should be {names}, got {type(v).__name__} {short(v)}")
    return list(value)


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


BORROWED_LINES = 50  # source lines `borrowed` names per module, at most


def borrowed(
    submission, banned: tuple[str, ...], allowed: tuple[str, ...] = (), methods: tuple[str, ...] = ()
) -> dict[str, list[str]]:
    """Where the submission uses what the assignment re-implements, by student module:
    {"optimizers": ["class Adam derives from torch.optim.adam.Adam", ...]}.

    `banned` and `allowed` are dotted names ("torch.optim", "torch.optim.Optimizer"); a name is
    banned when it is or lies under a banned one and not under an allowed one. Two witnesses, so that
    neither alone must be trusted: the source read here (imports and dotted names, aliases
    followed) and the worker's report of what was loaded and what each class derives from.
    `methods` are names whose call on anything is banned as well (`scores.softmax(-1)`, a tensor's
    method, which no import names), except on `self` where the module defines that name.
    """
    import ast

    def hit(name: str) -> bool:
        under = lambda n, p: n == p or n.startswith(p + ".")  # noqa: E731
        return any(under(name, b) for b in banned) and not any(under(name, a) for a in allowed)

    found: dict[str, list[str]] = {}
    for module in getattr(submission.worker, "modules", ()):
        path = submission.path / f"{module}.py"
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace")[:2_000_000])
        except (OSError, SyntaxError, ValueError, RecursionError):
            continue
        aliases: dict[str, str] = {}
        notes: list[str] = []
        inner: set[int] = set()  # attribute nodes inside a longer dotted name
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    aliases[a.asname or a.name] = full
                    if hit(full):
                        notes.append(f"{module}.py line {node.lineno} imports {full}")
            elif isinstance(node, ast.Attribute):
                inner.add(id(node.value))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and id(node) not in inner:
                parts: list[str] = []
                n: ast.expr = node
                while isinstance(n, ast.Attribute):
                    parts.append(n.attr)
                    n = n.value
                if isinstance(n, ast.Name) and n.id in aliases:
                    full = ".".join([aliases[n.id], *reversed(parts)])
                    if hit(full):
                        notes.append(f"{module}.py line {node.lineno} uses {full}")
            elif (
                isinstance(node, ast.Name)
                and node.id in aliases
                and hit(aliases[node.id])
                and isinstance(node.ctx, ast.Load)
                and id(node) not in inner
            ):
                notes.append(f"{module}.py line {node.lineno} uses {aliases[node.id]}")
        own = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in methods:
                on_self = isinstance(node.func.value, ast.Name) and node.func.value.id == "self"
                if not (on_self and node.func.attr in own):
                    notes.append(f"{module}.py line {node.lineno} calls .{node.func.attr}()")
        if notes:
            found[module] = sorted(set(notes), key=notes.index)[:BORROWED_LINES]
    try:
        report = submission.inspect()
    except StudentError:
        report = {}
    for cls, mro in sorted((report.get("classes") or {}).items()):
        bases = [str(c) for c in mro[1:] if hit(str(c))]
        if bases:
            module = cls.split(".", 1)[0]
            found.setdefault(module, []).append(f"class {cls.split('.', 1)[-1]} derives from {bases[0]}")
    loaded = [str(m) for m in report.get("modules") or () if hit(str(m))]
    if loaded:
        found.setdefault("", []).append(f"the submission loaded {loaded[0]}")
    return found
