"""`course grade` over a class: reports per student and per class, resume after kill -9,
determinism, and a forged report that does not survive."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from grader.batch import finished, grade, student_dir


@pytest.fixture
def class_dir(course, solutions, tmp_path):
    subs = tmp_path / "subs"
    for name in ("ada", "bob", "cy", "dee"):
        shutil.copytree(solutions, subs / name)
    shutil.copytree(course.root / "assignments" / "hw1", subs / "eve")
    return subs


def test_class_reports(hw1_batch, course):
    out = hw1_batch["out"]
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert len(rows) == len(hw1_batch["results"])
    header = list(rows[0])
    assert header[0] == "student" and header[-1] == "total"
    assert header[1:-1] == [f"{t.id} {t.title}" for t in course.assignment("hw1").tasks]
    by_name = {r["student"]: r for r in rows}
    assert by_name["solution"]["total"] == "100" and by_name["stubs"]["total"] == "0"
    assert by_name["variant-kl_arguments_swapped"]["1.2 Cross-entropy and KL divergence"] != "15"
    failures = list(csv.DictReader((out / "failures.csv").open()))
    assert {"timeout", "crash", "limit", "wrong answer", "not-implemented"} <= {f["cause"] for f in failures}
    assert (out / "histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    gradescope = json.loads((student_dir(out, "solution") / "results.json").read_text())
    assert set(gradescope) == {"score", "execution_time", "output", "tests"}
    t = gradescope["tests"][0]
    assert set(t) == {"name", "number", "score", "max_score", "status", "output", "visibility", "tags"}
    assert {x["visibility"] for x in gradescope["tests"]} == {"visible", "after_due_date"}
    assert "Score: 0 / 100" in (student_dir(out, "stubs") / "feedback.txt").read_text()


def test_resume_after_kill_minus_nine(course, class_dir, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "grader.cli", "grade", "hw1", str(class_dir), "--out", str(out), "--jobs", "1"]
    env = {**os.environ, "COURSE_ROOT": str(course.root)}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(finished(p) for p in (out / "students").glob("*") if p.is_dir()):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {p.name for p in (out / "students").glob("*") if p.is_dir() and finished(p)}
    assert 1 <= len(done_before) < 5
    stamps = {n: (student_dir(out, n) / "result.json").stat().st_mtime_ns for n in done_before}
    summary = grade(course, "hw1", class_dir, out, jobs=2)
    assert set(summary.skipped) == done_before
    assert set(summary.graded) == {"ada", "bob", "cy", "dee", "eve"} - done_before
    assert all((student_dir(out, n) / "result.json").stat().st_mtime_ns == stamps[n] for n in done_before)
    totals = {r["student"]: r["total"] for r in csv.DictReader((out / "grades.csv").open())}
    assert totals == {"ada": "100", "bob": "100", "cy": "100", "dee": "100", "eve": "0"}


def test_regrading_gives_the_same_scores_and_a_forged_report_is_regraded(course, class_dir, tmp_path):
    out = tmp_path / "out"
    grade(course, "hw1", class_dir, out, jobs=2)
    first = {n: json.loads((student_dir(out, n) / "result.json").read_text()) for n in ("ada", "eve")}
    forged = json.loads((student_dir(out, "eve") / "results.json").read_text())
    forged["score"] = 100
    (student_dir(out, "eve") / "results.json").write_text(json.dumps(forged))
    summary = grade(course, "hw1", class_dir, out, jobs=2)
    assert summary.graded == ["eve"]
    assert json.loads((student_dir(out, "eve") / "results.json").read_text())["score"] == 0
    again = grade(course, "hw1", class_dir, out, jobs=2, force=True)
    assert sorted(again.graded) == ["ada", "bob", "cy", "dee", "eve"]
    for n, before in first.items():
        after = json.loads((student_dir(out, n) / "result.json").read_text())
        assert [(t["nodeid"], t["points"], t["feedback"]) for t in after["tests"]] == \
               [(t["nodeid"], t["points"], t["feedback"]) for t in before["tests"]]


def test_preload_runs_the_suites_warm_hook_with_the_trials_seeds(course, monkeypatch):
    """A suite's warm.py computes, once before grading processes fork, what every submission's
    grading computes alike; it gets the seeds that trial's tests get (course audit --seeds)."""
    import types

    from grader import paths, runner

    seen = []
    hook = types.SimpleNamespace(warm=lambda seed_of: seen.append(seed_of("task 4.7: a shared run")))
    monkeypatch.setattr(paths, "suite_module", lambda a, name: hook if name == "warm" else None)
    for trial in (0, 1):
        runner.preload(course.assignment("hw3"), trial)
    assert seen == [runner.test_seed("task 4.7: a shared run", 0), runner.test_seed("task 4.7: a shared run", 1)]
    assert seen[0] != seen[1]
