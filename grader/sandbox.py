"""Confinement of a worker process: OS limits, a system-call filter, and bubblewrap when present.

Three layers, from the outside in:

1. `bwrap_prefix()` (grading side): where `bwrap` is on PATH, the worker starts inside a
   bubblewrap sandbox with every namespace unshared (no network, its own process tree), the
   Python environment and the course package read-only, the submission read-only, and a private
   writable /tmp. Nothing else of the file system is visible.
2. `apply_limits()` (worker side, before student code is imported): address space, CPU seconds,
   file size (which bounds what stdout and stderr can hold), no core files.
3. `forbid_processes()` (worker side): a seccomp filter under which fork, exec, signals to other
   processes, ptrace, new sockets and raising limits fail with EPERM. Threads still work.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import shutil
import signal
import struct
import sys
import sysconfig
from pathlib import Path

from grader.config import Limits

# seccomp: see linux/seccomp.h, linux/filter.h and linux/audit.h.
_LD_ABS, _JEQ, _JSET, _RET = 0x20, 0x15, 0x45, 0x06
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_EPERM, _ENOSYS = 1, 38
_AUDIT_ARCH_X86_64 = 0xC000003E
_CLONE_THREAD = 0x00010000
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2
# x86-64 system call numbers
_DENY = {
    "fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "tkill": 200, "ptrace": 101,
    "setrlimit": 160, "prlimit64": 302, "socket": 41, "process_vm_writev": 311,
}
_CLONE, _CLONE3, _KILL, _TGKILL = 56, 435, 62, 234


def _bpf(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k & 0xFFFFFFFF)


def _filter_program(own_pid: int) -> bytes:
    prog = [
        _bpf(_LD_ABS, 0, 0, 4),  # arch
        _bpf(_JEQ, 1, 0, _AUDIT_ARCH_X86_64),
        _bpf(_RET, 0, 0, _ALLOW),
        _bpf(_LD_ABS, 0, 0, 0),  # syscall number
        _bpf(_JEQ, 0, 1, _CLONE3),  # glibc falls back to clone() for threads on ENOSYS
        _bpf(_RET, 0, 0, _ERRNO | _ENOSYS),
    ]
    for nr in _DENY.values():
        prog += [_bpf(_JEQ, 0, 1, nr), _bpf(_RET, 0, 0, _ERRNO | _EPERM)]
    for nr in (_KILL, _TGKILL):  # signals only to this process
        prog += [
            _bpf(_JEQ, 0, 4, nr),
            _bpf(_LD_ABS, 0, 0, 16),  # low word of args[0]
            _bpf(_JEQ, 0, 1, own_pid),
            _bpf(_RET, 0, 0, _ALLOW),
            _bpf(_RET, 0, 0, _ERRNO | _EPERM),
        ]
    prog += [
        _bpf(_JEQ, 0, 4, _CLONE),  # clone() for a thread is fine, for a process it is not
        _bpf(_LD_ABS, 0, 0, 16),
        _bpf(_JSET, 0, 1, _CLONE_THREAD),
        _bpf(_RET, 0, 0, _ALLOW),
        _bpf(_RET, 0, 0, _ERRNO | _EPERM),
        _bpf(_RET, 0, 0, _ALLOW),
    ]
    return b"".join(prog)


def forbid_processes() -> bool:
    """Install the seccomp filter in this process; False where the platform has none."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    program = _filter_program(os.getpid())
    buf = ctypes.create_string_buffer(program, len(program))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program) // 8, ctypes.addressof(buf))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0


def apply_limits(limits: Limits) -> None:
    """Set this process's resource limits (soft and hard, so they cannot be raised again)."""
    memory = int(limits.memory_mb) * 1024 * 1024
    cpu = int(limits.cpu_s)
    output = int(limits.output_kb) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, it does not kill


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def bwrap_prefix(submission: Path, workdir: Path) -> list[str]:
    """The bwrap command line that runs a worker with only what it needs in view.

    The worker sees: the system's libraries and the Python installation read-only, the course
    package read-only (with every hidden suite replaced by an empty folder; datasets/ is not
    visible, so held-out labels stay on the grading side), the submission read-only at its own path, and `workdir`
    (private to this worker) as its only writable place, mounted at /tmp.
    """
    from grader.paths import PACKAGE, course_root

    readonly = {"/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache", "/etc/alternatives"}
    for key in ("stdlib", "platstdlib", "purelib", "platlib", "include"):
        readonly.add(sysconfig.get_paths()[key])
    readonly |= {sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent)}
    readonly |= {p for p in sys.path if os.path.isabs(p) and Path(p).is_dir() and not p.startswith(str(course_root()))}
    readonly.add(str(PACKAGE))  # not datasets/: held-out labels must stay on the grading side
    argv = [bwrap_path(), "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    # /tmp first: the read-only binds below may lie under /tmp (a checkout or a venv there) and
    # must be mounted on top of it, not hidden by it.
    argv += ["--bind", str(workdir), "/tmp", "--proc", "/proc", "--dev", "/dev"]
    for path in sorted(readonly):
        if os.path.exists(path):
            argv += ["--ro-bind", path, path]
    for hidden in sorted(PACKAGE.glob("suites/*/hidden")):
        argv += ["--tmpfs", str(hidden)]  # hidden tests stay on the grading side
    argv += ["--ro-bind", str(submission), str(submission), "--chdir", "/tmp", "--setenv", "TMPDIR", "/tmp"]
    return argv
