"""The grading side's one interface to student code: a `Submission` and its proxies.

Suites reach student code only through this seam:

    info = submission.module("information")
    info.entropy([0.5, 0.5])                      # call a function
    ctrl = submission.module("pid").PID(kp=1.0)   # construct an object ...
    ctrl.update(0.3)                              # ... and call its methods
    submission.driver("train_mlp", ctrl, steps=100)   # run one of the assignment's drivers beside it

Each call crosses to the submission's worker process (`grader.worker`, forked from a warm parent
that is kept for the next submission) and returns plain data, or a `RemoteObject` for anything
else. The worker is forked again after a crash or a timeout; a function
that ran past the time limit once is not called again in the same run (it would only time out
again), which keeps a submission with an endless loop from costing one limit per test.
"""

from __future__ import annotations

import ast
import atexit
import dataclasses
import functools
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from grader import paths, sandbox
from grader.errors import StudentError
from grader.worker import contract, protocol
from grader.worker.contract import Limits

if TYPE_CHECKING:
    from grader.config import Assignment


MB = 1024 * 1024
WORKER_USER = "COURSE_WORKER_USER"  # the user a fallback worker becomes when grading runs as root
# `python -I -c WORKER_MAIN PATH FD`: grader.worker's entry (grader/worker/__main__.py), importing
# grader from PATH, the folder that holds the grading side's own package
WORKER_MAIN = "import sys; sys.path.insert(0, sys.argv.pop(1)); from grader.worker.server import main; main(sys.argv[1:])"


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


def worker_user() -> str:
    """The name of the user a fallback worker becomes when grading runs as root."""
    return os.environ.get(WORKER_USER) or "nobody"


def unprivileged_ids() -> tuple[int, int]:
    """(uid, gid) of the user a fallback worker becomes when grading runs as root: the one named
    by COURSE_WORKER_USER (default nobody), in its primary group. A StudentError naming the
    problem where there is no such user or it is root: then no student code runs."""
    name = worker_user()
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise StudentError(f"the worker could not drop root: no user {name!r} (set {WORKER_USER})", "crash") from None
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise StudentError(f"the worker could not drop root: user {name!r} is root (set {WORKER_USER})", "crash")
    return entry.pw_uid, entry.pw_gid


def unreadable_for(run_as: tuple[int, int], folders: Collection[str]) -> str:
    """The first of `folders` (Python's, the package's) that user and group `run_as` cannot read, or
    a folder on the way it cannot pass; "" where it reads them all (judged by their modes)."""
    uid, gid = run_as

    def allows(path: str, bits: int) -> bool:
        try:
            st = os.stat(path)
        except OSError:
            return True  # nothing there to read
        shift = 6 if st.st_uid == uid else 3 if st.st_gid == gid else 0
        return (st.st_mode >> shift) & bits == bits

    for folder in folders:
        if not os.path.isabs(folder) or not os.path.isdir(folder):
            continue
        parts = Path(folder).parts
        for i in range(1, len(parts)):
            if not allows(str(Path(*parts[:i])), 1):
                return str(Path(*parts[:i]))
        if not allows(folder, 5):
            return folder
    return ""


_WARNED: set[str] = set()


def worker_ids() -> tuple[tuple[int, int] | None, str]:
    """(run_as, error) for a fallback worker started by root: the unprivileged user's ids, or
    (0, 0) where that user cannot read Python's files (said once on stderr: student code then runs
    as root), or (None, why) where there is no such user (then no student code runs)."""
    try:
        run_as = unprivileged_ids()
    except StudentError as exc:
        return None, str(exc)
    blocked = unreadable_for(run_as, [*sys.path, str(paths.PACKAGE.parent)])
    if blocked:
        name = worker_user()
        if blocked not in _WARNED:
            _WARNED.add(blocked)
            print(
                f"course: warning: student code runs as root: user {name!r} cannot read {blocked} (Python's files)",
                file=sys.stderr,
            )
        return (0, 0), ""
    return run_as, ""


