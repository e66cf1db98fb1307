"""Adding an assignment is a folder and a course.yaml entry (docs/adding-an-assignment.md).

tests/fixtures/template/ is a miniature course root holding one assignment, `tpl`, laid out by the
conventions of grader/paths.py and nothing else: course.yaml, solutions/tpl/, grader/suites/tpl/,
grader/worker/drivers/tpl.py and datasets/tpl/heldout/. Copied to a temporary folder and made the
course root (COURSE_ROOT), every `course` command works on it as on the course itself: release,
check, grade, the student distribution, audit, and the nbgrader round trip.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.audit import MIN_CORRECT, MIN_WRONG, load_variants, make_submission
from grader.batch import grade
from grader.cli import main
from grader.config import load_course
from tests.fixtures.notebooks import solved, submit, with_edit

TEMPLATE = Path(__file__).resolve().parent / "fixtures" / "template"
FUNCTIONS = {"mean": "1.1", "variance": "1.1", "median": "1.2", "percentile": "1.2"}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A copy of the template, as the course root (COURSE_ROOT and the working directory)."""
    root = tmp_path_factory.mktemp("template") / "course"
    shutil.copytree(TEMPLATE, root, ignore=shutil.ignore_patterns("__pycache__"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_ROOT", str(root))
        mp.chdir(root)
        yield root


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def released(root):
    """`course release`: assignments/tpl generated from solutions/tpl."""
    assert not (root / "assignments").exists()
    result = invoke("release")
    assert result.exit_code == 0 and "regenerated 2 file(s)" in result.output, result.output
    return root / "assignments" / "tpl"


def test_release_writes_stubs_and_handout_from_the_solution(released, root):
    stub = (released / "stats.py").read_text()
    for name, task in FUNCTIONS.items():
        assert f'raise NotImplementedError("Task {task}: {name} is not implemented yet")' in stub
    assert "# HINT: sort a copy first" in stub and "BEGIN SOLUTION" not in stub and "sum(xs) / len(xs)" not in stub
    handout = (released / "README.md").read_text()
    assert "## Task 1.1: Mean and variance (10 points)" in handout and "| | **total** | **20** |" in handout
    assert invoke("release", "--check").exit_code == 0
    syllabus = invoke("syllabus").output
    assert "tpl" in syllabus and "Hyndman & Fan" in syllabus and "course check tpl" in syllabus, syllabus


def test_check_solution_scores_full_marks_on_public_and_hidden_tests(released):
    result = invoke("check", "tpl", "--solution", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["score"] == data["max_score"] == 20 and data["suites"] == ["public", "hidden"]
    kinds = {t["kind"] for t in data["tests"]}
    assert kinds == {"public", "hidden"}
    assert any("driver" in t["name"] for t in data["tests"])  # submission.driver ran grader/worker/drivers/tpl.py


def test_check_on_the_stubs_fails_every_test_with_its_tasks_not_implemented_error(released):
    result = invoke("check", "tpl", "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    assert data["score"] == 0 and data["suites"] == ["public"] and data["tests"]
    for t in data["tests"]:
        assert t["cause"] == "not-implemented" and t["feedback"].startswith(f"Task {t['task']}:"), t
    assert {t["task"] for t in data["tests"]} == {"1.1", "1.2"}


def test_snapshot_is_up_to_date_and_plot_draws_from_the_learners_code(released, tmp_path):
    result = invoke("snapshot", "tpl", "--check")
    assert result.exit_code == 0 and "snapshot up to date" in result.output, result.output
    result = invoke("plot", "tpl", "--solution", "--out", str(tmp_path / "figures"))
    assert result.exit_code == 0 and (tmp_path / "figures" / "tpl_percentiles.png").stat().st_size > 1000, result.output
    result = invoke("plot", "tpl", "--out", str(tmp_path / "stubs"))
    assert result.exit_code == 2 and "Task 1.2: percentile is not implemented yet" in result.output, result.output


def test_grade_a_class_of_three(released, root, tmp_path):
    course = load_course(root)
    wrong, _ = load_variants(course.assignment("tpl"))
    upper = next(v for v in wrong if v.name == "median_upper_middle")
    subs = tmp_path / "subs"
    shutil.copytree(root / "solutions" / "tpl", subs / "alice")
    make_submission(root / "solutions" / "tpl", upper, subs / "bob")
    shutil.copytree(released, subs / "carol")
    result = invoke("grade", "tpl", str(subs), "--out", str(tmp_path / "out"), "--jobs", "2")
    assert result.exit_code == 0 and "graded 3" in result.output, result.output
    with (tmp_path / "out" / "grades.csv").open() as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert float(rows["alice"]["total"]) == 20 and float(rows["carol"]["total"]) == 0
    assert float(rows["bob"]["1.1 Mean and variance"]) == 10 and float(rows["bob"]["1.2 Median and percentiles"]) < 10
    feedback = (tmp_path / "out" / "students" / "bob" / "feedback.txt").read_text()
    assert upper.says in feedback
    gradescope = json.loads((tmp_path / "out" / "students" / "alice" / "results.json").read_text())
    assert gradescope["score"] == 20 and {t["number"] for t in gradescope["tests"]} == {"1.1", "1.2"}
    assert {t["visibility"] for t in gradescope["tests"]} == {"visible", "after_due_date"}


def test_the_student_distribution_has_no_solutions_no_hidden_tests_and_no_held_out_data(released, root, tmp_path, monkeypatch):
    dist = tmp_path / "dist"
    result = invoke("release", "--out", str(dist))
    assert result.exit_code == 0 and "leak scan clean" in result.output, result.output
    shipped = {p.relative_to(dist).as_posix() for p in dist.rglob("*") if p.is_file()}
    assert {"course.yaml", "assignments/tpl/stats.py", "assignments/tpl/README.md", "grader/suites/tpl/conftest.py",
            "grader/suites/tpl/public/test_stats.py", "grader/suites/tpl/_snapshots/reference.json",
            "grader/worker/drivers/tpl.py", "datasets/tpl/README.md"} <= shipped
    assert not [p for p in shipped if p.startswith("solutions/") or "/hidden/" in p or "/heldout/" in p], shipped

    # the leak scan knows the template's held-out data by content, whatever a copy is called
    from grader.release import scan_for_leaks

    shutil.copy(root / "datasets" / "tpl" / "heldout" / "heights.txt", dist / "datasets" / "tpl" / "sample.txt")
    assert any("holds the bytes of datasets/tpl/heldout/heights.txt" in leak for leak in scan_for_leaks(load_course(root), dist))
    (dist / "datasets" / "tpl" / "sample.txt").unlink()

    # students check their work in the distribution itself: public tests only, no solutions to grade
    monkeypatch.setenv("COURSE_ROOT", str(dist))
    result = invoke("check", "tpl", "--json")
    assert result.exit_code == 1 and json.loads(result.output)["suites"] == ["public"], result.output
    result = invoke("check", "tpl", "--solution")
    assert result.exit_code == 2 and "--solution needs the instructor's copy" in result.output, result.output


def test_audit_passes(released):
    result = invoke("audit", "tpl", "--jobs", "2", "--json")
    (report,) = json.loads(result.output)
    assert result.exit_code == 0 and report["passed"], report["problems"]
    kinds = [r["kind"] for r in report["rows"]]
    assert kinds.count("wrong") >= MIN_WRONG and kinds.count("correct") >= MIN_CORRECT
    assert report["catch_rate"] == 1.0 and report["false_failures"] == 0


def nbgrader(course_dir: Path, root: Path, *args: str) -> None:
    env = {**os.environ, "MPLBACKEND": "Agg", "COURSE_ROOT": str(root)}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course_dir, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]


def test_nbgrader_round_trip_gives_the_points_course_grade_gives(released, root, tmp_path):
    course_dir = tmp_path / "nbgrader"
    result = invoke("nbgrader", "init", str(course_dir))
    assert result.exit_code == 0 and (course_dir / "source" / "tpl" / "tpl.ipynb").is_file(), result.output
    nbgrader(course_dir, root, "generate_assignment", "tpl")
    released_nb = json.loads((course_dir / "release" / "tpl" / "tpl.ipynb").read_text())
    assert "BEGIN SOLUTION" not in json.dumps(released_nb) and "hidden=True" not in json.dumps(released_nb)

    wrong, _ = load_variants(load_course(root).assignment("tpl"))
    upper = next(v for v in wrong if v.name == "median_upper_middle")
    right = solved(course_dir, "tpl")
    for student, nb in {"alice": right, "bob": with_edit(right, upper.old, upper.new), "carol": released_nb}.items():
        submit(course_dir, "tpl", student, nb)
    nbgrader(course_dir, root, "autograde", "tpl")
    nbgrader(course_dir, root, "export")
    with (course_dir / "grades.csv").open() as f:
        exported = {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(f)}

    grade(load_course(root), "tpl", course_dir / "submitted", tmp_path / "graded", jobs=2)
    results = {s: json.loads((tmp_path / "graded" / "students" / s / "result.json").read_text()) for s in ("alice", "bob", "carol")}
    ours = {s: r["score"] for s, r in results.items()}
    lost = {s: {t["id"] for t in r["tasks"] if t["points"] < t["max_points"]} for s, r in results.items()}
    assert lost == {"alice": set(), "bob": set(upper.loses), "carol": {"1.1", "1.2"}}, lost
    assert ours["alice"] == 20 and ours["carol"] == 0, ours
    assert exported == pytest.approx(ours, abs=0.01), (exported, ours)
