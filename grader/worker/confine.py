"""What a worker does to itself before student code runs: OS limits and a system-call filter.

The grading side adds the outer layer (bubblewrap, grader/sandbox.py). Inside, in this order:

0. `drop_root()` (worker side, after the fork, before student code is imported): a worker that
   runs as root with root's powers (the fallback path when grading runs as root, as on
   Gradescope) becomes an unprivileged user, or does not run student code at all. Under
   bubblewrap a worker started by root is uid 0 of its own user namespace with no capability
   left (--cap-drop ALL) and only read-only mounts in view besides its scratch folder: nothing
   to drop there, and no power to drop it with.
1. `apply_limits()` (worker side, before student code is imported): address space (the data
   segment for a worker that may use a GPU), CPU seconds, file size (which bounds what stdout and
   stderr can hold), no core files.
2. `forbid_processes()` (worker side, before student code is imported): a seccomp filter built
   by libseccomp (through `pyseccomp`), loaded into every thread of the worker (TSYNC) with
   no-new-privileges set. What it guarantees, on Linux with libseccomp, for the worker and for
   every thread it will ever start (a filter cannot be removed or loosened once loaded):

   - Only the machine's native system-call ABI is served (x86-64, or aarch64, ...). A call made
     through any other ABI kills the whole worker with SIGSYS: 32-bit `int 0x80` / `sysenter`
     on x86-64, the x32 ABI (numbers with bit 0x40000000), 32-bit ARM on aarch64.
   - No new process and no new program: fork, vfork, execve, execveat, and clone without
     CLONE_THREAD fail with EPERM, as does clone with a CLONE_NEW* namespace flag; clone3 fails
     with ENOSYS (its flags live in memory a filter cannot read; glibc then starts threads with
     clone). Threads still work.
   - Signals only to the worker itself: kill, tgkill, rt_sigqueueinfo and rt_tgsigqueueinfo fail
     with EPERM unless their (thread-group) pid is the worker's own pid as it sees it (taken when
     the filter is installed, so pid 2 or so under bubblewrap); kill(0, ...) and kill(-1, ...)
     fail. tkill, pidfd_open, pidfd_send_signal, pidfd_getfd fail with EPERM, and so does
     making another process the target of SIGIO/SIGURG (fcntl F_SETOWN to another pid,
     F_SETOWN_EX, ioctl FIOSETOWN / SIOCSPGRP).
   - No reaching into other processes: ptrace, process_vm_readv/writev, process_madvise,
     process_mrelease, kcmp fail with EPERM.
   - Limits stay as set: setrlimit fails with EPERM, prlimit64 fails when it would set a limit
     (reading limits, which glibc's getrlimit does through prlimit64, works).
   - No network: socket() fails with EPERM for every family (an inherited socket still works,
     and socketpair is allowed: it reaches nothing outside the process).
   - No new namespaces, mounts or kernel-wide changes: unshare, setns, mount, umount2,
     pivot_root, chroot, the new mount API (open_tree, move_mount, fsopen, fsconfig, fsmount,
     fspick, mount_setattr), bpf, perf_event_open, kexec_load, kexec_file_load, keyctl, add_key,
     request_key, userfaultfd, io_uring_setup/enter/register (io_uring performs operations
     without passing through this filter), personality, reboot, swapon/off, module loading,
     acct, setting the clock, sethostname/setdomainname, iopl/ioperm, quotactl, syslog,
     vhangup, open_by_handle_at, lookup_dcookie, nfsservctl, fanotify_init, uselib, and mknod
     of a character or block device, all fail with EPERM. (Most of these need privileges a
     worker under bubblewrap does not have; the fallback worker may run as root.)

   Everything else is allowed: this is a deny list, not an allow list, so that every library a
   correct submission may use (numpy, torch and its thread pools, a GPU driver's ioctls) keeps
   working. What it does not cover: the file system (bubblewrap's job; without it the worker
   sees what its user sees, /proc/PID/mem of the same user's processes included), scheduling
   calls on other pids of the same user (setpriority, sched_setaffinity), and System V IPC.
   Without libseccomp (or off Linux) `forbid_processes()` installs nothing and returns False.
"""

from __future__ import annotations

import errno
import os
import platform
import resource
import signal
import sys
import tempfile

from grader.worker.contract import Limits

