"""The worker's system-call filter (grader.worker.confine.forbid_processes), attacked from inside a real
worker with the calls and the machine code a submission could use, under both isolations.

Every test here failed against the hand-written BPF filter this one replaced."""

import errno
import os
import platform
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader.worker import confine
from grader.config import Limits
from grader.remote import Submission
from grader.errors import StudentError
from tests.conftest import ISOLATIONS

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or platform.machine() != "x86_64",
    reason="the probes issue x86-64 machine code and x86-64 system-call numbers",
)


# x86-64 machine code, each ending in `ret`; what rax holds is the function's result
CODE = {
    "int80_fork": "b802000000" "cd80" "c3",  # mov eax, 2 (i386 fork); int 0x80
    "x32_fork": "b839000040" "0f05" "c3",  # mov eax, 0x40000000 | 57 (x32 fork); syscall
}
MARK = "forked-child.txt"  # what a child would leave in the worker's working folder

PROBE = '''
import ctypes, errno, fcntl, mmap, os, resource, signal, socket, subprocess, threading

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
MARK = %(mark)r


def child_leaves_a_mark():
    fd = os.open(MARK, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"a child ran")
    os._exit(0)


def run_code(hexcode):
    """Call machine code from an executable page; a child (result 0) leaves a mark and exits."""
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(bytes.fromhex(hexcode))
    function = ctypes.CFUNCTYPE(ctypes.c_long)(ctypes.addressof(ctypes.c_char.from_buffer(page)))
    result = function()
    if result == 0:
        child_leaves_a_mark()
    return result


def raw(nr, *args):
    """A raw system call: 'ok' or the errno's name."""
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    if result == 0 and nr in (56, 57, 58):  # a child of clone/fork/vfork
        child_leaves_a_mark()
    return "ok" if result != -1 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))


def call(fn, *args):
    try:
        fn(*args)
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    except ValueError as exc:  # how the resource module reports EPERM
        return "EPERM" if str(exc) == "not allowed to raise maximum limit" else repr(exc)
    return "ok"


def fork():
    if os.fork() == 0:
        child_leaves_a_mark()


def refused():
    """Try what a worker must not do; the outcome of each."""
    ppid = os.getppid()
    siginfo = ctypes.create_string_buffer(struct_si(), 128)  # si_signo 0, si_code SI_QUEUE
    params = ctypes.create_string_buffer(120)
    procfd = os.open(f"/proc/{ppid}", os.O_RDONLY | os.O_DIRECTORY)
    r, w = os.pipe()
    owner = ctypes.c_int(ppid)
    try:
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    except OSError:
        nofile = (1024, 1024)
    out = {
        "fork": call(fork),
        "subprocess": call(subprocess.run, ["/bin/true"]),
        "execv": call(os.execv, "/bin/true", ["true"]),
        "vfork": raw(58),
        "clone (a process)": raw(56, signal.SIGCHLD, 0, 0, 0, 0),
        "clone (a thread in a new network namespace)": raw(56, 0x00010000 | 0x40000000, 0, 0, 0, 0),
        "clone3": raw(435, 0, 0),
        "execveat": raw(322, -1, 0, 0, 0, 0),
        "kill(parent, SIGKILL)": call(os.kill, ppid, signal.SIGKILL),
        "kill(0, 0)": call(os.kill, 0, 0),
        "kill(-1, 0)": call(os.kill, -1, 0),
        "kill(1, 0)": call(os.kill, 1, 0),
        "kill(-parent, 0)": call(os.kill, -ppid, 0),
        "tkill(parent, 0)": raw(200, ppid, 0),
        "tgkill(parent, parent, 0)": raw(234, ppid, ppid, 0),
        "rt_sigqueueinfo(parent)": raw(129, ppid, 0, siginfo),
        "rt_tgsigqueueinfo(parent)": raw(297, ppid, ppid, 0, siginfo),
        "pidfd_open(parent)": raw(434, ppid, 0),
        "pidfd_send_signal(/proc/parent, 0)": raw(424, procfd, 0, 0, 0),
        "pidfd_getfd": raw(438, procfd, 0, 0),
        "process_vm_readv(parent)": raw(310, ppid, 0, 0, 0, 0, 0),
        "process_madvise": raw(440, procfd, 0, 0, 0, 0),
        "ptrace(PTRACE_ATTACH, parent)": raw(101, 16, ppid, 0, 0),
        "fcntl(F_SETOWN, parent)": call(fcntl.fcntl, r, fcntl.F_SETOWN, ppid),
        "fcntl(F_SETOWN, -parent)": call(fcntl.fcntl, r, fcntl.F_SETOWN, -ppid),
        "ioctl(FIOSETOWN, parent)": raw(16, r, 0x8901, ctypes.byref(owner)),
        "socket(AF_INET)": call(socket.socket, socket.AF_INET, socket.SOCK_STREAM),
        "socket(AF_UNIX)": call(socket.socket, socket.AF_UNIX, socket.SOCK_STREAM),
        "socket(AF_NETLINK)": call(socket.socket, socket.AF_NETLINK, socket.SOCK_RAW),
        "setrlimit": call(resource.setrlimit, resource.RLIMIT_NOFILE, nofile),
        "setrlimit (raise)": call(resource.setrlimit, resource.RLIMIT_CPU, (resource.RLIM_INFINITY,) * 2),
        "prlimit (set)": call(resource.prlimit, 0, resource.RLIMIT_NOFILE, nofile),
        "unshare(CLONE_NEWUSER)": raw(272, 0x10000000),
        "setns": raw(308, procfd, 0),
        "mount": raw(165, 0, ctypes.c_char_p(b"/nonexistent-course-mount"), ctypes.c_char_p(b"tmpfs"), 0, 0),
        "io_uring_setup": raw(425, 1, params),
        "bpf": raw(321, 0, 0, 0),
        "perf_event_open": raw(298, 0, 0, -1, -1, 0),
        "userfaultfd": raw(323, 0),
        "keyctl": raw(250, 0, -3, 0),
        "personality": raw(135, 0xFFFFFFFF),
        "kexec_load": raw(246, 0, 0, 0, 0),
        "mknod (a character device)": raw(133, ctypes.c_char_p(b"course-null"), 0o020600, os.makedev(1, 3)),
    }
    os.close(procfd)
    return out


def struct_si():
    import struct
    return struct.pack("iii", 0, 0, -1)  # si_signo, si_errno, si_code = SI_QUEUE


def still_works():
    """What a correct submission may do; the outcome of each."""
    out = {}
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(sum(range(i * 1000)))) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out["threads"] = sorted(results) == [sum(range(i * 1000)) for i in range(4)]
    seen = []
    signal.signal(signal.SIGUSR1, lambda sig, frame: seen.append(sig))
    os.kill(os.getpid(), signal.SIGUSR1)
    signal.raise_signal(signal.SIGUSR1)
    signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
    out["signals to itself"] = seen == [signal.SIGUSR1] * 3
    out["getrlimit"] = call(resource.getrlimit, resource.RLIMIT_NOFILE) == "ok"
    out["prlimit (read)"] = call(resource.prlimit, 0, resource.RLIMIT_NOFILE) == "ok"
    r, w = os.pipe()
    fcntl.fcntl(r, fcntl.F_SETOWN, os.getpid())
    out["fcntl(F_SETOWN, itself)"] = fcntl.fcntl(r, fcntl.F_GETOWN) == os.getpid()
    a, b = socket.socketpair()
    a.send(b"x")
    out["socketpair"] = b.recv(1) == b"x"
    fifo = "course-fifo"
    os.mkfifo(fifo)
    out["mkfifo"] = os.path.exists(fifo)
    with open("/proc/self/status") as f:
        out["filtered"] = "Seccomp:\\t2" in f.read()
    try:
        import torch
    except ImportError:
        return out
    torch.set_num_threads(2)
    x = torch.randn(512, 512, generator=torch.Generator().manual_seed(0))
    y = x @ x
    out["torch matmul on 2 threads"] = torch.get_num_threads() == 2 and bool(torch.isfinite(y).all())
    out["torch threads are filtered"] = all(
        "Seccomp:\\t2" in open(f"/proc/self/task/{t}/status").read() for t in os.listdir("/proc/self/task"))
    out["thread count"] = len(os.listdir("/proc/self/task"))
    return out


def pid():
    return os.getpid()


def ppid():
    return os.getppid()
''' % {"mark": MARK}


