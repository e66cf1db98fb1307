"""The grading side's one interface to student code: a `Submission` and its proxies.

Suites reach student code only through this seam:

    info = submission.module("information")
    info.entropy([0.5, 0.5])                      # call a function
    ctrl = submission.module("pid").PID(kp=1.0)   # construct an object ...
    ctrl.update(0.3)                              # ... and call its methods
    submission.driver("hw2", "train_mlp", ctrl, steps=100)   # run a grader driver beside it

Each call crosses to a warm worker process (`grader.worker`) and returns plain data, or a
`RemoteObject` for anything else. The worker is restarted after a crash or a timeout; a function
that ran past the time limit once is not called again in the same run (it would only time out
again), which keeps a submission with an endless loop from costing one limit per test.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from grader import protocol, sandbox
from grader.paths import SUITES
from grader.config import Limits


class StudentError(Exception):
    """Student code raised, or could not run. `cause` is one of: error, missing, syntax,
    not-implemented, timeout, crash, limit."""

    def __init__(self, message: str, cause: str = "error", type_name: str = "", mro=(), where: str = "", tb: str = ""):
        super().__init__(message)
        self.cause = cause
        self.type_name = type_name
        self.mro = tuple(mro)
        self.where = where
        self.traceback = tb

    def is_a(self, name: str) -> bool:
        """Did the student raise an exception of (a subclass of) the builtin named `name`?"""
        return self.cause == "error" and name in self.mro


def _describe_exit(code: int | None) -> tuple[str, str]:
    if code is None:
        return "crash", "the worker process stopped answering"
    if code < 0:
        sig = -code
        if sig == signal.SIGXCPU:
            return "limit", "the worker ran out of CPU time (CPU-time limit)"
        if sig == signal.SIGKILL:
            return "crash", "the worker process was killed (SIGKILL; often memory)"
        return "crash", f"the worker process died from signal {signal.Signals(sig).name}"
    return "crash", f"the worker process exited with status {code} (sys.exit or os._exit in your code?)"


class Worker:
    """One worker process, started on demand and restarted after it dies."""

    def __init__(self, submission: Path, modules: list[str], limits: Limits, isolation: str, preload=()):
        self.submission = Path(submission).resolve()
        self.modules = list(modules)
        self.limits = limits
        self.isolation = isolation  # "bwrap" or "limits"
        self.preload = list(preload)
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.workdir: Path | None = None
        self.generation = 0
        self.output_seen = 0

    @property
    def output_path(self) -> Path:
        return self.workdir / "output.txt"

    def start(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="course-worker-"))
        parent, child = socket.socketpair()
        inside_out = "/tmp/output.txt" if self.isolation == "bwrap" else str(self.workdir / "output.txt")
        config = {
            "submission": str(self.submission),
            "modules": self.modules,
            "limits": asdict(self.limits),
            "output": inside_out,
            "preload": self.preload,
        }
        argv = [sys.executable, "-I", "-m", "grader.worker", str(child.fileno()), json.dumps(config)]
        cwd = str(self.workdir)
        if self.isolation == "bwrap":
            argv = sandbox.bwrap_prefix(self.submission, self.workdir) + ["--"] + argv
            cwd = None
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp", "OMP_NUM_THREADS": "1",
               "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}
        with open(self.workdir / "startup.txt", "wb") as startup:  # errors before the worker is running
            self.proc = subprocess.Popen(
                argv, pass_fds=[child.fileno()], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=startup, start_new_session=True,
            )
        child.close()
        self.sock = parent
        self.generation += 1
        self.output_seen = 0
        self.imported: set[str] = set()

    def stop(self, grace: float = 0.0) -> int | None:
        """Kill the worker and its process group (after `grace` seconds to exit by itself);
        return its exit status."""
        code = None
        if self.proc is not None:
            if grace:
                try:
                    self.proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    pass
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                code = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
        if self.sock is not None:
            self.sock.close()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.proc = self.sock = self.workdir = None
        return code

    def startup_error(self) -> str:
        """The last line the worker (or bwrap) wrote before it began serving, if any."""
        try:
            lines = (self.workdir / "startup.txt").read_text(errors="replace").strip().splitlines()
        except (OSError, TypeError):
            return ""
        return lines[-1][:300] if lines else ""

    def output_size(self) -> int:
        try:
            return self.output_path.stat().st_size
        except (OSError, AttributeError):
            return 0

    def new_output(self, limit: int = 2000) -> str:
        """What the student printed since the last look (at most `limit` characters)."""
        try:
            with open(self.output_path, "rb") as f:
                f.seek(self.output_seen)
                data = f.read()
        except (OSError, TypeError):
            return ""
        self.output_seen += len(data)
        text = data.decode("utf-8", "replace")
        return text if len(text) <= limit else text[: limit // 2] + "\n...\n" + text[-limit // 2 :]

    def request(self, message: dict, deadline: float):
        """Send one request; return the decoded reply or raise StudentError."""
        if self.proc is None:
            self.start()
        try:
            protocol.send(self.sock, message)
            reply = protocol.recv(self.sock, deadline)
        except TimeoutError:
            self.stop()
            raise StudentError(f"ran past the {self.limits.wall_s:g} s time limit", "timeout") from None
        except (EOFError, OSError, protocol.ProtocolError) as exc:
            startup = self.startup_error()
            cause, text = _describe_exit(self.stop(grace=1.0))
            if startup:
                cause, text = "crash", f"the worker could not start: {startup}"
            if isinstance(exc, protocol.ProtocolError):
                cause, text = "crash", f"the worker sent something that is not plain data ({exc})"
            raise StudentError(text, cause) from None
        if self.output_size() >= self.limits.output_kb * 1024:
            self.stop()
            raise StudentError(f"printed more than the {self.limits.output_kb} KB output limit", "limit")
        if not isinstance(reply, dict) or "ok" not in reply:
            self.stop()
            raise StudentError("the worker sent a malformed reply", "crash")
        if reply["ok"]:
            return reply["value"]
        raise _student_error(reply["error"])


def _student_error(error: dict) -> StudentError:
    t, where = str(error.get("type", "Exception")), str(error.get("where", ""))
    message = str(error.get("message", ""))
    at = f" at {where}" if where else ""
    mro = error.get("mro", ())
    if t == "ModuleNotFoundError" and "No module named" in message:
        return StudentError(f"file not found in the submission: {message.split()[-1].strip(chr(39))}.py", "missing", t, mro)
    if "SyntaxError" in mro:
        return StudentError(f"{t}{at}: {message}", "syntax", t, mro, where)
    if t == "NotImplementedError":
        return StudentError(message or f"NotImplementedError{at}", "not-implemented", t, mro, where)
    if t == "MemoryError":
        return StudentError(f"MemoryError{at}: the worker hit its memory limit", "limit", t, mro, where)
    if t in ("SystemExit", "KeyboardInterrupt"):
        return StudentError(f"{t}{at}: your code tried to exit", "crash", t, mro, where)
    return StudentError(f"{t}{at}: {message}", "error", t, mro, where, str(error.get("traceback", "")))


class Submission:
    """Student code behind the seam; one warm worker, a per-test deadline and a timeout memo."""

    def __init__(self, path: Path, modules: list[str], limits: Limits, isolation: str = "limits", preload=()):
        self.path = Path(path)
        self.limits = limits
        self.worker = Worker(path, modules, limits, isolation, preload)
        self.deadline = time.monotonic() + limits.wall_s
        self.timed_out: dict[str, str] = {}  # what ran past the limit -> the test where it did
        self.current_test = ""
        self.seed = 0

    @property
    def isolation(self) -> str:
        return self.worker.isolation

    def begin_test(self, name: str, seed: int) -> None:
        self.current_test = name
        self.seed = seed
        self.deadline = time.monotonic() + self.limits.wall_s
        self.worker.new_output()
        self._request({"op": "seed", "seed": seed}, key=None)

    def printed(self) -> str:
        return self.worker.new_output()

    def close(self) -> None:
        self.worker.stop()

    def _request(self, message: dict, key: str | None):
        if key is not None and key in self.timed_out:
            raise StudentError(
                f"not run: {key} ran past the time limit in {self.timed_out[key]} and is not called again", "timeout"
            )
        try:
            return self.worker.request(message, self.deadline)
        except StudentError as exc:
            if exc.cause == "timeout" and key is not None:
                self.timed_out[key] = self.current_test
                exc.args = (f"{key} {exc.args[0]}",)
            if exc.cause in ("timeout", "crash", "limit") and message["op"] != "seed":
                self.worker.stop()
            raise

    def _restarted(self) -> None:
        """After a restart the new worker gets the current test's seed before anything else."""
        self.worker.request({"op": "seed", "seed": self.seed}, self.deadline)

    def call(self, message: dict, key: str):
        if self.worker.proc is None:
            self.worker.start()
            self._restarted()
        return protocol.decode(self._request(message, key), self._handle)

    def _handle(self, tag: dict) -> "RemoteObject":
        return RemoteObject(self, int(tag["__handle__"]), str(tag.get("type", "object")), bool(tag.get("callable")))

    def encode_args(self, args, kwargs) -> tuple:
        def keep(obj):
            if isinstance(obj, RemoteObject):
                obj._check_alive()
                return {"__handle__": obj._id}
            raise protocol.ProtocolError(f"cannot send {type(obj).__name__} to student code")

        return protocol.encode(list(args), keep), protocol.encode(dict(kwargs), keep)

    def module(self, name: str) -> "RemoteModule":
        return RemoteModule(self, name)

    def ensure_imported(self, module: str) -> None:
        """Import a student module once per worker, so a module that hangs or fails at import is
        charged once (as `import <module>`), not once per function."""
        if self.worker.proc is not None and module in self.worker.imported:
            return
        self.call({"op": "import", "module": module}, f"import {module}")
        self.worker.imported.add(module)

    def inspect(self) -> dict:
        """The worker's account of the submission (grader.worker.Worker.inspect), after importing
        every student module present: {"modules": [...], "classes": {"module.Class": [mro...]}}."""
        for module in self.worker.modules:
            if (self.path / f"{module}.py").is_file():
                try:
                    self.ensure_imported(module)
                except StudentError:
                    pass
        return self.call({"op": "inspect"}, "inspect")

    def driver(self, assignment: str, name: str, *args, **kwargs):
        """Run `grader/suites/<assignment>/drivers.py:<name>` inside the worker. The student modules
        it imports are imported first, on their own, so one that hangs at import is charged once."""
        for module in driver_imports(assignment, name):
            if (self.path / f"{module}.py").is_file():
                self.ensure_imported(module)
        a, k = self.encode_args(args, kwargs)
        target = ["driver", f"grader.suites.{assignment}.drivers"]
        return self.call({"op": "call", "target": target, "name": name, "args": a, "kwargs": k}, f"driver {name}")


