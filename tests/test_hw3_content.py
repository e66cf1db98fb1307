"""hw3 as course content: solution full marks, stubs zero, each mistake loses its own task, and a
submission that wraps torch.optim is caught by its behaviour (its state does not survive a reload)."""

import pytest

from tests.fixtures.hw3_variants import CORRECT, WRONG


def test_solution_earns_full_marks_on_public_and_hidden(hw3_batch):
    result = hw3_batch["solution"]
    assert result["score"] == 100, [(t["name"], t["feedback"]) for t in result["tests"] if not t["passed"]]
    assert sum(t["kind"] == "hidden" for t in result["tests"]) >= 6


def test_stubs_earn_zero_and_say_which_task(hw3_batch):
    result = hw3_batch["stubs"]
    assert result["score"] == 0
    assert all(t["cause"] == "not-implemented" and "Task 3." in t["feedback"] for t in result["tests"])


@pytest.mark.parametrize("variant", WRONG, ids=lambda v: v.name)
def test_wrong_implementation_loses_only_its_task(hw3_batch, course, variant):
    points = {t["id"]: t["points"] for t in hw3_batch[f"variant-{variant.name}"]["tasks"]}
    for task in course.assignment("hw3").tasks:
        if task.id in variant.loses:
            assert points[task.id] < task.points, f"{variant.name} should lose points on {task.id}"
        else:
            assert points[task.id] == task.points, f"{variant.name} should keep {task.id}, got {points[task.id]}"


@pytest.mark.parametrize("variant", CORRECT, ids=lambda v: v.name)
def test_other_correct_answers_earn_full_marks(hw3_batch, variant):
    assert hw3_batch[f"variant-{variant.name}"]["score"] == 100


def test_a_wrapped_torch_optimizer_fails_the_state_tests(hw3_batch):
    failed = [t for t in hw3_batch["variant-wraps_torch_optim"]["tests"] if not t["passed"]]
    assert failed and all(t["task"] == "3.2" for t in failed)
    assert any("save/load" in t["feedback"] or "state" in t["feedback"] for t in failed)
