"""Warm workers carry nothing from one student to the next.

A grading process keeps one warm parent per assignment configuration and forks every
submission's worker from it (grader.remote.ParentProcess). The parent never runs student code,
so each worker starts as a fresh copy of a clean process; the grading side empties the shared
scratch folder between workers. Here a first student does everything it can to leave something
behind, and the next student, forked from the same parent, finds none of it.
"""

from __future__ import annotations

import pytest

from grader.remote import Submission
from grader.worker.contract import Limits
from tests.conftest import ISOLATIONS

LIMITS = Limits(wall_s=10)

FIRST = '''
import os, sys, threading, time, signal, builtins, tempfile
import numpy

TMP = tempfile.gettempdir()  # the scratch folder: /tmp under bubblewrap, TMPDIR in the fallback

numpy.sum = lambda *a, **k: 42                          # a library patched
builtins.print = lambda *a, **k: None                    # a builtin patched
sys.modules["json"] = None                               # a module poisoned
import grader.worker.server as _server                   # the worker's own code patched
_server.seed_everything = lambda seed: None
os.environ["LEFT_BEHIND"] = "yes"                        # the environment
sys.path.insert(0, TMP + "/planted")                     # the import path
os.makedirs(TMP + "/planted", exist_ok=True)             # files in the scratch folder ...
with open(TMP + "/planted/numpy_helper.py", "w") as f:
    f.write("X = 1\\n")
with open("leftover.txt", "w") as f:                     # ... and in the working directory
    f.write("from the first student")
KEPT = os.open("leftover.txt", os.O_RDONLY)              # an open descriptor
threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()   # a thread that stays
signal.signal(signal.SIGTERM, signal.SIG_IGN)            # a signal disposition

def done():
    return "planted"
'''

SECOND = '''
import os, sys, threading, signal, builtins, tempfile

def report():
    import numpy
    fds = sorted(int(n) for n in os.listdir("/proc/self/fd"))
    with open("/proc/self/status") as f:
        threads = int(f.read().split("Threads:")[1].split()[0])
    import grader.worker.server as server
    return {
        "numpy_sum": int(numpy.sum([1, 2])),
        "print": builtins.print.__name__,
        "json": sys.modules.get("json", "absent") is not None,
        "seed_patched": server.seed_everything.__name__ != "seed_everything",
        "env": os.environ.get("LEFT_BEHIND", ""),
        "planted_path": any(p.endswith("/planted") for p in sys.path),
        "scratch": sorted(os.listdir(tempfile.gettempdir())),
        "cwd": sorted(os.listdir(".")),
        "threads": threads,
        "fds": fds,
        "sigterm_ignored": signal.getsignal(signal.SIGTERM) == signal.SIG_IGN,
        "first_loaded": hasattr(sys.modules[__name__], "KEPT") or "numpy_helper" in sys.modules,
    }
'''


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_the_next_student_in_a_warm_worker_finds_nothing_of_the_last(tmp_path, isolation):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "first.py").write_text(FIRST)
    (second / "first.py").write_text(SECOND)
    preload = ("numpy",)

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "first.py").write_text(SECOND)
    base = Submission(fresh, ["first"], LIMITS, isolation, preload, "warm")
    try:
        base.begin_test("a fresh worker", 0)
        baseline = base.module("first").report()  # what any fresh worker finds (/tmp: its own files, mount points)
    finally:
        base.close()

    a = Submission(first, ["first"], LIMITS, isolation, preload, "warm")
    try:
        a.begin_test("first student", 1)
        assert a.module("first").done() == "planted"
        parent = a.worker.parent
        scratch = a.worker.workdir
        assert (scratch / "leftover.txt").is_file() and (scratch / "planted").is_dir()
    finally:
        a.close()

    b = Submission(second, ["first"], LIMITS, isolation, preload, "warm")
    try:
        b.begin_test("second student", 2)
        got = b.module("first").report()
        assert b.worker.parent is parent and parent.alive(), "the same warm parent forked both workers"
    finally:
        b.close()
    assert got["numpy_sum"] == 3 and got["print"] == "print" and got["json"], got
    assert not got["seed_patched"] and not got["planted_path"] and got["env"] == "", got
    assert got["scratch"] == baseline["scratch"] and got["cwd"] == baseline["cwd"], f"the scratch folder held {got['scratch']}"
    assert {"output.txt", "startup.txt"} <= set(baseline["scratch"]) and "leftover.txt" not in baseline["scratch"]
    assert got["threads"] <= 2, f"{got['threads']} threads in a fresh worker"
    assert got["fds"][:3] == [0, 1, 2] and len(got["fds"]) <= 5, f"descriptors left open: {got['fds']}"
    assert not got["sigterm_ignored"] and not got["first_loaded"], got


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_worker_that_crashes_or_hangs_leaves_the_parent_warm(tmp_path, isolation):
    """A worker killed for its time limit, or dead by its own hand, is reaped by the parent; the
    next fork works and reports the right cause."""
    (tmp_path / "bad.py").write_text(
        "import os, time\n"
        "def hang():\n    while True:\n        pass\n"
        "def die():\n    os._exit(3)\n"
        "def fine():\n    return 1\n")
    sub = Submission(tmp_path, ["bad"], Limits(wall_s=1), isolation)
    try:
        sub.begin_test("hang", 0)
        from grader.errors import StudentError

        with pytest.raises(StudentError) as err:
            sub.module("bad").hang()
        assert err.value.cause == "timeout"
        parent = sub.worker.parent
        sub.begin_test("die", 0)
        with pytest.raises(StudentError) as err:
            sub.module("bad").die()
        assert err.value.cause == "crash" and "status 3" in str(err.value), err.value
        sub.begin_test("fine", 0)
        assert sub.module("bad").fine() == 1
        assert sub.worker.parent is parent and parent.alive()
    finally:
        sub.close()
