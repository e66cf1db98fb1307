"""What one worker may take from the machine: reply size, threads, scratch space, and its life
(it dies with the process that grades it)."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from grader import sandbox
from grader.worker import protocol
from grader.config import Limits
from grader.remote import Submission
from grader.errors import StudentError
from tests.conftest import ISOLATIONS

MB = 1024 * 1024

PROBE = '''
import os, tempfile, threading, time

def big(n):
    return b"x" * n

def spawn(n, hold):
    stop = threading.Event()
    for _ in range(n):
        threading.Thread(target=stop.wait, daemon=True).start()
    time.sleep(hold)
    count = threading.active_count()
    stop.set()
    return count

def fill(mb, hold):
    """Write `mb` MB into the scratch folder in files of 128 KB (each under the file-size limit)."""
    folder = tempfile.mkdtemp()
    for i in range(mb * 8):
        with open(os.path.join(folder, str(i)), "wb") as f:
            f.write(os.urandom(128 * 1024))
    time.sleep(hold)
    return folder

def touch(n, hold):
    folder = tempfile.mkdtemp()
    for i in range(n):
        open(os.path.join(folder, str(i)), "w").close()
    time.sleep(hold)
    return n

def pid():
    return os.getpid()

def swap_output(target):
    """Put a symlink (or, with no target, a fifo) where the grading side reads the output."""
    os.remove("/tmp/output.txt")
    os.symlink(target, "/tmp/output.txt") if target else os.mkfifo("/tmp/output.txt")
    print("after the swap")
    return os.path.exists(target) if target else True

def spin():
    while True:
        pass
'''



@pytest.fixture
def probe(tmp_path):
    (tmp_path / "probe.py").write_text(PROBE)
    return tmp_path


def start(path, isolation, **limits):
    sub = Submission(path, ["probe"], Limits(wall_s=10, **limits), isolation)
    sub.begin_test("resources", 0)
    return sub, sub.module("probe")


def test_the_course_sets_the_new_limits(course):
    for a in course.assignments:
        assert a.limits.reply_mb >= 1 and a.limits.threads >= 8 and a.limits.scratch_mb >= 1
    assert Limits().reply_mb == 8 and Limits().threads == 32 and Limits().scratch_mb == 64


# -- reply size -------------------------------------------------------------------------------


def test_a_frame_over_the_cap_is_refused_before_its_body_is_read():
    left, right = socket.socketpair()
    with left, right:
        left.sendall((100 * MB).to_bytes(8, "big"))  # a header only: reading the body would wait
        started = time.monotonic()
        with pytest.raises(protocol.FrameTooLarge) as err:
            protocol.recv(right, time.monotonic() + 5, max_size=MB)
        assert time.monotonic() - started < 1, "the body was waited for"
        assert err.value.size == 100 * MB and err.value.limit == MB


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_reply_over_reply_mb_kills_the_worker_and_names_the_cap(probe, isolation):
    sub, p = start(probe, isolation, reply_mb=1)
    try:
        first = sub.worker.proc.pid
        with pytest.raises(StudentError) as err:
            p.big(2 * MB)  # base64: 2.7 MB on the wire
        assert err.value.cause == "limit"
        assert str(err.value) == "the reply of 3 MB exceeds the 1 MB limit"
        assert p.big(10) == b"x" * 10, "the next call gets a fresh worker"
        assert sub.worker.proc.pid != first
    finally:
        sub.close()


MEASURE = '''
import json, resource, sys, time
from pathlib import Path
from grader.config import Limits
from grader.remote import Submission
kind, n, folder = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
(folder / "payload.py").write_text(
    "import numpy as np\\n"
    "def array(n):\\n    return np.arange(n, dtype=np.float64) / 3\\n"
    "def floats(n):\\n    return [i / 7 for i in range(n)]\\n"
    "def nested(n):\\n    return [[i] for i in range(n)]\\n")
sub = Submission(folder, ["payload"], Limits(wall_s=60), "limits")
sub.begin_test("memory", 0)
fn = getattr(sub.module("payload"), kind)
fn(10)
import grader.worker.protocol as protocol
frames = []
recv_exact = protocol._recv_exact
def spy(sock, size, *args):
    frames.append(size)
    return recv_exact(sock, size, *args)
protocol._recv_exact = spy
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
started = time.perf_counter()
value = fn(n)
seconds = time.perf_counter() - started
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
sub.close()
print(json.dumps({"frame": max(frames), "grown": grown, "seconds": seconds, "length": len(value)}))
'''


@pytest.mark.parametrize("kind,n,bound", [("array", 780_000, 4), ("floats", 400_000, 10), ("nested", 850_000, 20)])
def test_a_reply_just_under_the_cap_is_decoded_without_many_copies(tmp_path, kind, n, bound):
    """Peak memory of the grading side while it reads and decodes one reply just under the default
    8 MB cap, as a multiple of the frame: the frame once as bytes, once as text, the decoded value.
    (Python objects cost what they cost: a list of one-element lists is ~12x its JSON.)"""
    script = tmp_path / "measure.py"
    script.write_text(MEASURE)
    (tmp_path / "sub").mkdir()
    out = subprocess.run([sys.executable, str(script), kind, str(n), str(tmp_path / "sub")],
                         capture_output=True, text=True, timeout=120, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["length"] == n
    assert 6 * MB < got["frame"] < Limits().reply_mb * MB, "the frame should be just under the cap"
    assert got["grown"] < bound * got["frame"], f"peak memory grew {got['grown'] / got['frame']:.1f}x the frame"
    assert got["seconds"] < 10


# -- threads ----------------------------------------------------------------------------------


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_threads_over_the_limit_kill_the_worker(probe, isolation):
    sub, p = start(probe, isolation, threads=16)
    try:
        assert p.spawn(8, 0.2) == 9, "threads under the limit are fine"
        started = time.monotonic()
        with pytest.raises(StudentError) as err:
            p.spawn(40, 8)
        assert err.value.cause == "limit" and str(err.value) == "started more than 16 threads"
        assert time.monotonic() - started < 3, "the limit is checked while the grading side waits"
        assert p.spawn(1, 0) == 2, "the next call gets a fresh worker"
    finally:
        sub.close()


# -- scratch space ----------------------------------------------------------------------------


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_scratch_over_the_limit_kills_the_worker(probe, isolation):
    sub, p = start(probe, isolation, scratch_mb=4)
    try:
        p.fill(1, 0.2)  # under the limit
        started = time.monotonic()
        with pytest.raises(StudentError) as err:
            p.fill(8, 8)
        assert err.value.cause == "limit" and str(err.value) == "wrote more than the 4 MB scratch-space limit"
        assert time.monotonic() - started < 4
        with pytest.raises(StudentError, match="scratch-space limit"):
            p.touch(2000, 8)  # empty files count too (4 KB each)
    finally:
        sub.close()


def test_a_folder_made_unreadable_is_counted_and_removed(probe):
    sub, p = start(probe, "limits", scratch_mb=4)
    try:
        folder = p.fill(1, 0)
        os.chmod(folder, 0)  # as the student could: the grading side owns it and opens it again
        assert sub.worker.scratch_bytes(100 * MB) > MB
        workdir = sub.worker.workdir
    finally:
        sub.close()
    assert list(workdir.iterdir()) == [], "the scratch folder is emptied when the worker ends"


@pytest.mark.skipif(not sandbox.bwrap_path(), reason="bubblewrap is not installed")
def test_the_output_the_grading_side_reads_cannot_be_swapped_for_a_link_or_a_fifo(probe, course):
    secret = course.root / "solutions" / "hw1" / "information.py"
    sub, p = start(probe, "bwrap")
    try:
        assert not p.swap_output(str(secret)), "the solutions are not visible in the sandbox"
        assert secret.read_text()[:20] not in sub.printed(), "a file of the grading side reached the feedback"
        sub.close()
        sub.begin_test("fifo", 0)
        started = time.monotonic()
        assert p.swap_output("") and sub.printed() == ""
        assert time.monotonic() - started < 5, "the grading side waited on a fifo"
    finally:
        sub.close()


# -- orphans ----------------------------------------------------------------------------------

ORPHAN = '''
import glob, json, sys
from pathlib import Path
from grader.config import Limits
from grader.remote import Submission
sub = Submission(Path(sys.argv[1]), ["probe"], Limits(wall_s=60), sys.argv[2])
sub.begin_test("orphans", 0)
def tree(pid):
    found = [pid]
    for f in glob.glob(f"/proc/{pid}/task/*/children"):
        for c in open(f).read().split():
            found += tree(int(c))
    return found
print(json.dumps(tree(sub.worker.parent.proc.pid)), flush=True)  # the warm parent and its worker
sub.module("probe").spin()
'''


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_workers_die_with_their_grading_process(probe, tmp_path, isolation):
    script = tmp_path / "grading.py"
    script.write_text(textwrap.dedent(ORPHAN))
    grading = subprocess.Popen([sys.executable, str(script), str(probe), isolation],
                               stdout=subprocess.PIPE, text=True)
    workers = []
    try:
        workers = json.loads(grading.stdout.readline())
        assert workers and all(_alive(p) for p in workers)
        time.sleep(0.5)  # the grading process is now waiting on spin()
        grading.send_signal(signal.SIGKILL)
        grading.wait()
        until = time.monotonic() + 5
        while any(_alive(p) for p in workers) and time.monotonic() < until:
            time.sleep(0.05)
        assert not [p for p in workers if _alive(p)], "workers outlived their grading process"
    finally:
        grading.kill()
        grading.wait()
        for p in workers:
            if _alive(p):
                os.kill(p, signal.SIGKILL)


def test_emptying_a_scratch_folder_keeps_only_the_mount_points(tmp_path):
    """Where the course lies under /tmp, bubblewrap's mount points for it are folders in the
    scratch folder; emptying it keeps them, and nothing else, not even a file beside them."""
    from grader.remote import _remove_contents

    mount = tmp_path / "checkout" / "grader"
    (mount / "worker").mkdir(parents=True)
    (mount / "worker" / "server.py").write_text("x")  # what the sandbox shows there, on the host
    (tmp_path / "checkout" / "planted.txt").write_text("x")
    (tmp_path / "checkout" / "folder").mkdir()
    (tmp_path / "output.txt").write_text("x")
    _remove_contents(tmp_path, {mount})
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "checkout", "checkout/grader", "checkout/grader/worker", "checkout/grader/worker/server.py"]
