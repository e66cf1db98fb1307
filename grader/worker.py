"""The worker: the only process that imports and runs student code.

Started by `grader.remote.Worker` as `python -I -m grader.worker FD CONFIG_JSON`. It confines
itself (limits, system-call filter), sends its stdout and stderr to a file, then answers requests
on the socket FD until it is closed: import a student module, read an attribute, call a function
or method, run a grader-provided driver, seed the random generators. Every answer is plain data
(see `grader.protocol`); objects that are not plain data stay here and cross as handles.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import socket
import sys
import traceback
import zlib

from grader import protocol, sandbox
from grader.config import Limits

DRIVER_PACKAGE = "grader.suites."


class Server:
    def __init__(self, submission: str, modules: list[str]):
        self.submission = submission
        self.modules = set(modules)
        self.handles: dict[int, object] = {}
        self.next_handle = 1
        self.baseline = set(sys.modules)  # what was loaded before any student code ran

    # -- values ------------------------------------------------------------------------------
    def keep(self, obj) -> dict:
        handle = self.next_handle
        self.next_handle += 1
        self.handles[handle] = obj
        return {"__handle__": handle, "type": type(obj).__name__, "callable": callable(obj)}

    def lookup(self, tag: dict):
        try:
            return self.handles[tag["__handle__"]]
        except KeyError:
            raise protocol.ProtocolError("unknown object handle") from None

    def target(self, spec):
        kind, ref = spec
        if kind == "module":
            if ref not in self.modules:
                raise protocol.ProtocolError(f"{ref} is not a module of this assignment")
            return importlib.import_module(ref)
        if kind == "driver":
            if not ref.startswith(DRIVER_PACKAGE) or not ref.endswith(".drivers"):
                raise protocol.ProtocolError(f"{ref} is not a driver module")
            return importlib.import_module(ref)
        return self.lookup({"__handle__": ref})

    # -- requests ----------------------------------------------------------------------------
    def handle(self, request: dict):
        op = request["op"]
        if op == "seed":
            seed_everything(int(request["seed"]))
            return None
        if op == "import":
            self.target(["module", request["module"]])
            return None
        if op == "inspect":
            return self.inspect()
        obj = self.target(request["target"])
        if op == "getattr":
            value = getattr(obj, request["name"])
            if callable(value) and not isinstance(value, type):
                return {"__callable__": True}
            return protocol.encode(value, self.keep)
        if op == "call":
            fn = obj if request.get("name") is None else getattr(obj, request["name"])
            args = protocol.decode(request["args"], self.lookup)
            kwargs = protocol.decode(request["kwargs"], self.lookup)
            return protocol.encode(fn(*args, **kwargs), self.keep)
        raise protocol.ProtocolError(f"unknown request {op!r}")

    def inspect(self) -> dict:
        """What the submission brought in: the modules loaded since the worker started, and the
        method resolution order of each class its modules define. A report, not a verdict: the
        grading side also reads the source (grader.checks.borrowed)."""
        classes = {}
        for name in sorted(self.modules):
            module = sys.modules.get(name)
            for attr, value in sorted(vars(module).items()) if module is not None else ():
                if isinstance(value, type) and str(getattr(value, "__module__", "")) == name:
                    classes[f"{name}.{attr}"] = [_qualified(c) for c in value.__mro__][:50]
        return {"modules": sorted(set(sys.modules) - self.baseline)[:5000], "classes": classes}

    def serve(self, sock: socket.socket) -> None:
        while True:
            try:
                request = protocol.recv(sock)
            except EOFError:
                return
            try:
                reply = {"ok": True, "value": self.handle(request)}
            except BaseException as exc:  # student code may raise anything, SystemExit included
                reply = {"ok": False, "error": describe(exc, self.submission)}
            try:
                protocol.send(sock, reply)
            except protocol.ProtocolError as exc:
                protocol.send(sock, {"ok": False, "error": describe(exc, self.submission)})


def _qualified(cls: type) -> str:
    return f"{str(getattr(cls, '__module__', '?'))[:200]}.{str(getattr(cls, '__qualname__', '?'))[:200]}"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed % 2**32)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def describe(exc: BaseException, submission: str) -> dict:
    """A plain-data account of an exception, keeping the frames that are in student files."""
    try:
        message = str(exc)
    except BaseException:
        message = "(the exception's message could not be read)"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(submission)]
    where = ""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{os.path.basename(exc.filename)}:{exc.lineno}"
    elif frames:
        where = f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno}"
    lines = traceback.format_list(frames[-5:])
    return {
        "type": type(exc).__name__,
        "mro": [c.__name__ for c in type(exc).__mro__],
        "message": message[:2000],
        "where": where,
        "traceback": "".join(lines)[-4000:],
    }


def main(argv: list[str]) -> None:
    fd = int(argv[0])
    config = json.loads(argv[1])
    # first: the grading side may be killed at any moment from here on (under bubblewrap the parent
    # is bwrap, which itself dies with the grading side: --die-with-parent)
    sandbox.die_with_parent(config.get("parent"), 70)
    sys.dont_write_bytecode = True
    startup = os.dup(2)  # the grading side reads this (startup.txt) when the worker cannot start
    out = os.open(config["output"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    sock = socket.socket(fileno=fd)
    sys.stdin = open(os.devnull)
    for name in config.get("preload", []):
        importlib.import_module(name)  # heavy libraries, before the limits and the filter
    sandbox.apply_limits(Limits(**config["limits"]))
    if not sandbox.forbid_processes() and config.get("require_filter"):
        os.write(startup, b"no system-call filter could be installed (is libseccomp, libseccomp2 on Debian, there?)\n")
        os._exit(71)
    os.close(startup)
    sys.path.insert(0, config["submission"])
    seed_everything(zlib.crc32(b"course"))
    Server(config["submission"], config["modules"]).serve(sock)
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