class ParentProcess:
    """A warm parent (grader.worker.server.Parent) and the folders it works in, on the grading side.

    One per grading process and assignment configuration, started on first use and kept warm:
    each submission's worker is forked from it (`fork`), ended by it (`end`), and the scratch
    folder it shares with its workers is emptied in between (`clean`), so a worker starts with
    nothing that an earlier one left. Under bubblewrap the student's files are copied into
    `staged` (seen as /submission) before the fork; nothing else of any student is ever there.
    A fallback parent run by root (`config.run_as`) stages them too, readable by the unprivileged
    user its workers become, and gives that user the scratch folder before each worker.
    """

    def __init__(self, config: contract.ParentConfig, isolation: str):
        self.config = config
        self.isolation = isolation  # "bwrap" or "limits"
        self.owner = os.getpid()
        self.home = Path(tempfile.mkdtemp(prefix="course-worker-"))
        self.scratch = self.home / "tmp"  # /tmp of the workers under bubblewrap
        self.staged = self.home / "submission"
        self.scratch.mkdir()
        self.staged.mkdir()
        self.run_as = config.run_as if isolation != "bwrap" and config.run_as != (0, 0) else None
        if self.run_as is not None:
            os.chmod(self.home, 0o711)  # the worker's user passes through to tmp/ and submission/
            os.chmod(self.staged, 0o755)
            self.give_scratch()
        parent, child = socket.socketpair()
        # the worker imports the package this process imports (a course root's own grader/, or
        # the installed one): its folder first on the path; -I leaves out everything else of ours
        argv = [sys.executable, "-I", "-c", WORKER_MAIN, str(paths.PACKAGE.parent), str(child.fileno())]
        cwd: str | None = str(self.scratch)
        self.mountpoints: set[Path] = set()  # bubblewrap's, inside the scratch folder: kept by clean()
        if isolation == "bwrap":
            prefix = sandbox.bwrap_prefix(self.scratch, self.staged, config.gpu)
            self.mountpoints = {
                self.scratch / d.relative_to("/tmp")
                for d in sandbox.mount_targets(prefix)
                if d != Path("/tmp") and d.is_relative_to("/tmp")
            }
            argv = prefix + ["--"] + argv
            cwd = None
        env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": "/tmp",
            "OMP_NUM_THREADS": "1",
            "MPLBACKEND": "Agg",
            "PYTHONHASHSEED": "0",
        }
        if isolation != "bwrap":  # temporary files go to the scratch folder, where scratch_mb counts them
            env["TMPDIR"] = str(self.scratch)
        with open(self.home / "startup.txt", "wb") as startup:  # errors before the parent is serving
            self.proc = subprocess.Popen(
                argv,
                pass_fds=[child.fileno()],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=startup,
                stderr=startup,
                start_new_session=True,
            )
        child.close()
        self.sock = parent
        self.bwrap_exe = os.path.realpath(sandbox.bwrap_path() or "/") if isolation == "bwrap" else None
        protocol.send(self.sock, config.to_message())

    def alive(self) -> bool:
        return self.proc.poll() is None

    def worker_pid(self) -> int | None:
        """The current worker's pid as this machine sees it: the child of the parent's Python
        process (under bubblewrap, below bwrap's own two processes)."""
        todo = [self.proc.pid]
        while todo:
            pid = todo.pop(0)
            children = _children(pid)
            if self.bwrap_exe is None or _exe(pid) != self.bwrap_exe:
                return children[0] if children else None
            todo += children
        return None

    def inside(self, path: Path) -> Path:
        """Where a worker sees `path` of the scratch folder."""
        return Path("/tmp") / path.relative_to(self.scratch) if self.isolation == "bwrap" else path

    def fork(self, submission: Path, modules: list[str]) -> socket.socket:
        """A new worker for `submission`; its socket. The previous worker, if any, is ended first."""
        if self.isolation == "bwrap" or self.run_as is not None:
            _remove_contents(self.staged)
            _stage(submission, self.staged)
            seen_as = sandbox.SUBMISSION if self.isolation == "bwrap" else str(self.staged)
        else:
            seen_as = str(submission)
        ours, theirs = socket.socketpair()
        request: contract.Fork = {
            "op": "fork",
            "submission": seen_as,
            "modules": list(modules),
            "output": str(self.inside(self.scratch / "output.txt")),
            "startup": str(self.inside(self.scratch / "startup.txt")),
        }
        try:
            protocol.send(self.sock, request, time.monotonic() + 60)
            socket.send_fds(self.sock, [b"F"], [theirs.fileno()])
            reply = protocol.recv(self.sock, time.monotonic() + 60)
        finally:
            theirs.close()
        if not reply.get("ok"):
            ours.close()
            raise protocol.ProtocolError(str(reply.get("error", "the parent refused to fork")))
        return ours

    def end(self, grace: float = 0.0) -> int | None:
        """Kill the current worker (after `grace` seconds to exit by itself): its exit status, None
        if the parent itself is gone (then it is stopped, and the next fork starts another)."""
        try:
            protocol.send(self.sock, {"op": "end", "grace": grace})
            reply = protocol.recv(self.sock, time.monotonic() + grace + 30)
        except (OSError, EOFError, TimeoutError, protocol.ProtocolError):
            self.stop()
            return None
        return reply.get("status")

    def clean(self) -> None:
        """Empty the scratch folder (and the staged submission): nothing carries to the next worker.
        Where the course or Python lies under /tmp, bubblewrap's mount points for it are folders in
        the scratch folder: those stay (the parent's view of the package hangs on them), and
        everything else in the folders on the way to them goes."""
        _remove_contents(self.scratch, self.mountpoints)
        _remove_contents(self.staged)
        if self.run_as is not None:
            self.give_scratch()

    def give_scratch(self) -> None:
        """The scratch folder, the worker's user's own (mode 0o700), whatever the last worker did to it."""
        assert self.run_as is not None
        fd = os.open(self.scratch, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fchown(fd, *self.run_as)
            os.fchmod(fd, 0o700)
        finally:
            os.close(fd)

    def startup_error(self) -> str:
        return _last_line(self.home / "startup.txt")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.sock.close()
        _remove(self.home)


_PARENTS: dict[str, ParentProcess] = {}  # warm parents of this grading process, by configuration


def warm_parent(config: contract.ParentConfig, isolation: str) -> ParentProcess:
    """This process's warm parent for `config`, started if there is none (or it died); parents of
    other configurations are stopped (a grading process works on one assignment at a time)."""
    key = json.dumps([isolation, config.to_message()], sort_keys=True)
    for other in [k for k, p in _PARENTS.items() if p.owner != os.getpid()]:
        del _PARENTS[other]  # inherited from the process this one was forked from: not ours
    parent = _PARENTS.get(key)
    if parent is not None and not parent.alive():
        parent.stop()
        parent = None
    if parent is None:
        for other in list(_PARENTS):
            _PARENTS.pop(other).stop()
        parent = _PARENTS[key] = ParentProcess(config, isolation)
    return parent


@atexit.register
def stop_parents() -> None:
    for key in list(_PARENTS):
        parent = _PARENTS.pop(key)
        if parent.owner == os.getpid():
            parent.stop()


STAGED_MB = 256  # the most a submission folder may hold (bubblewrap copies it for its worker)


def _stage(submission: Path, into: Path) -> None:
    """Copy a submission folder for a worker under bubblewrap: files and folders, symlinks as
    links (a link then points where it points inside the sandbox), no caches; readable by every user
    (a fallback worker run by root reads them as an unprivileged one)."""
    total = 0
    for folder, dirs, files in os.walk(submission):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        rel = Path(folder).relative_to(submission)
        (into / rel).mkdir(exist_ok=True)
        os.chmod(into / rel, 0o755)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            src = os.path.join(folder, name)
            if os.path.islink(src):
                os.symlink(os.readlink(src), into / rel / name)
            elif os.path.isfile(src):
                total += os.path.getsize(src)
                if total > STAGED_MB * MB:
                    raise StudentError(f"the submission folder holds more than {STAGED_MB} MB", "limit")
                shutil.copyfile(src, into / rel / name, follow_symlinks=False)
                os.chmod(into / rel / name, 0o644)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]


