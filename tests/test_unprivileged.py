"""Grading as root without bubblewrap (Gradescope): student code runs as an unprivileged user."""

import os
import tempfile
from pathlib import Path

import pytest

from grader import remote
from grader.config import Limits
from grader.errors import StudentError
from grader.remote import Submission

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the worker drops root only when it has it")

PROBE = """
import os

def ids():
    return [os.getuid(), os.geteuid(), os.getgid(), os.getgroups()]

def read(path):
    with open(path) as f:
        return f.read()

def lock_scratch():
    os.makedirs("locked/inner")
    with open("locked/inner/left.txt", "w") as f:
        f.write("left")
    os.chmod("locked/inner", 0)
    os.chmod("locked", 0)
    os.chmod(".", 0o500)
    return os.getcwd()

def scratch():
    with open("mine.txt", "w") as f:
        f.write("ok")
    return sorted(os.listdir("."))
"""


@pytest.fixture
def python_readable(monkeypatch):
    """This machine's Python may live where only root reads (a pyenv under /root): the probe uses
    only what the worker has already imported, so the drop is tested all the same."""
    monkeypatch.setattr(remote, "unreadable_for", lambda run_as, folders: "")


def open_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="course-unpriv-"))
    folder.chmod(0o777)  # every user reaches it: only a file's own mode stands in the way
    return folder


def probe(folder: Path) -> Submission:
    (folder / "probe.py").write_text(PROBE)
    s = Submission(folder, ["probe"], Limits(wall_s=10), "limits")
    s.begin_test("unprivileged", 0)
    return s


def test_student_code_runs_as_an_unprivileged_user_and_cannot_read_root_files(python_readable):
    folder = open_folder()
    secret = folder / "secret.txt"
    secret.write_text("HIDDEN-ANSWER-42")
    secret.chmod(0o600)
    s = probe(folder)
    try:
        uid, euid, gid, groups = s.module("probe").ids()
        assert uid != 0 and euid != 0 and gid != 0 and groups == []
        with pytest.raises(StudentError, match="PermissionError") as err:
            s.module("probe").read(str(secret))
        assert "HIDDEN-ANSWER-42" not in str(err.value) and "HIDDEN-ANSWER-42" not in s.printed()
    finally:
        s.close()


def test_no_such_worker_user_fails_with_its_cause_and_runs_nothing(monkeypatch, python_readable):
    folder = open_folder()
    marker = folder / "ran.txt"
    (folder / "probe.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\ndef f():\n    return 1\n")
    monkeypatch.setenv(remote.WORKER_USER, "no-such-grader-user")
    s = Submission(folder, ["probe"], Limits(wall_s=10), "limits")
    try:
        for _ in range(2):  # every test, not only the first
            with pytest.raises(StudentError) as err:
                s.begin_test("unprivileged", 0)
                s.module("probe").f()
            assert str(err.value) == "the worker could not drop root: no user 'no-such-grader-user' (set COURSE_WORKER_USER)"
    finally:
        s.close()
    assert not marker.exists()


def test_a_worker_given_no_user_refuses_to_run_student_code(python_readable):
    """The worker's own check, should the grading side send no user (run_as None) while root."""
    folder = open_folder()
    marker = folder / "ran.txt"
    (folder / "probe.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\ndef f():\n    return 1\n")
    s = Submission(folder, ["probe"], Limits(wall_s=10), "limits")
    s.close()
    s.worker.config = remote.contract.ParentConfig(**{**s.worker.config.__dict__, "run_as": None})
    try:
        with pytest.raises(StudentError, match="could not drop root: no unprivileged user was given"):
            s.begin_test("unprivileged", 0)
            s.module("probe").f()
    finally:
        s.close()
    assert not marker.exists()


def test_scratch_the_student_locked_is_cleaned_for_the_next_worker(python_readable):
    folder = open_folder()
    s = probe(folder)
    try:
        scratch = s.module("probe").lock_scratch()
        s.worker.stop()  # the next submission's worker: a fresh fork, the same scratch folder
        assert s.module("probe").scratch() == ["mine.txt", "output.txt", "startup.txt"]
        assert os.stat(scratch).st_uid != 0
    finally:
        s.close()


def test_the_hw1_solution_still_scores_full_marks(course, solutions):
    """As the machine is: dropped where the worker's user reads Python's files (else said on stderr)."""
    from grader.runner import run_assignment

    result = run_assignment(course, "hw1", solutions, ("public", "hidden"), isolation="limits")
    assert result.score == result.max_score > 0
