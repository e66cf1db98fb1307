"""The wire between the grading side and a worker: plain data as tagged JSON, length-framed.

Only plain data crosses: None, bool, int, float (nan and inf included), str, bytes, list, tuple,
dict, numpy arrays and scalars of numeric dtypes, and torch tensors. Decoding builds those types and
nothing else; no code runs, no pickle is read. Anything else a worker would send is kept in the
worker and crosses as an opaque handle (`{"__handle__": id, "type": name}`).

Encoding uses exact type checks, so an object of a subclass that claims to equal anything (an int
with a rigged `__eq__`, say) is not mistaken for plain data: it becomes a handle, and a handle
equals nothing but itself on the grading side.
"""

from __future__ import annotations

import base64
import binascii
import json
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

MAX_MESSAGE = 512 * 1024 * 1024  # bytes; a larger frame is refused, not read
WAIT_SLICE = 0.025  # seconds between `recv(..., waiting=)` calls while no data comes
_HEADER = struct.Struct("!Q")
_NUMPY_KINDS = "biufc"  # bool, int, uint, float, complex


class ProtocolError(Exception):
    """A frame or a value that is not plain data."""


class FrameTooLarge(ProtocolError):
    """A frame announced more bytes than the reader accepts; none of them were read."""

    def __init__(self, size: int, limit: int):
        super().__init__(f"frame of {size} bytes exceeds {limit}")
        self.size = size
        self.limit = limit


def _numpy():
    import numpy

    return numpy


def encode(value: Any, keep: Callable[[Any], dict] | None = None, _depth: int = 0) -> Any:
    """Turn plain data into JSON-ready values; `keep(obj)` handles anything else (or refuse)."""
    if _depth > 100:
        raise ProtocolError("value nested more than 100 deep")
    t = type(value)
    if value is None or t in (bool, int, float, str):
        return value
    if t is list:
        return [encode(v, keep, _depth + 1) for v in value]
    if t is tuple:
        return {"__tuple__": [encode(v, keep, _depth + 1) for v in value]}
    if t is dict:
        if all(type(k) is str and not k.startswith("__") for k in value):
            return {k: encode(v, keep, _depth + 1) for k, v in value.items()}
        return {"__dict__": [[encode(k, keep, _depth + 1), encode(v, keep, _depth + 1)] for k, v in value.items()]}
    if t in (bytes, bytearray):
        return {"__bytes__": base64.b64encode(bytes(value)).decode("ascii")}
    module = t.__module__
    if module == "numpy":
        np = _numpy()
        if t is np.ndarray and value.dtype.kind in _NUMPY_KINDS and not value.dtype.fields:
            return _array(value, "__ndarray__")
        if isinstance(value, np.generic) and value.dtype.kind in _NUMPY_KINDS:
            return {"__npscalar__": value.dtype.str, "v": encode(value.item(), keep, _depth + 1)}
    if module.startswith("torch") and _is_tensor(value):
        return _tensor(value)
    if keep is None:
        raise ProtocolError(f"{t.__name__} is not plain data")
    return keep(value)


def _is_tensor(value) -> bool:
    import torch

    return type(value) in (torch.Tensor, torch.nn.Parameter)


def _array(a, tag: str, dtype: str | None = None) -> dict:
    np = _numpy()
    a = np.ascontiguousarray(a).reshape(np.shape(a))  # ascontiguousarray makes a 0-dim array 1-dim
    return {
        tag: a.dtype.str,
        "shape": list(a.shape),
        "data": base64.b64encode(a.tobytes()).decode("ascii"),
        **({"dtype": dtype} if dtype else {}),
    }


def _tensor(t) -> dict:
    import torch

    t = t.detach().to("cpu").contiguous()
    dtype = str(t.dtype).removeprefix("torch.")
    if t.dtype == torch.bfloat16:
        return _array(t.view(torch.int16).numpy(), "__tensor__", dtype)
    return _array(t.numpy(), "__tensor__", dtype)


def decode(value: Any, handle: Callable[[dict], Any] | None = None) -> Any:
    """Rebuild plain data from `encode`'s output; `handle(tag)` rebuilds handles (or refuse).

    Lists and plain dicts are rebuilt in place (their items replaced), so a large reply is not held
    twice: `value` is consumed, as it is when it comes straight from `recv`."""
    if isinstance(value, list):
        for i, v in enumerate(value):
            value[i] = decode(v, handle)
        return value
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(decode(value["__tuple__"], handle))
    if "__dict__" in value:
        return {_hashable(decode(k, handle)): decode(v, handle) for k, v in value["__dict__"]}
    if "__bytes__" in value:
        return base64.b64decode(value["__bytes__"])
    if "__ndarray__" in value:
        return _decode_array(value, value["__ndarray__"])
    if "__npscalar__" in value:
        np = _numpy()
        return np.dtype(_checked_dtype(value["__npscalar__"])).type(value["v"])
    if "__tensor__" in value:
        return _decode_tensor(value)
    if "__handle__" in value:
        if handle is None:
            raise ProtocolError("unexpected object handle")
        return handle(value)
    for k, v in value.items():
        value[k] = decode(v, handle)
    return value


