"""hw2 as course content: solution full marks, stubs zero, each mistake loses its own task."""

import pytest

from tests.fixtures.hw2_variants import CORRECT, WRONG


def test_solution_earns_full_marks_on_public_and_hidden(hw2_batch):
    result = hw2_batch["solution"]
    assert result["score"] == 100, [(t["name"], t["feedback"]) for t in result["tests"] if not t["passed"]]
    assert sum(t["kind"] == "hidden" for t in result["tests"]) >= 8


def test_stubs_earn_zero_and_say_which_task(hw2_batch):
    result = hw2_batch["stubs"]
    assert result["score"] == 0
    assert all(t["cause"] == "not-implemented" and "Task 2." in t["feedback"] for t in result["tests"])


@pytest.mark.parametrize("variant", WRONG, ids=lambda v: v.name)
def test_wrong_implementation_loses_only_its_task(hw2_batch, course, variant):
    points = {t["id"]: t["points"] for t in hw2_batch[f"variant-{variant.name}"]["tasks"]}
    for task in course.assignment("hw2").tasks:
        if task.id in variant.loses:
            assert points[task.id] < task.points, f"{variant.name} should lose points on {task.id}"
        else:
            assert points[task.id] == task.points, f"{variant.name} should keep {task.id}, got {points[task.id]}"


@pytest.mark.parametrize("variant", CORRECT, ids=lambda v: v.name)
def test_other_correct_answers_earn_full_marks(hw2_batch, variant):
    assert hw2_batch[f"variant-{variant.name}"]["score"] == 100


@pytest.mark.parametrize("name,phrase", [
    ("derivative_on_error_kicks", "derivative kick"),
    ("integral_winds_up", "wound up"),
    ("dt_ignored", "dt is ignored"),
    ("error_sign_reversed", "the sign is reversed"),
    ("overshoot_against_the_setpoint", "measured against the setpoint"),
    ("ratio_without_log", "take log10"),
    ("learning_rate_not_clipped", "lr_max"),
])
def test_feedback_names_the_mistake(hw2_batch, name, phrase):
    feedback = [t["feedback"] for t in hw2_batch[f"variant-{name}"]["tests"] if not t["passed"]]
    assert any(phrase in f for f in feedback), feedback