@pytest.fixture
def probe(tmp_path):
    (tmp_path / "probe.py").write_text(PROBE)
    return tmp_path


def start(path, isolation, preload=()):
    sub = Submission(path, ["probe"], Limits(wall_s=20), isolation, preload)
    sub.begin_test("seccomp", 0)
    return sub, sub.module("probe")


def _stat(pid: str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # state ppid pgrp session ...


def sessions_below(root: int) -> set[int]:
    """The sessions of `root` and of every process below it (bwrap starts its own inside)."""
    stats = {int(p): s for p in os.listdir("/proc") if p.isdigit() and (s := _stat(p))}
    below, todo = {root}, [root]
    while todo:
        parent = todo.pop()
        for p, s in stats.items():
            if int(s[1]) == parent and p not in below:
                below.add(p)
                todo.append(p)
    return {int(stats[p][3]) for p in below if p in stats}


def processes_in(sessions: set[int]) -> list[int]:
    """Live processes in these sessions (a zombie runs nothing: bwrap's init may linger as one
    until the machine's init reaps it)."""
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and (s := _stat(p)) and int(s[3]) in sessions
            and s[0] != "Z"]


@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize("code", sorted(CODE))
def test_a_foreign_system_call_abi_kills_the_worker_and_starts_nothing(probe, isolation, code, monkeypatch):
    """i386 (`int 0x80`) and x32 system calls from x86-64 code: the worker dies of SIGSYS at the
    call; no child ran (it would have left a mark) and no process is left in its sessions."""
    import grader.remote

    # the mark would be in the worker's scratch folder, which is emptied when the worker ends
    monkeypatch.setattr(grader.remote, "_remove_contents", lambda folder, keep=(): None)
    sub, p = start(probe, isolation)
    try:
        p.pid()  # the worker is up
        workdir = sub.worker.workdir
        sessions = sessions_below(sub.worker.proc.pid)
        with pytest.raises(StudentError) as err:
            p.run_code(CODE[code])
        assert err.value.cause == "crash"
        # bwrap reports its child's death by signal N as exit status 128 + N
        assert "SIGSYS" in str(err.value) or f"status {128 + signal.SIGSYS}" in str(err.value), str(err.value)
        assert not (workdir / MARK).exists(), "a child process ran"
        assert processes_in(sessions) == [], "a process outlived the worker"
        assert p.pid() > 0, "a fresh worker answers"
    finally:
        sub.close()
        grader.remote.stop_parents()  # with the worker's scratch folder and the mark, if any


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_processes_signals_namespaces_and_kernel_interfaces_are_refused(probe, isolation):
    """Each attempt fails with EPERM (clone3: ENOSYS), the worker keeps serving, and the grading
    side (the worker's parent in the fallback) is still there."""
    sub, p = start(probe, isolation)
    try:
        before = p.pid()
        if isolation == "limits":
            assert p.ppid() == sub.worker.parent.proc.pid, "the probe's parent is the warm parent, a child of this process"
        outcome = p.refused()
        wrong = {k: v for k, v in outcome.items() if v != ("ENOSYS" if k == "clone3" else "EPERM")}
        assert wrong == {}, f"not refused by the filter: {wrong}"
        assert p.pid() == before, "the same worker still answers"
        assert not (sub.worker.workdir / MARK).exists(), "a child process ran"
        assert not (sub.worker.workdir / "course-null").exists()
    finally:
        sub.close()


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_threads_torch_own_signals_and_reading_limits_still_work(probe, isolation):
    """What correct code does keeps working under the filter, with torch preloaded as the hw2 and
    hw3 workers do (getrlimit goes through prlimit64, which the old filter refused outright)."""
    try:
        import torch  # noqa: F401

        preload = ("numpy", "torch")
    except ImportError:
        preload = ()
    sub, p = start(probe, isolation, preload)
    try:
        outcome = p.still_works()
        count = outcome.pop("thread count", None)
        assert outcome and all(v is True for v in outcome.values()), outcome
        if preload:
            assert count >= 2, "torch ran its matmul on more than one thread"
    finally:
        sub.close()


