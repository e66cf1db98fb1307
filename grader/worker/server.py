"""The worker side: the warm parent, and the worker that imports and runs student code.

Started by `grader.remote.ParentProcess` as `python -I -c WORKER_MAIN PATH FD` (grader imported
from PATH, the grading side's own copy). The parent reads its `contract.ParentConfig` from the
socket FD, imports the heavy libraries and the assignment's drivers once, then forks a worker per
submission. A worker confines itself (limits, system-call filter), sends its stdout and stderr to
a file, then answers requests on its own socket until it is closed: import a student module, read
an attribute, call a function or method, run a driver, seed the random generators (one at a time,
or several in a batch). Every answer is plain data (see `protocol`); objects that are not plain
data stay in the worker and cross as handles.
"""

from __future__ import annotations

import importlib
import os
import random
import signal
import socket
import sys
import time
import traceback
import types
import zlib

from grader.worker import confine, contract, protocol

DRIVERS = "grader.worker.drivers"


class Server:
    """A worker's request loop: one submission, requests answered in turn until the socket closes."""

    def __init__(self, submission: str, modules: list[str], drivers: types.ModuleType | None = None):
        self.submission = submission
        self.modules = set(modules)
        self.drivers = drivers
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
        if kind == "drivers":
            if self.drivers is None:
                raise protocol.ProtocolError("this assignment has no drivers")
            return self.drivers
        if kind == "handle":
            return self.lookup({"__handle__": ref})
        raise protocol.ProtocolError(f"unknown target {kind!r}")

    # -- requests ----------------------------------------------------------------------------
    def handle(self, request: contract.Request):
        if request["op"] == "batch":
            if any(r["op"] == "batch" for r in request["requests"]):
                raise protocol.ProtocolError("a batch inside a batch")
            return [self.handle(r) for r in request["requests"]]
        if request["op"] == "seed":
            seed_everything(int(request["seed"]))
            return None
        if request["op"] == "import":
            self.target(["module", request["module"]])
            return None
        if request["op"] == "inspect":
            return self.inspect()
        if request["op"] == "getattr":
            value = getattr(self.target(request["target"]), str(request["name"]))
            if callable(value) and not isinstance(value, type):
                return {"__callable__": True}
            return protocol.encode(value, self.keep)
        if request["op"] == "call":
            obj = self.target(request["target"])
            name = request.get("name")
            fn = obj if name is None else getattr(obj, str(name))
            args = protocol.decode(request["args"], self.lookup)
            kwargs = protocol.decode(request["kwargs"], self.lookup)
            return protocol.encode(fn(*args, **kwargs), self.keep)
        raise protocol.ProtocolError(f"unknown request {request.get('op')!r}")

    def inspect(self) -> contract.InspectReport:
        """What the submission brought in: the modules loaded since the worker started, and the
        method resolution order of each class its modules define. A report, not a verdict: the
        grading side also reads the source (grader.assertions.borrowed)."""
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
                reply: contract.Reply = {"ok": True, "value": self.handle(request)}
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


def describe(exc: BaseException, submission: str) -> contract.ErrorInfo:
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