# Calls refused with EPERM whatever their arguments (libseccomp names; a name this machine's
# architecture does not have, such as fork on aarch64, is ignored by libseccomp).
_DENIED = (
    # new processes and programs
    "fork",
    "vfork",
    "execve",
    "execveat",
    # signals and handles to other processes
    "tkill",
    "pidfd_open",
    "pidfd_send_signal",
    "pidfd_getfd",
    # reaching into other processes
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "process_mrelease",
    "kcmp",
    # limits, network
    "setrlimit",
    "socket",
    # namespaces and mounts
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    # kernel interfaces a submission has no use for; io_uring runs operations around this filter
    "bpf",
    "perf_event_open",
    "kexec_load",
    "kexec_file_load",
    "keyctl",
    "add_key",
    "request_key",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "personality",
    # privileged operations (the fallback worker may run as root)
    "reboot",
    "swapon",
    "swapoff",
    "init_module",
    "finit_module",
    "delete_module",
    "acct",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
    "quotactl",
    "quotactl_fd",
    "syslog",
    "vhangup",
    "open_by_handle_at",
    "lookup_dcookie",
    "nfsservctl",
    "fanotify_init",
    "uselib",
)
# Hand-written fallback: the numbers of the calls above that came with Linux 5.1 or later, which
# every architecture numbers alike (x86-64 and aarch64 included), for a libseccomp too old to
# know their names. Without it an old libseccomp on a new kernel would silently leave clone3
# or pidfd_send_signal allowed.
_UNIFIED_NUMBERS = {
    "pidfd_send_signal": 424,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "pidfd_open": 434,
    "clone3": 435,
    "pidfd_getfd": 438,
    "process_madvise": 440,
    "mount_setattr": 442,
    "quotactl_fd": 443,
    "process_mrelease": 448,
}
_SIGNAL_TO_SELF_ONLY = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")  # first argument: a pid
_CLONE_THREAD = 0x00010000
_CLONE_NAMESPACES = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
_F_SETOWN, _F_SETOWN_EX = 8, 15
_FIOSETOWN, _SIOCSPGRP = 0x8901, 0x8902
_S_IFMT, _S_IFCHR, _S_IFBLK = 0o170000, 0o020000, 0o060000
_LOW32 = 0xFFFFFFFF  # the kernel reads int arguments from the low half of the register
_SONAMES = {"seccomp": "libseccomp.so.2", "c": "libc.so.6"}


def _libseccomp():
    """The `pyseccomp` module, or None where it or libseccomp cannot be loaded."""
    if sys.platform != "linux":
        return None
    if "pyseccomp" in sys.modules:
        return sys.modules["pyseccomp"]
    import ctypes
    import ctypes.util

    # pyseccomp finds its libraries with ctypes.util.find_library, which asks /sbin/ldconfig;
    # bubblewrap does not show /sbin, so ask the dynamic loader for the soname first.
    original = ctypes.util.find_library

    def find_library(name):
        if name in _SONAMES:
            try:
                ctypes.CDLL(_SONAMES[name])
                return _SONAMES[name]
            except OSError:
                pass
        return original(name)

    ctypes.util.find_library = find_library
    try:
        import pyseccomp
    except (ImportError, OSError, RuntimeError, AttributeError):
        return None
    finally:
        ctypes.util.find_library = original
    return pyseccomp


def _number(seccomp, name: str) -> int | None:
    """The native number of a system call (negative: one this architecture does not have)."""
    nr = seccomp.resolve_syscall(seccomp.Arch.NATIVE, name)
    if nr == -1:  # __NR_SCMP_ERROR: a name this libseccomp does not know
        known = platform.machine() in ("x86_64", "aarch64")
        return _UNIFIED_NUMBERS.get(name) if known else None
    return nr


def build_filter(own_pid: int):
    """The worker's filter as a `pyseccomp.SyscallFilter` (not loaded), or None without libseccomp."""
    seccomp = _libseccomp()
    if seccomp is None:
        return None
    eperm = seccomp.ERRNO(errno.EPERM)
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    # Only the native ABI is in the filter; a call through any other (i386, x32, arm on aarch64)
    # gets this action. libseccomp's own default is to kill only the calling thread.
    f.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)
    try:
        f.set_attr(seccomp.Attr.CTL_TSYNC, 1)  # every thread, also those libraries started at import
    except OSError:
        pass  # a kernel before 3.17: threads started from now on still inherit the filter

    def rule(action, name, *args):
        nr = _number(seccomp, name)
        if nr is not None:
            f.add_rule(action, nr, *args)

    def masked(arg: int, mask: int, value: int):
        return seccomp.Arg(arg, seccomp.MASKED_EQ, mask, value)

    for name in _DENIED:
        rule(eperm, name)
    rule(seccomp.ERRNO(errno.ENOSYS), "clone3")  # glibc falls back to clone() for threads
    # clone's flags are its first argument everywhere but on s390, where the first two are swapped
    # (libseccomp leaves argument positions as they are).
    flags = 1 if platform.machine().startswith("s390") else 0
    rule(eperm, "clone", masked(flags, _CLONE_THREAD, 0))  # a process, not a thread
    for bit in _CLONE_NAMESPACES:
        rule(eperm, "clone", masked(flags, bit, bit))
    # Rules on one call are alternatives; NE compares all 64 bits, so a pid with anything in the
    # upper half of the register is refused too.
    for name in _SIGNAL_TO_SELF_ONLY:
        rule(eperm, name, seccomp.Arg(0, seccomp.NE, own_pid))
    rule(eperm, "prlimit64", seccomp.Arg(2, seccomp.NE, 0))  # a new limit; reading is fine
    # SIGIO/SIGURG (or any signal, with F_SETSIG) go to the owner of a file: only this process
    rule(eperm, "fcntl", masked(1, _LOW32, _F_SETOWN), seccomp.Arg(2, seccomp.NE, own_pid))
    rule(eperm, "fcntl", masked(1, _LOW32, _F_SETOWN_EX))  # the owner is in memory: refused
    for request in (_FIOSETOWN, _SIOCSPGRP):
        rule(eperm, "ioctl", masked(1, _LOW32, request))
    for name, mode in (("mknod", 1), ("mknodat", 2)):  # device files; FIFOs and plain files are fine
        for kind in (_S_IFCHR, _S_IFBLK):
            rule(eperm, name, masked(mode, _S_IFMT, kind))
    return f