def test_threads_started_before_the_filter_are_filtered_too(tmp_path):
    """A library thread that exists when the filter goes in (numpy's BLAS pool, say) gets it
    too (TSYNC): from that thread fork is refused, and its status shows the filter."""
    script = textwrap.dedent('''
        import os, sys, threading
        from grader.worker import confine
        go, done, result = threading.Event(), threading.Event(), {}
        def early():
            go.wait()
            with open(f"/proc/self/task/{threading.get_native_id()}/status") as f:
                result["filtered"] = "Seccomp:\\t2" in f.read()
            try:
                if os.fork() == 0:
                    os._exit(0)
                result["fork"] = "ok"
            except OSError as exc:
                result["fork"] = exc.strerror
            done.set()
        threading.Thread(target=early).start()
        installed = confine.forbid_processes()
        go.set()
        done.wait()
        print(installed, result["filtered"], result["fork"])
    ''')
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert run.stdout.split() == ["True", "True", "Operation", "not", "permitted"], run.stdout + run.stderr


# -- the program libseccomp generates, run on a small classic-BPF interpreter --------------------

AUDIT_ARCH_X86_64, AUDIT_ARCH_I386 = 0xC000003E, 0x40000003
KILL_PROCESS, ALLOW = 0x80000000, 0x7FFF0000
EPERM, ENOSYS = 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
OWN = 4321