class Parent:
    """The warm parent: imports what every worker of an assignment needs once, then forks one
    worker per submission on request (`contract.Fork`) and ends it (`contract.End`). It never
    imports or runs student code and holds nothing secret, so nothing of one student can reach the
    next: each worker is a fresh fork of a process no student code has touched, its descriptors
    closed but its own, its scratch folder emptied by the grading side after it ends."""

    def __init__(self, config: contract.ParentConfig, sock: socket.socket, drivers: types.ModuleType | None):
        self.config = config
        self.sock = sock
        self.drivers = drivers
        self.child: int | None = None

    def serve(self) -> None:
        while True:
            try:
                request = protocol.recv(self.sock)
            except EOFError:
                self.end(0.0)
                return
            if request.get("op") == "fork":
                _, fds, _, _ = socket.recv_fds(self.sock, 1, 1)
                reply = self.fork(request, fds[0]) if len(fds) == 1 else {"ok": False, "error": "no socket came with fork"}
            elif request.get("op") == "end":
                reply = self.end(float(request.get("grace", 0.0)))
            else:
                reply = {"ok": False, "error": f"unknown request {request.get('op')!r}"}
            protocol.send(self.sock, reply)

    def fork(self, request: contract.Fork, fd: int) -> contract.ParentReply:
        self.end(0.0)  # one worker at a time
        pid = os.fork()
        if pid == 0:  # the worker: never returns
            try:
                self.sock.close()
                become_worker(self.config, request, fd, self.drivers)
            finally:
                os._exit(70)
        os.close(fd)
        self.child = pid
        return {"ok": True}

    def end(self, grace: float) -> contract.ParentReply:
        """Kill the worker (after `grace` seconds to exit by itself) and reap it."""
        if self.child is None:
            return {"ok": True, "status": None}
        pid, self.child = self.child, None
        waited, status = 0.0, None
        while waited < grace:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return {"ok": True, "status": os.waitstatus_to_exitcode(status)}
            time.sleep(0.01)
            waited += 0.01
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
        return {"ok": True, "status": os.waitstatus_to_exitcode(status)}


def become_worker(config: contract.ParentConfig, request: contract.Fork, fd: int, drivers) -> None:
    """In a fresh fork of the parent: confine this process, then serve the grading side on `fd`.
    Its output files are opened first (a root worker opens them before it drops root); a worker
    with root's powers that cannot drop them exits (72) before anything of the student's is read."""
    parent = os.getppid()
    confine.die_with_parent(parent, 70)
    os.setsid()  # a session of its own, apart from the parent's
    os.closerange(3, fd)  # nothing of the parent's stays open here but the worker's own socket
    os.closerange(fd + 1, 1 << 16)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    startup = os.open(request["startup"], flags, 0o600)
    out = os.open(request["output"], flags, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.chdir(os.path.dirname(request["output"]))
    sock = socket.socket(fileno=fd)
    if os.geteuid() == 0 and confine.privileged() and config.run_as != (0, 0):
        why = confine.drop_root(config.run_as)
        if why:
            os.write(startup, f"could not drop root: {why}\n".encode())
            os._exit(72)
        confine.die_with_parent(parent, 70)  # the change of user disarmed it
    confine.apply_limits(config.limits, config.gpu)
    if not confine.forbid_processes() and config.require_filter:
        os.write(startup, b"no system-call filter could be installed (is libseccomp, libseccomp2 on Debian, there?)\n")
        os._exit(71)
    os.close(startup)
    sys.path.insert(0, request["submission"])
    seed_everything(zlib.crc32(b"course"))
    Server(request["submission"], request["modules"], drivers).serve(sock)
    os._exit(0)


def load_drivers(config: contract.ParentConfig) -> types.ModuleType | None:
    """The assignment's drivers, made a module (grader.worker.drivers.<id>) from their source."""
    if not config.drivers:
        return None
    name = f"{DRIVERS}.{config.assignment}"
    module = types.ModuleType(name)
    module.__file__ = f"<{name}>"
    sys.modules[name] = module
    setattr(importlib.import_module(DRIVERS), config.assignment, module)  # importable by its name too
    exec(compile(config.drivers, module.__file__, "exec"), module.__dict__)
    return module


def main(argv: list[str]) -> None:
    sock = socket.socket(fileno=int(argv[0]))
    config = contract.ParentConfig.from_message(protocol.recv(sock))
    # first: the grading side may be killed at any moment from here on (under bubblewrap the parent
    # is bwrap, which itself dies with the grading side: --die-with-parent)
    confine.die_with_parent(config.parent, 70)
    sys.dont_write_bytecode = True
    sys.stdin = open(os.devnull)
    for name in config.preload:
        importlib.import_module(name)  # heavy libraries, once for every worker
    drivers = load_drivers(config)
    confine.preload()  # what confinement itself imports, while the parent can still read it
    confine.undumpable()  # a worker of the same user cannot read or write this process's memory
    Parent(config, sock, drivers).serve()
    os._exit(0)
