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
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from grader import protocol, sandbox
from grader.paths import SUITES
from grader.config import Limits
from grader.errors import StudentError  # noqa: F401  (raised here; importable from here too)


MB = 1024 * 1024


class _OverLimit(Exception):
    """A worker went over a limit the grading side checks while it waits (threads, scratch)."""


def _describe_exit(code: int | None, isolation: str = "limits") -> tuple[str, str]:
    if code is None:
        return "crash", "the worker process stopped answering"
    if isolation == "bwrap" and 128 < code < 128 + 65:
        code = 128 - code  # bwrap exits with 128 + N when the worker dies from signal N
    if code < 0:
        sig = -code
        if sig == signal.SIGXCPU:
            return "limit", "the worker ran out of CPU time (CPU-time limit)"
        if sig == signal.SIGKILL:
            return "crash", "the worker process was killed (SIGKILL; often memory)"
        if sig == signal.SIGSYS:
            return "crash", "the worker process was killed for a forbidden system call (SIGSYS)"
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return "crash", f"the worker process died from signal {name}"
    return "crash", f"the worker process exited with status {code} (sys.exit or os._exit in your code?)"


class Worker:
    """One worker process, started on demand and restarted after it dies.

    While it waits for a reply the grading side looks at the worker every
    `protocol.WAIT_SLICE` seconds (never on a reply that comes at once) and kills it when it is
    over `limits.threads` (threads of its process tree, bwrap's own processes aside) or
    `limits.scratch_mb` (its workdir: /tmp and HOME under bubblewrap; cwd and TMPDIR in the
    fallback, which has no private /tmp; output.txt and startup.txt included, every file or
    folder counting at least 4 KB).
    A reply frame over `limits.reply_mb` is refused before it is read.
    """

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
            "require_filter": sys.platform == "linux",  # a report never claims a filter that is not there
            # the fallback worker dies with this process (PR_SET_PDEATHSIG: strictly, with the thread
            # that starts it, so start workers from a thread that outlives them); under bwrap its
            # parent is bwrap, which has --die-with-parent
            "parent": None if self.isolation == "bwrap" else os.getpid(),
        }
        argv = [sys.executable, "-I", "-m", "grader.worker", str(child.fileno()), json.dumps(config)]
        cwd = str(self.workdir)
        if self.isolation == "bwrap":
            argv = sandbox.bwrap_prefix(self.submission, self.workdir) + ["--"] + argv
            cwd = None
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp", "OMP_NUM_THREADS": "1",
               "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}
        if self.isolation != "bwrap":  # temporary files go to the workdir, where scratch_mb counts them
            env["TMPDIR"] = cwd
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
        self._bwrap_exe = os.path.realpath(sandbox.bwrap_path() or "/") if self.isolation == "bwrap" else None

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
            _remove(self.workdir)
        self.proc = self.sock = self.workdir = None
        return code

    def startup_error(self) -> str:
        """The last line the worker (or bwrap) wrote before it began serving, if any."""
        try:
            with _open_own(self.workdir / "startup.txt") as f:
                lines = f.read(64 * 1024).decode(errors="replace").strip().splitlines()
        except (OSError, TypeError):
            return ""
        return lines[-1][:300] if lines else ""

    def output_size(self) -> int:
        try:
            return os.stat(self.output_path, follow_symlinks=False).st_size
        except (OSError, AttributeError):
            return 0

    def new_output(self, limit: int = 2000) -> str:
        """What the student printed since the last look (at most `limit` characters)."""
        try:
            with _open_own(self.output_path) as f:
                f.seek(self.output_seen)
                data = f.read(self.limits.output_kb * 1024)
        except (OSError, TypeError):
            return ""
        self.output_seen += len(data)
        text = data.decode("utf-8", "replace")
        return text if len(text) <= limit else text[: limit // 2] + "\n...\n" + text[-limit // 2 :]

    def threads(self, stop_above: int) -> int:
        """Threads of the worker's process tree (bwrap's own processes aside), found through
        /proc/PID/task/TID/children; the count stops once it is past `stop_above`."""
        total, todo = 0, [self.proc.pid]
        while todo and total <= stop_above:
            pid = todo.pop()
            try:
                with open(f"/proc/{pid}/status", "rb") as f:
                    status = f.read()
                tasks = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue  # gone
            if self._bwrap_exe is None or _exe(pid) != self._bwrap_exe:
                at = status.find(b"\nThreads:")
                total += int(status[at + 9 : status.index(b"\n", at + 1)]) if at >= 0 else 1
                if total > stop_above:
                    break
            for tid in tasks:
                try:
                    with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                        todo += [int(c) for c in f.read().split()]
                except OSError:
                    pass
        return total

    def scratch_bytes(self, stop_above: int) -> int:
        """Disk space the workdir holds (every file or folder counting at least 4 KB, so many
        empty files count too); the walk stops once the count is past `stop_above`."""
        total, todo = 0, [str(self.workdir)]
        while todo and total <= stop_above:
            folder = todo.pop()
            try:
                entries = os.scandir(folder)
            except PermissionError:  # a folder the student made unreadable: it is ours, open it
                try:
                    _unlock(self.workdir, folder)
                    entries = os.scandir(folder)
                except OSError:
                    continue
            except OSError:
                continue
            with entries:
                for entry in entries:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += max(4096, st.st_blocks * 512)
                    if entry.is_dir(follow_symlinks=False):
                        todo.append(entry.path)
                    if total > stop_above:
                        break
        return total

    def check_resources(self) -> None:
        """Raise _OverLimit when the worker is over its thread or scratch limit."""
        if self.threads(self.limits.threads) > self.limits.threads:
            raise _OverLimit(f"started more than {self.limits.threads} threads")
        if self.scratch_bytes(self.limits.scratch_mb * MB) > self.limits.scratch_mb * MB:
            raise _OverLimit(f"wrote more than the {self.limits.scratch_mb} MB scratch-space limit")

    def request(self, message: dict, deadline: float):
        """Send one request; return the decoded reply or raise StudentError."""
        if self.proc is None:
            self.start()
        try:
            protocol.send(self.sock, message)
            reply = protocol.recv(self.sock, deadline, self.limits.reply_mb * MB, self.check_resources)
        except TimeoutError:
            self.stop()
            raise StudentError(f"ran past the {self.limits.wall_s:g} s time limit", "timeout") from None
        except _OverLimit as exc:
            self.stop()
            raise StudentError(str(exc), "limit") from None
        except protocol.FrameTooLarge as exc:
            self.stop()
            raise StudentError(f"the reply of {-(-exc.size // MB)} MB exceeds the {self.limits.reply_mb} MB limit", "limit") from None
        except (EOFError, OSError, protocol.ProtocolError) as exc:
            startup = self.startup_error()
            cause, text = _describe_exit(self.stop(grace=1.0), self.isolation)
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


def _open_own(path: Path):
    """Open a file the worker writes (output.txt, startup.txt) for reading, refusing what a
    student could put in its place: a symlink (to a file of the grading side) or a fifo."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path} is not a regular file")
    return os.fdopen(fd, "rb")


def _exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def _unlock(root: Path, folder: str) -> None:
    """Make `folder`, inside a worker's workdir `root`, ours to read and write again (0o700).
    Each component is opened without following symlinks, so a student cannot point this chmod
    at anything outside the workdir."""
    flags = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(root, flags)
    try:
        for part in Path(folder).relative_to(root).parts:
            inner = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.chmod(f"/proc/self/fd/{fd}", 0o700)
    finally:
        os.close(fd)


def _remove(folder: Path) -> None:
    """Remove a worker's workdir, with any folder the student made unreadable or unwritable."""
    shutil.rmtree(folder, ignore_errors=True)  # does not follow symlinks
    todo = [str(folder)] if os.path.lexists(folder) else []
    while todo:
        path = todo.pop()
        try:
            _unlock(folder, path)
            with os.scandir(path) as entries:
                todo += [e.path for e in entries if e.is_dir(follow_symlinks=False)]
        except (OSError, ValueError):
            pass
    shutil.rmtree(folder, ignore_errors=True)


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
        """The worker's account of the submission (grader.worker.Server.inspect), after importing
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