def _remove_contents(folder: Path, keep: Collection[Path] = ()) -> None:
    """Remove everything in `folder` but the folders in `keep` (and the folders on the way to them,
    emptied of anything else)."""
    for entry in list(os.scandir(folder)) if folder.is_dir() else ():
        path = Path(entry.path)
        if path in keep:
            continue
        if entry.is_dir(follow_symlinks=False) and any(k.is_relative_to(path) for k in keep):
            _remove_contents(path, keep)
        elif entry.is_dir(follow_symlinks=False):
            _remove(path)
        else:
            try:
                path.unlink()
            except OSError:
                pass


def _last_line(path: Path) -> str:
    try:
        with _open_own(path) as f:
            lines = f.read(64 * 1024).decode(errors="replace").strip().splitlines()
    except (OSError, TypeError):
        return ""
    return lines[-1][:300] if lines else ""


class _Child:
    """The worker a warm parent forked, as the grading side sees it (for `Worker.proc`)."""

    def __init__(self, parent: ParentProcess):
        self.parent = parent
        self.pid = parent.worker_pid()  # its pid on this machine (None: not found, it died at once)


class Worker:
    """The current worker of one submission, forked from the warm parent; forked again after it
    dies, and ended (its scratch emptied) when the submission is done.

    While it waits for a reply the grading side looks at the worker every
    `protocol.WAIT_SLICE` seconds (never on a reply that comes at once) and ends it when it is
    over `limits.threads` (threads of the parent's process tree, bwrap's own processes aside) or
    `limits.scratch_mb` (the scratch folder: /tmp and HOME under bubblewrap; cwd and TMPDIR in the
    fallback, which has no private /tmp; output.txt and startup.txt included, every file or
    folder counting at least 4 KB).
    A reply frame over `limits.reply_mb` is refused before it is read.
    """

    def __init__(
        self,
        submission: Path,
        modules: list[str],
        limits: Limits,
        isolation: str,
        preload=(),
        assignment: str = "",
        drivers: str = "",
        gpu: bool = False,
    ):
        self.submission = Path(submission).resolve()
        self.modules = list(modules)
        self.limits = limits
        self.isolation = isolation  # "bwrap" or "limits"
        # grading as root without bubblewrap: the worker becomes an unprivileged user, or never starts
        self.drop_error = ""
        run_as = None
        if isolation != "bwrap" and os.geteuid() == 0:
            run_as, self.drop_error = worker_ids()
        self.config = contract.ParentConfig(
            assignment=assignment,
            limits=limits,
            preload=tuple(preload),
            drivers=drivers,
            require_filter=sys.platform == "linux",  # a report never claims a filter that is not there
            # the fallback parent dies with this process (PR_SET_PDEATHSIG: strictly, with the thread
            # that starts it, so start parents from a thread that outlives them); under bwrap its
            # parent is bwrap, which has --die-with-parent
            parent=None if isolation == "bwrap" else os.getpid(),
            gpu=gpu,
            run_as=run_as,
        )
        self.parent: ParentProcess | None = None
        self.proc: _Child | None = None
        self.sock: socket.socket | None = None
        self.workdir: Path | None = None
        self.generation = 0
        self.output_seen = 0
        self.imported: set[str] = set()

    @property
    def output_path(self) -> Path:
        if self.workdir is None:
            raise FileNotFoundError("the worker is not running")
        return self.workdir / "output.txt"

    def prepare(self) -> None:
        """Start (or find) the warm parent, without waiting for it to be ready."""
        self.parent = warm_parent(self.config, self.isolation)

    def start(self) -> None:
        if self.drop_error:
            raise StudentError(self.drop_error, "crash")
        self.prepare()
        assert self.parent is not None
        try:
            self.sock = self.parent.fork(self.submission, self.modules)
        except (OSError, EOFError, TimeoutError, protocol.ProtocolError) as exc:
            startup = self.parent.startup_error()
            self.parent.stop()
            raise StudentError(f"the worker could not start: {startup or exc}", "crash") from None
        self.proc = _Child(self.parent)
        self.workdir = self.parent.scratch
        self.generation += 1
        self.output_seen = 0
        self.imported = set()

    def stop(self, grace: float = 0.0) -> int | None:
        """End the worker (after `grace` seconds to exit by itself) and empty its scratch folder;
        return its exit status."""
        code = None
        if self.proc is not None and self.parent is not None:
            code = self.parent.end(grace)
            if self.parent.alive():
                self.parent.clean()
        if self.sock is not None:
            self.sock.close()
        self.proc = self.sock = self.workdir = None
        return code

    def startup_error(self) -> str:
        """The last line the worker (or its parent, or bwrap) wrote before it began serving, if any."""
        if self.workdir is None or self.parent is None:
            return ""
        return _last_line(self.workdir / "startup.txt") or self.parent.startup_error()

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
        assert self.parent is not None
        total, todo = 0, [self.parent.proc.pid]
        while todo and total <= stop_above:
            pid = todo.pop()
            try:
                with open(f"/proc/{pid}/status", "rb") as f:
                    status = f.read()
            except OSError:
                continue  # gone
            if self.parent.bwrap_exe is None or _exe(pid) != self.parent.bwrap_exe:
                at = status.find(b"\nThreads:")
                total += int(status[at + 9 : status.index(b"\n", at + 1)]) if at >= 0 else 1
                if total > stop_above:
                    break
            todo += _children(pid)
        return total

    def scratch_bytes(self, stop_above: int) -> int:
        """Disk space the workdir holds (every file or folder counting at least 4 KB, so many
        empty files count too); the walk stops once the count is past `stop_above`."""
        if self.workdir is None:
            return 0
        workdir = self.workdir
        total, todo = 0, [str(workdir)]
        while todo and total <= stop_above:
            folder = todo.pop()
            try:
                entries = os.scandir(folder)
            except PermissionError:  # a folder the student made unreadable: it is ours, open it
                try:
                    _unlock(workdir, folder)
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

    def request(self, message: contract.Request, deadline: float):
        """Send one request; return the decoded reply or raise StudentError."""
        if self.proc is None:
            self.start()
        assert self.sock is not None
        try:
            protocol.send(self.sock, message, deadline)  # a large request waits for the worker to read it, up to the deadline
            reply = protocol.recv(self.sock, deadline, self.limits.reply_mb * MB, self.check_resources)
        except TimeoutError:
            self.stop()
            raise StudentError(f"ran past the {self.limits.wall_s:g} s time limit", "timeout") from None
        except _OverLimit as exc:
            self.stop()
            raise StudentError(str(exc), "limit") from None
        except protocol.FrameTooLarge as exc:
            self.stop()
            raise StudentError(
                f"the reply of {-(-exc.size // MB)} MB exceeds the {self.limits.reply_mb} MB limit", "limit"
            ) from None
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
        raise _student_error(reply["error"], self.modules)