def filter_program(own_pid: int) -> bytes | None:
    """The BPF program `forbid_processes()` would load, as libseccomp generates it (for audits
    and tests), or None without libseccomp."""
    f = build_filter(own_pid)
    if f is None:
        return None
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)
        out.seek(0)
        return out.read()


def drop_capabilities() -> None:
    """Give up every capability (Linux; a no-op where there are none, as for a normal user). A
    worker that runs as root without bubblewrap then cannot use root's powers over other
    processes, such as writing the grading process's memory through /proc/PID/mem (which
    `protect_grading_process` makes need CAP_SYS_PTRACE)."""
    number = {"x86_64": 126, "aarch64": 91}.get(platform.machine())  # capset
    if sys.platform != "linux" or number is None:
        return
    import ctypes

    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: all empty
    ctypes.CDLL(None, use_errno=True).syscall(number, header, data)


def preload() -> None:
    """Import what confinement uses (ctypes, libseccomp's binding) in the warm parent: a worker that
    drops root may no longer be able to read a Python installation only root can read."""
    import ctypes  # noqa: F401

    _libseccomp()


def privileged() -> bool:
    """Whether this process holds any capability (root outside bubblewrap does; root inside it,
    after --cap-drop ALL, does not). Where /proc cannot tell, assume it does."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"CapEff:"):
                    return int(line.split()[1], 16) != 0
    except (OSError, ValueError, IndexError):
        pass
    return True


def drop_root(run_as: tuple[int, int] | None) -> str:
    """Become `run_as` (uid, gid) for good: supplementary groups cleared, then real, effective and
    saved gid, then uid, so that nothing can become root again (and the capabilities go with the
    uid). "" when done, else why not; the caller then must not run student code. PR_SET_PDEATHSIG
    is cleared by the change: arm `die_with_parent` again after it."""
    if run_as is None:
        return "no unprivileged user was given (set COURSE_WORKER_USER)"
    uid, gid = run_as
    if uid == 0 or gid == 0:
        return f"uid {uid}, gid {gid} is root (set COURSE_WORKER_USER to an unprivileged user)"
    try:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as exc:
        return f"could not become uid {uid}, gid {gid} ({exc.strerror or exc})"
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid) or os.getgroups():
        return f"could not become uid {uid}, gid {gid} (the ids did not change)"
    try:
        os.setresuid(0, 0, 0)
    except PermissionError:
        return ""
    return "root could be regained after the change"


def die_with_parent(expected_parent: int | None = None, status: int = 1) -> None:
    """Linux: this process gets SIGKILL when the one that started it dies (even by kill -9), so
    no grading process or worker outlives `course grade`. With `expected_parent`, exit with
    `status` at once if the parent is already gone (it died before the signal was armed)."""
    if sys.platform != "linux":
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(status)


def undumpable() -> None:
    """Linux: make this process non-dumpable, so that a process of the same user without
    CAP_SYS_PTRACE (a worker, the fallback path's especially) cannot read or write its memory
    through /proc/PID/mem or ptrace it."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0


def forbid_processes() -> bool:
    """Drop capabilities, then install the seccomp filter in this process (all its threads);
    False where the filter could not be installed (not Linux, no libseccomp, a kernel without
    seccomp filters)."""
    drop_capabilities()
    try:
        f = build_filter(os.getpid())
        if f is None:
            return False
        f.load()
    except OSError:
        return False
    return True


def apply_limits(limits: Limits, gpu: bool = False) -> None:
    """Set this process's resource limits (soft and hard, so they cannot be raised again).

    Memory is bounded by the address space, or with `gpu` by the data segment (RLIMIT_DATA: the
    private writable memory the process maps, heap included): a GPU driver reserves tens of GB of
    address space for unified addressing that it never fills, which an address-space limit refuses.
    """
    memory = int(limits.memory_mb) * 1024 * 1024
    cpu = int(limits.cpu_s)
    output = int(limits.output_kb) * 1024
    resource.setrlimit(resource.RLIMIT_DATA if gpu else resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, it does not kill
