"""`course grade` under faults: killed, interrupted, obstructed or run twice, it loses nothing
already graded, leaves no process behind and ends with one line naming the cause."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader.batch import class_lock, finished, grade, student_dir
from grader.runner import grading_bound, run_assignment
from grader.errors import StudentError
from tests.conftest import ISOLATIONS

NAMES = ("ada", "bob", "cy", "dee", "eve")


@pytest.fixture
def class_dir(solutions, course, tmp_path):
    subs = tmp_path / "subs"
    for name in NAMES[:-1]:
        shutil.copytree(solutions, subs / name)
    shutil.copytree(course.root / "assignments" / "hw1", subs / NAMES[-1])
    return subs


def cli(course, *args) -> list[str]:
    return [sys.executable, "-m", "grader.cli", *args]


def env_for(course) -> dict:
    return {**os.environ, "COURSE_ROOT": str(course.root), "MPLBACKEND": "Agg"}


def descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for c in map(int, children):
                if c not in found:
                    found.add(c)
                    todo.append(c)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.skipif(sys.platform != "linux", reason="parent-death signals are Linux's")
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_killing_course_grade_alone_leaves_no_process_behind(course, class_dir, tmp_path, isolation):
    script = textwrap.dedent(f"""
        from pathlib import Path
        from grader.config import load_course
        from grader.batch import grade
        grade(load_course(Path({str(course.root)!r})), "hw1", Path({str(class_dir)!r}), Path({str(tmp_path / 'out')!r}),
              jobs=2, isolation={isolation!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env=env_for(course), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # grading processes and, under them, workers (bwrap, or python -m grader.worker)
        assert wait_until(lambda: len(descendants(proc.pid)) >= 4, 60), "the batch never started its workers"
        family = descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # the main process only, not its group
        proc.wait()
        assert wait_until(lambda: not any(alive(p) for p in family), 10), \
            f"left running after course grade was killed: {sorted(p for p in family if alive(p))}"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_an_unwritable_class_report_ends_the_run_with_one_line_and_keeps_the_grades(course, class_dir, tmp_path):
    out = tmp_path / "out"
    (out / "failures.csv").mkdir(parents=True)  # a folder where the class report goes
    proc = subprocess.run(cli(course, "grade", "hw1", str(class_dir), "--out", str(out), "--jobs", "2"),
                          env=env_for(course), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    assert lines[-1].startswith("course: ") and "failures.csv: cannot be written" in lines[-1]
    assert all(finished(student_dir(out, n)) for n in NAMES), "the students graded before the failure are kept"


def test_an_unwritable_student_folder_ends_the_run_with_one_line(course, class_dir, tmp_path):
    out = tmp_path / "out"
    (out / "students").mkdir(parents=True)
    (out / "students" / "cy").write_text("a file where cy's folder goes")
    proc = subprocess.run(cli(course, "grade", "hw1", str(class_dir), "--out", str(out), "--jobs", "1"),
                          env=env_for(course), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "students/cy: cannot be written" in proc.stderr.strip().splitlines()[-1]


def test_a_second_run_on_the_same_out_is_refused_while_the_first_holds_it(course, class_dir, tmp_path):
    out = tmp_path / "out"
    with class_lock(out):
        proc = subprocess.run(cli(course, "grade", "hw1", str(class_dir), "--out", str(out)),
                              env=env_for(course), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"another `course grade` (pid {os.getpid()}) is writing there" in proc.stderr
    assert not (out / "students").exists(), "the refused run graded nobody"
    summary = grade(course, "hw1", class_dir, out, jobs=2)  # the lock went with its holder
    assert sorted(summary.graded) == sorted(NAMES)


def test_ctrl_c_loses_nothing_and_the_rerun_resumes(course, class_dir, tmp_path):
    out = tmp_path / "out"
    # as a terminal starts it: Ctrl-C interrupts (a job started in the background by a
    # non-interactive shell, CI's tests perhaps, inherits SIGINT ignored, and so would this run)
    proc = subprocess.Popen(cli(course, "grade", "hw1", str(class_dir), "--out", str(out), "--jobs", "1"),
                            env=env_for(course), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert wait_until(lambda: any(finished(p) for p in (out / "students").glob("*")), 120)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    proc.wait(timeout=60)
    done_before = {p.name for p in (out / "students").glob("*") if finished(p)}
    assert 1 <= len(done_before) < len(NAMES)
    summary = grade(course, "hw1", class_dir, out, jobs=2)
    assert set(summary.skipped) == done_before
    totals = {r["student"]: r["total"] for r in csv.DictReader((out / "grades.csv").open())}
    assert totals == {"ada": "100", "bob": "100", "cy": "100", "dee": "100", "eve": "0"}


def test_the_grading_side_has_a_time_limit_per_test(course, solutions, monkeypatch, tmp_path):
    with pytest.raises(StudentError, match="grading side more than 0.2 s"):
        with grading_bound(0.2):
            while True:
                pass
    slow = tmp_path / "slow"
    shutil.copytree(solutions, slow)
    with open(slow / "information.py", "a") as f:
        f.write("\n\nimport time\n_entropy = entropy\n\n\ndef entropy(*args, **kwargs):\n"
                "    time.sleep(2)\n    return _entropy(*args, **kwargs)\n")
    monkeypatch.setattr("grader.runner.grading_seconds", lambda assignment: 0.5)
    result = run_assignment(course, "hw1", slow, ("public",), select="fair_coin")
    assert len(result.tests) == 1, [t.name for t in result.tests]
    (test,) = result.tests
    assert test.cause == "timeout" and "grading side more than 0.5 s" in test.feedback, test