def _open_own(path: Path):
    """Open a file the worker writes (output.txt, startup.txt) for reading, refusing what a
    student could put in its place: a symlink (to a file of the grading side) or a fifo."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path} is not a regular file")
    return os.fdopen(fd, "rb")


def _children(pid: int) -> list[int]:
    """The pids of a process's children, through /proc/PID/task/TID/children (none if it is gone)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                found += [int(c) for c in f.read().split()]
        except OSError:
            pass  # a thread that ended meanwhile
    return found


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


def _shown_where(where: str, message: str) -> tuple[str, str]:
    """(where, " at where" or "") as the student sees it: in a notebook, the cell and the line in
    it (`grader.notebook.cell_place`) instead of the module the notebook was written out as; no
    " at" where the message already starts with that place (a syntax error's stand-in says it)."""
    from grader.notebook import cell_place

    where = cell_place(where) or where
    return where, (f" at {where}" if where and not message.startswith(f"{where},") else "")


def _student_error(error: dict, modules: list[str]) -> StudentError:
    t = str(error.get("type", "Exception"))
    message = str(error.get("message", ""))
    where, at = _shown_where(str(error.get("where", "")), message)
    mro = error.get("mro", ())
    if t == "ModuleNotFoundError" and message.split("No module named ")[-1].strip("'") in modules:
        return StudentError(f"file not found in the submission: {message.split()[-1].strip(chr(39))}.py", "missing", t, mro)
    if "SyntaxError" in mro:
        return StudentError(f"{t}{at}: {message}", "syntax", t, mro, where)
    if t == "NotImplementedError":
        return StudentError(message or f"NotImplementedError{at}", "not-implemented", t, mro, where)
    if t == "MemoryError" or (t == "RuntimeError" and "can't allocate memory" in message):  # torch's allocator says it so
        return StudentError(f"{t}{at}: the worker hit its memory limit", "limit", t, mro, where)
    if t in ("SystemExit", "KeyboardInterrupt"):
        return StudentError(f"{t}{at}: your code tried to exit", "crash", t, mro, where)
    return StudentError(f"{t}{at}: {message}", "error", t, mro, where, str(error.get("traceback", "")))


