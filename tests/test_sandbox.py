"""What a worker can and cannot do, whatever the submission tries."""

import os
import sys

import pytest

from grader import paths

from grader import sandbox
from grader.worker import confine
from grader.config import Limits
from grader.remote import Submission
from grader.errors import StudentError
from tests.conftest import ISOLATIONS

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


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_no_processes_no_sockets_no_limit_raising(probe, isolation):
    sub, p = start(probe, isolation)
    try:
        with pytest.raises(StudentError, match="PermissionError"):
            p.open_socket()
    finally:
        sub.close()


@pytest.mark.skipif(not sandbox.bwrap_path(), reason="bubblewrap is not installed")
def test_bwrap_shows_only_the_submission_the_environment_and_a_private_tmp(probe, course):
    sub, p = start(probe, "bwrap")
    package = paths.PACKAGE
    try:
        assert p.can_read(f"{sandbox.SUBMISSION}/probe.py"), "the student's files, at /submission"
        assert not p.can_write(f"{sandbox.SUBMISSION}/probe.py"), "the submission is read-only"
        assert not p.can_read(str(probe / "probe.py")), "nothing else of the grading side's disk"
        assert not p.can_read(str(course.root / "solutions" / "hw1" / "information.py"))
        assert not p.can_read(str(course.root / "datasets" / "digits" / "digits.npz"))
        assert p.listing(str(package)) == ["__init__.py", "worker"], "of the package, only the worker's part"
        assert not p.can_read(str(package / "suites" / "hw1" / "public" / "test_huffman.py"))
        assert p.can_read(str(package / "worker" / "server.py"))
        assert not p.can_write(str(package / "worker" / "server.py"))
        assert p.pid() < 10, "the worker has its own process tree"
        p.can_write(str(course.root / "written-by-worker.txt"))
        assert not (course.root / "written-by-worker.txt").exists(), "nothing outside /tmp reaches the real disk"
        # /tmp is the worker's private scratch folder: what it writes there lands in that folder
        # on the grading side, not in the machine's /tmp, and is gone once the worker ends
        name = f"scratch-{os.getpid()}.txt"
        assert p.can_write(f"/tmp/{name}")
        scratch = sub.worker.workdir
        assert (scratch / name).is_file() and not os.path.exists(f"/tmp/{name}")
    finally:
        sub.close()
    assert not (scratch / name).exists(), "the scratch folder is emptied when the worker ends"


def _forbid_in_a_fresh_process(prelude: str = "") -> list[str]:
    import subprocess
    import sys

    script = prelude + (
        "from grader.worker import confine\n"
        "installed = confine.forbid_processes()\n"
        "status = open('/proc/self/status').read() if sys.platform == 'linux' else ''\n"
        "print(installed, 'Seccomp:\\t2' in status)\n"
    )
    run = subprocess.run([sys.executable, "-c", "import sys\n" + script], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def test_seccomp_filter_is_installed_on_this_platform():
    import platform
    import sys

    if sys.platform != "linux" or platform.machine() not in ("x86_64", "aarch64"):
        pytest.skip("the system-call filter is checked on Linux x86-64 and aarch64")
    assert confine.filter_program(1234), "libseccomp builds the filter"
    assert _forbid_in_a_fresh_process() == ["True", "True"]


def test_without_libseccomp_no_filter_is_claimed():
    import sys

    if sys.platform != "linux":
        pytest.skip("seccomp is Linux's")
    # an import of pyseccomp that fails, as where libseccomp is missing
    assert _forbid_in_a_fresh_process("sys.modules['pyseccomp'] = None\n") == ["False", "False"]


@pytest.mark.skipif(sys.platform != "linux", reason="/proc/PID/mem is Linux's")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_the_worker_cannot_touch_the_grading_process_memory(tmp_path, isolation):
    (tmp_path / "reach.py").write_text(
        "import os\n"
        "def grader_memory(pid):\n"
        "    try:\n"
        "        with open(f'/proc/{pid}/mem', 'r+b'):\n"
        "            return 'opened'\n"
        "    except OSError as exc:\n"
        "        return type(exc).__name__\n")
    confine.undumpable()  # as grader.runner does before it starts a worker
    sub = Submission(tmp_path, ["reach"], Limits(wall_s=10), isolation)
    try:
        sub.begin_test("memory", 0)
        assert sub.module("reach").grader_memory(os.getpid()) != "opened"
    finally:
        sub.close()


@pytest.mark.skipif(not sandbox.bwrap_path(), reason="bubblewrap is not installed")
def test_a_checkout_on_the_import_path_stays_out_of_view(probe, course, monkeypatch, tmp_path):
    """Grading another course root (COURSE_ROOT elsewhere) from inside a checkout, which is then on
    the grading process's sys.path: the checkout's solutions are still not in the sandbox."""
    monkeypatch.setenv("COURSE_ROOT", str(tmp_path))
    monkeypatch.syspath_prepend(str(course.root))
    sub, p = start(probe, "bwrap")
    try:
        assert not p.can_read(str(course.root / "solutions" / "hw1" / "information.py"))
        assert not p.can_read(str(course.root / "course.yaml"))
    finally:
        sub.close()