@functools.cache
def driver_imports(assignment: str, name: str) -> tuple[str, ...]:
    """The student modules a driver imports by name (`importlib.import_module("huffman")`), in it or
    in the module-level functions it calls, read from the drivers' source on the grading side."""
    tree = ast.parse((SUITES / assignment / "drivers.py").read_text())
    functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    found, seen, todo = [], set(), [name]
    while todo:
        fn = functions.get(todo.pop())
        if fn is None or fn.name in seen:
            continue
        seen.add(fn.name)
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call):
                continue
            callee = node.func
            if isinstance(callee, ast.Attribute) and callee.attr == "import_module" and node.args \
                    and isinstance(node.args[0], ast.Constant) and node.args[0].value not in found:
                found.append(node.args[0].value)
            elif isinstance(callee, ast.Name):
                todo.append(callee.id)
    return tuple(found)


class _Remote:
    """Attribute access and calls forwarded to the worker."""

    def _target(self) -> list:
        raise NotImplementedError

    def _key(self, name: str) -> str:
        raise NotImplementedError

    def _before(self) -> None:
        """Hook run before each attribute access."""

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        self._before()
        value = self._sub.call({"op": "getattr", "target": self._target(), "name": name}, self._key(name))
        if isinstance(value, dict) and value.get("__callable__") is True:
            return RemoteFunction(self._sub, self._target(), name, self._key(name))
        return value


