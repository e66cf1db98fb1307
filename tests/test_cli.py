"""The `course` command through click's CliRunner: output, exit codes, one-line causes."""

import csv
import json
import re
import shutil

import pytest
from click.testing import CliRunner

from grader import paths
from grader.cli import main
from grader.config import load_course
from tests.conftest import ROOT

COURSE = load_course(ROOT)


@pytest.fixture
def run(course, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_ROOT", str(course.root))

    def invoke(*args):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def own_root(monkeypatch, tmp_path):
    """`course` in a course root of its own (course.yaml and datasets/ copied): a whole `course
    check` records the score there, not in the checkout's progress file."""
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(ROOT / "course.yaml", root / "course.yaml")
    shutil.copytree(ROOT / "datasets", root / "datasets")
    monkeypatch.setenv("COURSE_ROOT", str(root))

    def invoke(*args):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_check_solution_passes_public_and_hidden(run):
    result = run("check", "hw1", "--solution")
    assert result.exit_code == 0, result.output
    assert "Total" in result.output and "100 / 100" in result.output and "(* hidden test)" in result.output


def test_check_on_stubs_fails_every_test_with_the_task_number(own_root, course, tmp_path):
    shutil.copytree(course.root / "assignments" / "hw1", tmp_path / "stubs")
    result = own_root("check", "hw1", "--path", str(tmp_path / "stubs"), "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["score"] == 0 and data["suites"] == ["public"]
    assert all(t["feedback"].startswith(f"Task {t['task']}:") for t in data["tests"])


def test_a_syntax_error_in_one_file_costs_only_that_files_tests(own_root, solutions, tmp_path):
    shutil.copytree(solutions, tmp_path / "sub")
    (tmp_path / "sub" / "huffman.py").write_text("def code_lengths(freqs):\n    return {s: 1 for s in freqs\n")
    result = own_root("check", "hw1", "--path", str(tmp_path / "sub"), "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    points = {t["id"]: t["points"] for t in data["tasks"]}
    assert [points[t] for t in ("1.1", "1.2", "1.3", "1.4")] == [10, 15, 10, 15]
    broken = [t for t in data["tests"] if t["task"] >= "1.5"]
    assert broken and all(t["cause"] == "syntax" and "huffman.py:2" in t["feedback"] for t in broken)


def test_a_missing_file_is_named_and_the_rest_is_graded(own_root, solutions, tmp_path):
    (tmp_path / "sub").mkdir()
    shutil.copy(solutions / "information.py", tmp_path / "sub")
    result = own_root("check", "hw1", "--path", str(tmp_path / "sub"), "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["score"] == 50 and "huffman.py is missing from the submission" in data["notes"]
    assert any(t["cause"] == "missing" and "huffman.py" in t["feedback"] for t in data["tests"])


@pytest.mark.parametrize(
    "args,message",
    [
        (("check", "hw9"), f"course: unknown assignment 'hw9'; valid ids: {', '.join(a.id for a in COURSE.assignments)}"),
        (("check", "hw1", "--path", "/nonexistent/folder"), "course: /nonexistent/folder: no such folder"),
        (("grade", "hw1", "/nonexistent/subs", "--out", "/tmp/x"), "course: /nonexistent/subs: no such folder"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(run, args, message):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 2
    assert result.output.strip().startswith(message), result.output
    assert len(result.output.strip().splitlines()) == 1


# What needs a built assignment, run on the small course's planned one ({out}, {subs}: folders in tmp_path).
ON_A_PLANNED_ASSIGNMENT = [
    ("check", "later"),
    ("check", "later", "--solution"),
    ("check", "later", "--path", "{subs}"),
    ("grade", "later", "{subs}", "--out", "{out}"),
    ("audit", "later"),
    ("plot", "later", "--solution", "--out", "{out}"),
    ("snapshot", "later"),
    ("snapshot", "later", "--check"),
]


@pytest.mark.parametrize("args", ON_A_PLANNED_ASSIGNMENT, ids=" ".join)
def test_a_planned_assignment_is_not_built_yet_one_line_and_exit_2(small_course, monkeypatch, tmp_path, args):
    monkeypatch.setenv("COURSE_ROOT", str(small_course.root))
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    args = [a.format(out=tmp_path / "out", subs=tmp_path / "subs") for a in args]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.output.strip().startswith(
        "course: later (Later - planned for a later release) is not built yet"
    ), result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "out").exists() and not (small_course.root / "assignments").exists()


def test_release_and_syllabus_pass_over_a_planned_assignment(small_course, monkeypatch):
    """`course release` generates the built assignment only (the planned one has no solutions to
    generate from), and `course syllabus` lists the planned one as not built yet."""
    monkeypatch.setenv("COURSE_ROOT", str(small_course.root))
    result = CliRunner().invoke(main, ["release"])
    assert result.exit_code == 0, result.output
    stub = (small_course.root / "assignments" / "intro" / "entropy.py").read_text()
    assert 'raise NotImplementedError("Task 1.1: entropy is not implemented yet")' in stub
    assert "Task 1.1: Entropy in bits (100 points)" in (small_course.root / "assignments" / "intro" / "README.md").read_text()
    assert sorted(p.name for p in (small_course.root / "assignments").iterdir()) == ["intro"]
    result = CliRunner().invoke(main, ["release", "--check"])
    assert result.exit_code == 0 and "up to date" in result.output, result.output

    result = CliRunner().invoke(main, ["syllabus"])
    assert result.exit_code == 0, result.output
    rows = {ln.split()[1]: ln for ln in result.output.splitlines() if re.match(r"\d+ +(?!assignments,)", ln)}
    assert sorted(rows) == ["intro", "later"], result.output
    assert rows["later"].rstrip().endswith("(not built yet)") and "not built" not in rows["intro"], result.output
    assert "reading: Astrom & Murray, Feedback Systems" in result.output
    assert "2 assignments, about 3 hours" in result.output


def test_a_folder_without_any_assignment_file_is_refused(run, tmp_path):
    result = CliRunner().invoke(main, ["check", "hw1", "--path", str(tmp_path)])
    assert result.exit_code == 2 and "none of hw1's files (information.py, huffman.py) is there" in result.output


def test_malformed_course_yaml_names_key_and_line(monkeypatch, course, tmp_path):
    text = (course.root / "course.yaml").read_text().replace("estimate_hours: 6", "estimate_hours: six", 1)
    (tmp_path / "course.yaml").write_text(text)
    monkeypatch.setenv("COURSE_ROOT", str(tmp_path))
    result = CliRunner().invoke(main, ["syllabus"])
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "estimate_hours: six" in ln)
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"course: course.yaml:{line}: assignments[0].estimate_hours: expected a positive number, got 'six'"
    )


def test_syllabus_lists_readings_and_the_last_score(run, monkeypatch, course, tmp_path):
    shutil.copy(course.root / "course.yaml", tmp_path / "course.yaml")
    shutil.copytree(course.root / "assignments", tmp_path / "assignments")
    shutil.copytree(course.root / "datasets", tmp_path / "datasets")
    monkeypatch.setenv("COURSE_ROOT", str(tmp_path))
    assert run("check", "hw1").exit_code == 1
    result = run("syllabus")
    assert result.exit_code == 0
    assert "reading: Shannon (1948)" in result.output and "Kingma & Ba (2014)" in result.output
    assert "0 / 100 (" in result.output
    assert result.output.count("(not built yet)") == sum(not a.built for a in course.assignments), result.output


def test_release_check_passes_on_the_committed_tree(run):
    result = run("release", "--check")
    assert result.exit_code == 0 and "up to date" in result.output


# The built assignments whose public suite reads stored reference values (grader/suites/<id>/snapshots.py).
SNAPSHOTS = [a.id for a in COURSE.assignments if a.built and (paths.suite_dir(a) / "snapshots.py").is_file()]


@pytest.mark.parametrize("assignment", SNAPSHOTS)
def test_snapshot_is_up_to_date(run, assignment):
    result = run("snapshot", assignment, "--check")
    assert result.exit_code == 0, result.output


def test_plot_draws_the_learners_figure_or_says_why_not(run, tmp_path):
    result = run("plot", "hw1", "--solution", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hw1_bits_per_character.png").read_bytes()[:4] == b"\x89PNG"
    result = CliRunner().invoke(main, ["plot", "hw1", "--out", str(tmp_path / "stub")])
    assert result.exit_code == 2
    assert "not implemented yet" in result.output and len(result.output.strip().splitlines()) == 1


def test_plot_hw3_draws_both_experiments_and_writes_their_numbers(run, tmp_path):
    result = run("plot", "hw3", "--solution", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    for name in ("hw3_rosenbrock.png", "hw3_large_batch.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader((tmp_path / "hw3_large_batch.csv").open()))
    assert len(rows) == 3 + 2 * 6 * 3  # small-batch Adam, then Adam and LAMB at six rates, three seeds each
    lamb = [float(r["val_accuracy"]) for r in rows if r["optimizer"] == "LAMB" and float(r["lr"]) == 0.032]
    assert len(lamb) == 3 and min(lamb) >= 0.9
