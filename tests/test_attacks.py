"""Submissions that try to break or fool the grader lose exactly the tests they broke, the batch
finishes, other students are unaffected, and the report names the cause."""

import json

import pytest

from grader import sandbox
from tests.fixtures.hw1_attacks import ATTACKS


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_attack_loses_only_what_it_broke(hw1_batch, course, attack):
    if attack.name == "read_the_solutions" and not sandbox.bwrap_path():
        pytest.skip("without bubblewrap the worker can read the instructor's files (the report says isolation: limits)")
    result = hw1_batch["results"][f"attack-{attack.name}"]
    points = {t["id"]: t["points"] for t in result["tasks"]}
    for task in course.assignment("hw1").tasks:
        expected = 0.0 if task.id in attack.loses else task.points
        assert points[task.id] == expected, f"{attack.name}: task {task.id} scored {points[task.id]}, expected {expected}"
    causes = {t["cause"] for t in result["tests"] if not t["passed"]}
    assert attack.cause in causes, f"{attack.name}: causes {causes}"


def test_the_batch_finished_every_student(hw1_batch):
    summary = hw1_batch["summary"]
    assert list(summary.ungradable) == ["empty"]
    assert "none of hw1's files (information.py, huffman.py) is there" in summary.ungradable["empty"]
    assert hw1_batch["results"]["empty"]["score"] == 0
    assert len(summary.graded) == len(hw1_batch["results"])


def test_a_fake_results_file_changes_nothing(hw1_batch):
    out = hw1_batch["out"] / "students" / "attack-fake_results_file"
    gradescope = json.loads((out / "results.json").read_text())
    assert gradescope["score"] == 90
    assert len(gradescope["tests"]) > 10


def test_timeouts_are_not_repeated_for_every_test(hw1_batch):
    tests = [t for t in hw1_batch["results"]["attack-infinite_loop"]["tests"] if not t["passed"]]
    assert len(tests) >= 5
    first, rest = tests[0], tests[1:]
    assert first["cause"] == "timeout" and "time limit" in first["feedback"]
    assert all("is not called again" in t["feedback"] and t["seconds"] < 1 for t in rest)


def test_reports_say_which_isolation_was_used(hw1_batch):
    expected = "bwrap" if sandbox.bwrap_path() else "limits"
    assert {r["isolation"] for r in hw1_batch["results"].values()} == {expected}


@pytest.fixture(scope="module")
def fallback_batch(course, solutions, tmp_path_factory):
    """Every attack graded again without bubblewrap (isolation: limits), as on a machine without it."""
    from grader.batch import grade
    from tests.fixtures.hw1_attacks import make_attack

    subs = tmp_path_factory.mktemp("fallback-attacks")
    for a in ATTACKS:
        if a.name != "read_the_solutions":  # without bubblewrap the files are the user's to read (README)
            make_attack(solutions, a, subs / f"attack-{a.name}")
    out = tmp_path_factory.mktemp("fallback-graded")
    summary = grade(course, "hw1", subs, out, jobs=2, isolation="limits")
    results = {p.name: json.loads((p / "result.json").read_text()) for p in (out / "students").iterdir()}
    return {"summary": summary, "results": results}


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.name != "read_the_solutions"], ids=lambda a: a.name)
def test_the_fallback_path_holds_as_well(fallback_batch, course, attack):
    result = fallback_batch["results"][f"attack-{attack.name}"]
    assert result["isolation"] == "limits"
    points = {t["id"]: t["points"] for t in result["tasks"]}
    for task in course.assignment("hw1").tasks:
        expected = 0.0 if task.id in attack.loses else task.points
        assert points[task.id] == expected, f"{attack.name}: task {task.id} scored {points[task.id]}, expected {expected}"
    assert attack.cause in {t["cause"] for t in result["tests"] if not t["passed"]}
