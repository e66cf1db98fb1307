"""What a worker can and cannot do, whatever the submission tries."""

import pytest

from grader import sandbox
from grader.config import Limits
from grader.remote import StudentError, Submission

PROBE = '''
import os, socket

def listing(path):
    return sorted(os.listdir(path))

def can_read(path):
    try:
        with open(path) as f:
            f.read(1)
        return True
    except OSError:
        return False

def can_write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return True
    except OSError:
        return False

def open_socket():
    socket.socket(socket.AF_INET, socket.SOCK_STREAM)

def pid():
    return os.getpid()
'''


@pytest.fixture
def probe(tmp_path):
    (tmp_path / "probe.py").write_text(PROBE)
    return tmp_path


def start(path, isolation):
    sub = Submission(path, ["probe"], Limits(wall_s=10), isolation)
    sub.begin_test("sandbox", 0)
    return sub, sub.module("probe")


@pytest.mark.parametrize("isolation", ["limits", "bwrap"])
def test_no_processes_no_sockets_no_limit_raising(probe, isolation):
    if isolation == "bwrap" and not sandbox.bwrap_path():
        pytest.skip("bubblewrap is not installed")
    sub, p = start(probe, isolation)
    try:
        with pytest.raises(StudentError, match="PermissionError"):
            p.open_socket()
    finally:
        sub.close()


@pytest.mark.skipif(not sandbox.bwrap_path(), reason="bubblewrap is not installed")
def test_bwrap_shows_only_the_submission_the_environment_and_a_private_tmp(probe, course):
    sub, p = start(probe, "bwrap")
    try:
        assert p.can_read(str(probe / "probe.py"))
        assert not p.can_write(str(probe / "probe.py")), "the submission is read-only"
        assert not p.can_read(str(course.root / "solutions" / "hw1" / "information.py"))
        assert p.can_read(str(course.root / "grader" / "suites" / "hw1" / "public" / "test_huffman.py"))
        assert p.listing(str(course.root / "grader" / "suites" / "hw1" / "hidden")) == [], "hidden tests stay hidden"
        assert p.can_write("/tmp/scratch.txt")
        assert "scratch.txt" in p.listing("/tmp")
        assert p.pid() < 10, "the worker has its own process tree"
        p.can_write(str(course.root / "written-by-worker.txt"))
        assert not (course.root / "written-by-worker.txt").exists(), "nothing outside /tmp reaches the real disk"
    finally:
        sub.close()


def test_seccomp_filter_is_installed_on_this_platform():
    import platform

    if platform.machine() != "x86_64":
        pytest.skip("the system-call filter is written for x86-64")
    assert len(sandbox._filter_program(1234)) % 8 == 0