def _hashable(key):
    if isinstance(key, (list, dict, bytearray)):
        raise ProtocolError("dict key is not hashable")
    return key


def _checked_dtype(s: str):
    np = _numpy()
    dtype = np.dtype(s)
    if dtype.kind not in _NUMPY_KINDS or dtype.fields:
        raise ProtocolError(f"dtype {s} is not plain numeric data")
    return dtype


_B64_PIECE = 4 << 18  # base64 characters decoded at a time (1 MB of text, 768 KB of data)


def _decode_array(value: dict, dtype_str: str):
    """The array, base64-decoded piece by piece straight into its own memory (no full-size
    intermediate copy)."""
    np = _numpy()
    dtype = _checked_dtype(dtype_str)
    shape = tuple(int(n) for n in value["shape"])
    data = value["data"]
    count = 1
    for n in shape:
        if n < 0:
            raise ProtocolError("array data does not match its shape")
        count *= n
    size = count * dtype.itemsize
    if not isinstance(data, str) or len(data) != 4 * -(-size // 3):
        raise ProtocolError("array data does not match its shape")
    out = np.empty(shape, dtype=dtype)
    raw = memoryview(out.reshape(-1).view(np.uint8))
    at = 0
    try:
        for start in range(0, len(data), _B64_PIECE):
            piece = binascii.a2b_base64(data[start : start + _B64_PIECE])
            raw[at : at + len(piece)] = piece
            at += len(piece)
    except (ValueError, binascii.Error):
        raise ProtocolError("array data does not match its shape") from None
    if at != size:
        raise ProtocolError("array data does not match its shape")
    return out


def _decode_tensor(value: dict):
    import torch

    array = _decode_array(value, value["__tensor__"])
    name = value["dtype"]
    if not isinstance(getattr(torch, name, None), torch.dtype):
        raise ProtocolError(f"unknown tensor dtype {name}")
    if name == "bfloat16":
        return torch.from_numpy(array).view(torch.bfloat16)
    return torch.from_numpy(array)


def send(sock: socket.socket, message: Any, deadline: float | None = None) -> None:
    """One message, whole. With a `deadline` (a `time.monotonic()` value) the send may wait for the
    reader until then (TimeoutError after); without, it waits as long as the socket's own timeout,
    which a `recv` leaves at its last wait: a large message needs the deadline."""
    body = json.dumps(message, allow_nan=True, separators=(",", ":")).encode("utf-8")
    if len(body) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(body)} bytes exceeds {MAX_MESSAGE}")
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        sock.settimeout(left)
    sock.sendall(_HEADER.pack(len(body)) + body)


def recv(
    sock: socket.socket, deadline: float | None = None, max_size: int = MAX_MESSAGE, waiting: Callable[[], None] | None = None
) -> Any:
    """One message; EOFError when the other side has gone, TimeoutError past `deadline`
    (a `time.monotonic()` value), FrameTooLarge (before reading it) for a frame over `max_size`
    bytes. `waiting()`, if given, is called every WAIT_SLICE seconds while no data comes; what it
    raises ends the wait (the frame is then unfinished: the connection is not usable any more)."""
    (size,) = _HEADER.unpack(_recv_exact(sock, _HEADER.size, deadline, waiting))
    if size > min(max_size, MAX_MESSAGE):
        raise FrameTooLarge(size, min(max_size, MAX_MESSAGE))
    body = _recv_exact(sock, size, deadline, waiting)
    try:
        text = body.decode("utf-8")  # a str, then the bytes go: one copy of the frame at a time
        del body
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"frame is not valid JSON: {exc}") from None


def _recv_exact(sock: socket.socket, size: int, deadline: float | None, waiting: Callable[[], None] | None = None) -> bytearray:
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        if deadline is not None or waiting is not None:
            timeout = left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError("deadline passed")
            if waiting is not None:
                timeout = WAIT_SLICE if left is None else min(WAIT_SLICE, left)
            sock.settimeout(timeout)
        try:
            n = sock.recv_into(view[got:], min(size - got, 1 << 20))
        except TimeoutError:  # socket.timeout: the slice (or the deadline) passed with no data
            if waiting is None or (deadline is not None and time.monotonic() >= deadline):
                raise
            waiting()
            continue
        if not n:
            raise EOFError("connection closed")
        got += n
    view.release()
    return buf
