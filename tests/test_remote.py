"""The one seam between suites and student code: functions, objects and their methods, drivers."""

import pytest

from grader.config import Limits
from grader.remote import RemoteObject, Submission
from grader.errors import StudentError

MODULE = '''
import os

class Accumulator:
    def __init__(self, start):
        self.total = start

    def add(self, x):
        self.total += x
        return self.total

def combine(a, b):
    return a.total + b.total

def die():
    os._exit(7)

def hang():
    while True:
        pass
'''


@pytest.fixture
def sub(tmp_path):
    (tmp_path / "probe.py").write_text(MODULE)
    s = Submission(tmp_path, ["probe"], Limits(wall_s=10), "limits")
    s.begin_test("remote", 0)
    yield s
    s.close()


def test_objects_live_in_the_worker_and_their_methods_are_called_there(sub):
    probe = sub.module("probe")
    acc = probe.Accumulator(10)
    assert isinstance(acc, RemoteObject) and repr(acc) == "<student object of type Accumulator>"
    assert acc.add(5) == 15 and acc.total == 15
    other = probe.Accumulator(1)
    assert probe.combine(acc, other) == 16, "handles passed back reach the same objects"
    assert acc != 15 and acc == acc


def test_a_restart_invalidates_old_objects_and_names_the_cause(sub):
    probe = sub.module("probe")
    acc = probe.Accumulator(1)
    with pytest.raises(StudentError, match="exited with status 7") as err:
        probe.die()
    assert err.value.cause == "crash"
    with pytest.raises(StudentError, match="lost when the worker restarted"):
        acc.add(1)
    assert probe.Accumulator(2).add(3) == 5, "the next call gets a fresh worker"


def test_a_batch_runs_its_requests_in_order_in_one_round_trip(sub):
    """A batch is what its requests would be one by one: values in order, each attribute read as
    it is when its turn comes; the first failure stops it and is raised with its own cause."""
    acc = sub.module("probe").Accumulator(1)
    sent = []
    request = sub.worker.request
    sub.worker.request = lambda message, deadline: sent.append(message["op"]) or request(message, deadline)
    got = sub.batch([sub.pending_call(acc, "add", 2), sub.pending_attr(acc, "total"), sub.pending_call(acc, "add", 3)])
    assert got == [3, 3, 6] and sent == ["batch"], (got, sent)
    with pytest.raises(StudentError, match="TypeError") as err:
        sub.batch([sub.pending_call(acc, "add", 1), sub.pending_call(acc, "add", "x"), sub.pending_call(acc, "add", 100)])
    assert err.value.cause == "error"
    assert acc.total == 7, "the requests after the failing one ran"
    with pytest.raises(StudentError, match="not plain data|batch inside a batch"):
        sub.call({"op": "batch", "requests": [{"op": "batch", "requests": []}]}, "nested")


def test_a_batch_that_runs_past_the_limit_is_charged_to_its_key(tmp_path):
    (tmp_path / "probe.py").write_text(MODULE)
    s = Submission(tmp_path, ["probe"], Limits(wall_s=1), "limits")
    try:
        s.begin_test("first", 0)
        acc = s.module("probe").Accumulator(1)
        with pytest.raises(StudentError, match="^step ran past the 1 s time limit") as err:
            s.batch([s.pending_call(acc, "add", 1), s.pending_call(s.module("probe"), "hang")], key="step")
        assert err.value.cause == "timeout"
        s.begin_test("second", 0)
        acc = s.module("probe").Accumulator(1)
        with pytest.raises(StudentError, match="not run: step ran past the time limit in first"):
            s.batch([s.pending_call(acc, "add", 1)], key="step")
        assert acc.add(1) == 2, "other calls still run"
    finally:
        s.close()


def test_a_driver_runs_beside_student_code(course, solutions):
    s = Submission.of(course.assignment("hw1"), solutions, "limits")
    try:
        s.begin_test("driver", 0)
        got = s.driver("encoded", "abcab", {"a": "0", "b": "10", "c": "11"})
        assert got["out"] == (bytes([0b01011010, 0b00000000]), 8) or got["out"][1] == 8, got
        assert got["types"][:2] == ["tuple", "bytes"], got
        with pytest.raises(StudentError, match="unknown target"):
            s.call({"op": "call", "target": ["driver", "os.path"], "name": "join", "args": [], "kwargs": {}}, "x")
        bare = Submission(solutions, ["information", "huffman"], Limits(wall_s=10), "limits")
        try:
            bare.begin_test("no drivers", 0)
            with pytest.raises(StudentError, match="has no drivers"):
                bare.driver("encoded", "ab", {"a": "0", "b": "1"})
        finally:
            bare.close()
    finally:
        s.close()


def test_a_module_that_hangs_at_import_costs_its_drivers_the_limit_once(tmp_path):
    """Is a module that hangs at import charged its time limit once, not once per driver test?"""
    import time

    (tmp_path / "huffman.py").write_text("while True:\n    pass\n")
    from grader.config import load_course
    from grader.paths import drivers_source

    hw1 = load_course().assignment("hw1")
    s = Submission(tmp_path, ["information", "huffman"], Limits(wall_s=2), "limits", (), "hw1", drivers_source(hw1))
    try:
        started = time.monotonic()
        for test in ("first", "second", "third"):
            s.begin_test(test, 0)
            with pytest.raises(StudentError, match="import huffman") as err:
                s.driver("encoded", "ab", {"a": "0", "b": "1"})
            assert err.value.cause == "timeout", err.value
        assert time.monotonic() - started < 2 * 2 + 1, "the import's time limit was charged more than once"
    finally:
        s.close()


def test_two_modules_that_import_each_other_are_imported_once_each(tmp_path):
    """Each module's imports of the assignment's other modules come first, and a pair that
    imports each other (as Python allows) is no endless loop on the grading side."""
    (tmp_path / "first.py").write_text("import second\n\ndef f():\n    return 1\n")
    (tmp_path / "second.py").write_text("import first\n\ndef g():\n    return first.f() + 1\n")
    s = Submission(tmp_path, ["first", "second"], Limits(wall_s=10), "limits")
    try:
        s.begin_test("circular", 0)
        assert s.module("second").g() == 2
        assert s.module("first").f() == 1
        assert s.worker.imported == {"first", "second"}
    finally:
        s.close()