@dataclasses.dataclass(frozen=True)
class Pending:
    """A request made ready for `Submission.batch`, and the name its time is charged to."""

    message: contract.Single
    key: str


class Submission:
    """Student code behind the seam; one worker, a per-test deadline and a timeout memo."""

    def __init__(
        self,
        path: Path,
        modules: list[str],
        limits: Limits,
        isolation: str = "limits",
        preload=(),
        assignment: str = "",
        drivers: str = "",
        device: str = "cpu",
    ):
        self.path = Path(path)
        self.limits = limits
        self.device = device  # where drivers run the student's training ("cpu", "cuda", "cuda:1")
        self.worker = Worker(path, modules, limits, isolation, preload, assignment, drivers, device != "cpu")
        self.worker.prepare()  # the parent starts now, while the grading side collects its tests
        self.deadline = time.monotonic() + limits.wall_s
        self.timed_out: dict[str, str] = {}  # what ran past the limit -> the test where it did
        self.current_test = ""
        self.seed = 0

    @classmethod
    def of(
        cls,
        assignment: Assignment,
        path: Path,
        isolation: str = "limits",
        limits: Limits | None = None,
        device: str = "cpu",
    ) -> Submission:
        """A submission of `assignment`: its modules, limits, preloads and drivers; its training on `device`."""
        return cls(
            path,
            list(assignment.modules),
            limits or assignment.limits,
            isolation,
            assignment.preload,
            assignment.id,
            paths.drivers_source(assignment),
            device,
        )

    @property
    def isolation(self) -> str:
        return self.worker.isolation

    def begin_test(self, name: str, seed: int) -> None:
        self.current_test = name
        self.seed = seed
        self.deadline = time.monotonic() + self.limits.wall_s
        self.worker.new_output()
        self._request(contract.seed(seed), key=None)

    def printed(self) -> str:
        return self.worker.new_output()

    def close(self) -> None:
        self.worker.stop()

    def _refuse_if_timed_out(self, key: str | None) -> None:
        """A StudentError ("timeout") for what ran past the time limit earlier in this run."""
        if key is not None and key in self.timed_out:
            raise StudentError(
                f"not run: {key} ran past the time limit in {self.timed_out[key]} and is not called again", "timeout"
            )

    def _request(self, message: contract.Request, key: str | None):
        self._refuse_if_timed_out(key)
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
        self.worker.request(contract.seed(self.seed), self.deadline)

    def call(self, message: contract.Request, key: str):
        if self.worker.proc is None:
            self.worker.start()
            self._restarted()
        return protocol.decode(self._request(message, key), self._handle)

    def _handle(self, tag: dict) -> RemoteObject:
        return RemoteObject(self, int(tag["__handle__"]), str(tag.get("type", "object")), bool(tag.get("callable")))

    def encode_args(self, args, kwargs) -> tuple:
        def keep(obj):
            if isinstance(obj, RemoteObject):
                obj._check_alive()
                return {"__handle__": obj._id}
            raise protocol.ProtocolError(f"cannot send {type(obj).__name__} to student code")

        return protocol.encode(list(args), keep), protocol.encode(dict(kwargs), keep)

    def module(self, name: str) -> RemoteModule:
        return RemoteModule(self, name)

    def ensure_imported(self, module: str) -> None:
        """Import a student module once per worker, so a module that hangs or fails at import is
        charged once (as `import <module>`), not once per function. The assignment's modules it
        imports are imported first, each on its own: a module that hangs at import costs its time
        limit once, not once more for every module that imports it (a notebook's modules all do)."""
        self._ensure_imported(module, set())

    def _ensure_imported(self, module: str, importing: set[str]) -> None:
        """`importing`: the modules whose imports are on the way here (two student modules may
        import each other; Python imports such a pair once, and so does this)."""
        if self.worker.proc is not None and module in self.worker.imported:
            return
        importing.add(module)
        for other in student_imports(self.path / f"{module}.py", tuple(self.worker.modules)):
            if other not in importing and (self.path / f"{other}.py").is_file():
                self._ensure_imported(other, importing)
        self.call(contract.import_(module), f"import {module}")
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
        return self.call(contract.inspect(), "inspect")

    def driver(self, name: str, *args, **kwargs):
        """Run `name` of the assignment's drivers (grader/worker/drivers/<id>.py) inside the worker.
        The student modules it imports are imported first, on their own, so one that hangs at
        import is charged once."""
        return self.batch([self.pending_driver(name, *args, **kwargs)])[0]

    # -- several requests in one round trip ---------------------------------------------------
    def pending_driver(self, name: str, *args, **kwargs) -> Pending:
        """`driver(name, ...)`, to be sent in a batch."""
        for module in driver_imports(self.worker.config.drivers, name):
            if (self.path / f"{module}.py").is_file():
                self.ensure_imported(module)
        a, k = self.encode_args(args, kwargs)
        return Pending(contract.call(["drivers", None], name, a, k), f"driver {name}")

    def pending_attr(self, obj: _Remote, name: str) -> Pending:
        """`obj.name` of a student object or module (its value as it is when the batch gets
        there), to be sent in a batch."""
        obj._before()
        return Pending(contract.getattr_(obj._target(), name), obj._key(name))

    def pending_call(self, obj: _Remote, name: str, *args, **kwargs) -> Pending:
        """`obj.name(*args, **kwargs)` of a student object or module, to be sent in a batch."""
        obj._before()
        a, k = self.encode_args(args, kwargs)
        return Pending(contract.call(obj._target(), name, a, k), obj._key(name))

    def batch(self, pending: list[Pending], key: str | None = None) -> list:
        """Run `pending` in the worker in one round trip, in order, as if one by one: their
        values. The first that raises stops the batch and is raised here. A batch that runs past
        the time limit is charged to `key` (by default the one request's own)."""
        for p in pending:
            self._refuse_if_timed_out(p.key)
        key = key or " and ".join(dict.fromkeys(p.key for p in pending))
        if len(pending) == 1:
            return [self.call(pending[0].message, key)]
        values = self.call(contract.batch([p.message for p in pending]), key)
        if type(values) is not list or len(values) != len(pending):
            self.worker.stop()
            raise StudentError("the worker sent a malformed reply", "crash")
        return values