def run_bpf(program: bytes, nr: int, args=(), arch=AUDIT_ARCH_X86_64) -> int:
    """The action a seccomp program returns for one call (struct seccomp_data: nr, arch, ip, args)."""
    args = list(args) + [0] * (6 - len(args))
    data = struct.pack("<iIQ6Q", nr, arch, 0, *[a & (2**64 - 1) for a in args])
    insns = [struct.unpack_from("<HBBI", program, i) for i in range(0, len(program), 8)]
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == 0x20:  # ld [k]
            acc = struct.unpack_from("<I", data, k)[0]
        elif code == 0x54:  # and #k
            acc &= k
        elif code == 0x06:  # ret #k
            return k
        elif code in (0x15, 0x25, 0x35, 0x45):  # jeq, jgt, jge, jset #k
            taken = {0x15: acc == k, 0x25: acc > k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += jt if taken else jf
        elif code == 0x05:  # ja
            pc += k
        else:
            raise AssertionError(f"the interpreter does not know BPF opcode {code:#x}")


def test_the_generated_program_decides_each_case():
    program = confine.filter_program(OWN)
    assert program, "libseccomp is available on this machine, so the filter must be built"
    thread = 0x00010000 | 0x00000100 | 0x00000800 | 0x00000200  # CLONE_THREAD|VM|SIGHAND|FS
    cases = [
        ("read", 0, (), ALLOW),
        ("getpid", 39, (), ALLOW),
        ("i386 fork (int 0x80)", 2, (), KILL_PROCESS, AUDIT_ARCH_I386),
        ("i386 execve", 11, (), KILL_PROCESS, AUDIT_ARCH_I386),
        ("i386 read", 3, (), KILL_PROCESS, AUDIT_ARCH_I386),
        ("x32 fork", 0x40000000 | 57, (), KILL_PROCESS),
        ("x32 execve", 0x40000000 | 520, (), KILL_PROCESS),
        ("x32 read", 0x40000000 | 0, (), KILL_PROCESS),
        ("fork", 57, (), EPERM),
        ("vfork", 58, (), EPERM),
        ("execve", 59, (), EPERM),
        ("clone, a thread", 56, (thread,), ALLOW),
        ("clone, a process", 56, (17,), EPERM),
        ("clone, CLONE_THREAD only in the upper half", 56, ((0x00010000 << 32) | 17,), EPERM),
        ("clone, a thread in a new user namespace", 56, (thread | 0x10000000,), EPERM),
        ("clone, a thread in a new pid namespace", 56, (thread | 0x20000000,), EPERM),
        ("clone3", 435, (), ENOSYS),
        ("kill itself", 62, (OWN, 10), ALLOW),
        ("kill another pid", 62, (OWN + 1, 9), EPERM),
        ("kill its process group", 62, (0, 9), EPERM),
        ("kill every process", 62, (-1, 9), EPERM),
        ("kill its own pid plus junk in the upper half", 62, ((1 << 32) | OWN, 9), EPERM),
        ("tgkill itself", 234, (OWN, 77, 10), ALLOW),
        ("tgkill another", 234, (1, 1, 9), EPERM),
        ("tkill", 200, (OWN, 9), EPERM),
        ("rt_sigqueueinfo another", 129, (1, 9, 0), EPERM),
        ("rt_tgsigqueueinfo another", 297, (1, 1, 9, 0), EPERM),
        ("rt_sigqueueinfo itself", 129, (OWN, 10, 0), ALLOW),
        ("pidfd_open", 434, (1, 0), EPERM),
        ("pidfd_send_signal", 424, (3, 9, 0, 0), EPERM),
        ("pidfd_getfd", 438, (3, 3, 0), EPERM),
        ("process_vm_readv", 310, (), EPERM),
        ("process_vm_writev", 311, (), EPERM),
        ("process_madvise", 440, (), EPERM),
        ("ptrace", 101, (), EPERM),
        ("setrlimit", 160, (), EPERM),
        ("prlimit64 reading", 302, (0, 7, 0, 0x7FFF0000), ALLOW),
        ("prlimit64 setting", 302, (0, 7, 0x7FFF0000, 0), EPERM),
        ("socket", 41, (2, 1, 0), EPERM),
        ("socketpair", 53, (1, 1, 0, 0x7FFF0000), ALLOW),
        ("unshare", 272, (0x10000000,), EPERM),
        ("setns", 308, (), EPERM),
        ("mount", 165, (), EPERM),
        ("bpf", 321, (), EPERM),
        ("perf_event_open", 298, (), EPERM),
        ("kexec_load", 246, (), EPERM),
        ("keyctl", 250, (), EPERM),
        ("add_key", 248, (), EPERM),
        ("request_key", 249, (), EPERM),
        ("userfaultfd", 323, (), EPERM),
        ("io_uring_setup", 425, (), EPERM),
        ("io_uring_enter", 426, (), EPERM),
        ("personality", 135, (), EPERM),
        ("fcntl F_SETOWN itself", 72, (3, 8, OWN), ALLOW),
        ("fcntl F_SETOWN another", 72, (3, 8, 1), EPERM),
        ("fcntl F_SETOWN another, junk in the command's upper half", 72, (3, (1 << 32) | 8, 1), EPERM),
        ("fcntl F_SETOWN_EX", 72, (3, 15, 0x7FFF0000), EPERM),
        ("fcntl F_GETFL", 72, (3, 3, 0), ALLOW),
        ("ioctl FIOSETOWN", 16, (3, 0x8901, 0x7FFF0000), EPERM),
        ("ioctl TCGETS", 16, (0, 0x5401, 0x7FFF0000), ALLOW),
        ("mknod a character device", 133, (0x7FFF0000, 0o020600, 0x103), EPERM),
        ("mknod a fifo", 133, (0x7FFF0000, 0o010600, 0), ALLOW),
        ("seccomp (a further filter)", 317, (), ALLOW),
    ]
    wrong = []
    for name, nr, args, expected, *arch in cases:
        got = run_bpf(program, nr, args, *arch)
        if got != expected:
            wrong.append(f"{name}: {got:#x}, expected {expected:#x}")
    assert wrong == []
