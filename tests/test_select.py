"""`course check` on a part of an assignment (-k, --task) and with the hidden tests (--hidden).

Every run here is in a temporary course root (course.yaml and datasets/ copied) on a temporary copy
of the solutions, so the checkout's own progress file and assignments/ are never touched.
"""

import json
import re
import shutil

import pytest
from click.testing import CliRunner

from grader.cli import main
from tests.conftest import ROOT


@pytest.fixture
def learner(tmp_path, monkeypatch):
    """A course root of a learner's own (its progress file in it), and a copy of hw1's solution."""
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(ROOT / "course.yaml", root / "course.yaml")
    shutil.copytree(ROOT / "datasets", root / "datasets")
    work = tmp_path / "work"
    shutil.copytree(ROOT / "solutions" / "hw1", work, ignore=shutil.ignore_patterns("__pycache__", "*.md"))
    monkeypatch.setenv("COURSE_ROOT", str(root))
    return root, work


def check(*args):
    return CliRunner().invoke(main, ["check", "hw1", *args])


def as_json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def whole(learner):
    """hw1's public suite on the solution, every test: {nodeid: test} and {task: TaskScore dict}."""
    root, work = learner
    data = as_json(check("--path", str(work), "--json"))
    (root / ".course" / "progress.json").unlink()  # a whole run is recorded; the tests start without one
    return {t["nodeid"]: t for t in data["tests"]}, {t["id"]: t for t in data["tasks"]}


def progress(root):
    path = root / ".course" / "progress.json"
    return json.loads(path.read_text()) if path.exists() else None


def test_k_with_a_task_id_runs_that_tasks_tests_only(learner, whole):
    root, work = learner
    tests, tasks = whole
    data = as_json(check("--path", str(work), "-k", "1.1", "--json"))
    assert {t["nodeid"] for t in data["tests"]} == {n for n, t in tests.items() if t["task"] == "1.1"}
    assert data["selection"] == "task 1.1"
    assert (data["score"], data["max_score"]) == (tasks["1.1"]["max_points"],) * 2
    assert progress(root) is None  # a part is not the learner's score


def test_a_selected_test_keeps_its_share_of_the_whole_task(learner, whole):
    """One of task 1.5's tests: its points are its share of the task's 15 over all the task's
    tests, the task line says how many ran, the total counts only the tests run."""
    root, work = learner
    tests, tasks = whole
    of_task = [t for t in tests.values() if t["task"] == "1.5"]
    one = of_task[0]
    name = one["nodeid"].split("::")[-1]
    data = as_json(check("--path", str(work), "--task", "1.5", "-k", name, "--json"))
    assert [t["nodeid"] for t in data["tests"]] == [one["nodeid"]]
    assert data["tests"][0]["max_points"] == one["max_points"] < tasks["1.5"]["max_points"]
    assert (data["score"], data["max_score"]) == (one["max_points"], one["max_points"])

    out = check("--path", str(work), "--task", "1.5", "-k", name).output
    share, task_points, n = f"{one['max_points']:g}", f"{tasks['1.5']['max_points']:g}", len(of_task)
    assert re.search(rf"Task 1\.5 .* {share} / {task_points}  \(1 of {n} tests run\)\n", out), out
    assert re.search(rf"Total of the tests run +{share} / {share} ", out), out
    assert f"not run: {len(tests) - 1} of {len(tests)} tests, worth {100 - one['max_points']:g} of 100 points" in out, out
    assert "Task 1.1" not in out and "selected: task 1.5 and -k" in out
    assert progress(root) is None


def test_task_takes_a_list_and_repeats(learner, whole):
    root, work = learner
    tests, tasks = whole
    for args in (["--task", "1.5,1.6"], ["--task", "1.5", "--task", "1.6"]):
        data = as_json(check("--path", str(work), *args, "--json"))
        assert {t["nodeid"] for t in data["tests"]} == {n for n, t in tests.items() if t["task"] in ("1.5", "1.6")}
        assert data["score"] == data["max_score"] == tasks["1.5"]["max_points"] + tasks["1.6"]["max_points"]
        assert all(t["max_points"] == tests[t["nodeid"]]["max_points"] for t in data["tests"])
    assert progress(root) is None


def test_k_still_selects_by_test_name(learner, whole):
    root, work = learner
    tests, _ = whole
    data = as_json(check("--path", str(work), "-k", "kraft", "--json"))
    assert data["tests"] and {t["nodeid"] for t in data["tests"]} == {n for n in tests if "kraft" in n}
    assert all(t["max_points"] == tests[t["nodeid"]]["max_points"] for t in data["tests"])  # not rescaled


@pytest.mark.parametrize(
    "args,line",
    [
        (["-k", "no_such_test"], "course: no public test of hw1 matches -k 'no_such_test'; nothing was run"),
        (["--task", "1.1", "-k", "huffman"], "course: no public test of hw1 matches task 1.1 and -k 'huffman'; nothing was run"),
        (["--task", "1.9"], "course: hw1 has no task 1.9; its tasks: 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8"),
        (["-k", "2.1"], "course: hw1 has no task 2.1; its tasks: 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8"),
        (["-k", "kraft and"], "course: Wrong expression passed to '-k': kraft and: at column 10: expected"),
    ],
    ids=["no-match", "task-and-k-no-match", "unknown-task", "unknown-task-by-k", "bad-expression"],
)
def test_a_selection_that_runs_nothing_is_one_line_and_exit_2(learner, args, line):
    root, work = learner
    result = check("--path", str(work), *args)
    assert result.exit_code == 2, result.output
    assert result.output.strip().startswith(line) and len(result.output.strip().splitlines()) == 1, result.output
    assert progress(root) is None


def test_hidden_runs_the_hidden_tests_on_the_learners_code_and_records_it(learner):
    root, work = learner
    data = as_json(check("--path", str(work), "--hidden", "--json"))
    assert data["suites"] == ["public", "hidden"] and data["score"] == data["max_score"] == 100
    assert {t["kind"] for t in data["tests"]} == {"public", "hidden"}
    recorded = progress(root)["hw1"]
    assert recorded["suites"] == ["public", "hidden"] and recorded["tests"] == len(data["tests"])


def test_hidden_is_refused_where_the_course_has_no_hidden_tests(learner):
    """A student release: the course root's own grader/suites/hw1 has no hidden/ folder."""
    root, work = learner
    shutil.copytree(
        ROOT / "grader" / "suites" / "hw1", root / "grader" / "suites" / "hw1", ignore=shutil.ignore_patterns("hidden")
    )
    result = check("--path", str(work), "--hidden")
    assert result.exit_code == 2, result.output
    assert result.output == ("course: the hidden tests are not in this copy of the course: they run when your work is graded\n")
    assert progress(root) is None