class RemoteModule(_Remote):
    def __init__(self, sub: Submission, name: str):
        self._sub = sub
        self._name = name

    def _target(self):
        return ["module", self._name]

    def _before(self):
        self._sub.ensure_imported(self._name)

    def _key(self, name):
        return f"{self._name}.{name}"

    def __repr__(self):
        return f"<student module {self._name}>"


class RemoteFunction:
    def __init__(self, sub: Submission, target: list, name: str | None, key: str):
        self._sub, self._target, self._name, self.key = sub, target, name, key

    def __call__(self, *args, **kwargs):
        a, k = self._sub.encode_args(args, kwargs)
        message = {"op": "call", "target": self._target, "name": self._name, "args": a, "kwargs": k}
        return self._sub.call(message, self.key)

    def __repr__(self):
        return f"<student function {self.key}>"


class RemoteObject(_Remote):
    """A student object that stayed in the worker. It equals only itself."""

    def __init__(self, sub: Submission, handle: int, type_name: str, is_callable: bool):
        self._sub = sub
        self._id = handle
        self._type = type_name
        self._callable = is_callable
        self._generation = sub.worker.generation

    def _check_alive(self):
        if self._generation != self._sub.worker.generation or self._sub.worker.proc is None:
            raise StudentError(f"this {self._type} object was lost when the worker restarted", "crash")

    def _target(self):
        self._check_alive()
        return ["handle", self._id]

    def _key(self, name):
        return f"{self._type}.{name}"

    def __call__(self, *args, **kwargs):
        return RemoteFunction(self._sub, self._target(), None, self._type)(*args, **kwargs)

    def __repr__(self):
        return f"<student object of type {self._type}>"