def student_imports(path: Path, modules: tuple[str, ...]) -> list[str]:
    """The assignment's modules that a student module imports at its top level, in order, read
    from its source here (not run); none if the file cannot be read or parsed."""
    try:
        if os.stat(path, follow_symlinks=False).st_size > 2_000_000:
            return []
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError, RecursionError):
        return []
    found: list[str] = []
    for node in tree.body:
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module]
            if isinstance(node, ast.ImportFrom) and node.module and not node.level
            else []
        )
        found += [n for n in names if n in modules and n not in found]
    return found


@functools.cache
def driver_imports(source: str, name: str) -> tuple[str, ...]:
    """The student modules a driver imports by name (`importlib.import_module("huffman")`), in it or
    in the module-level functions it calls, read from the drivers' source on the grading side."""
    tree = ast.parse(source)
    functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    found: list[str] = []
    seen: set[str] = set()
    todo = [name]
    while todo:
        fn = functions.get(todo.pop())
        if fn is None or fn.name in seen:
            continue
        seen.add(fn.name)
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call):
                continue
            callee = node.func
            if (
                isinstance(callee, ast.Attribute)
                and callee.attr == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and node.args[0].value not in found
            ):
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
        value = self._sub.call(contract.getattr_(self._target(), name), self._key(name))
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
        return self._sub.call(contract.call(self._target, self._name, a, k), self.key)

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
