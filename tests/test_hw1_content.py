"""hw1 as course content: the solution earns full marks, the stubs zero, each realistic mistake
loses the points of its own task and keeps the rest, and other correct answers earn full marks."""

import pytest

from tests.fixtures.hw1_variants import CORRECT, WRONG


def task_points(result: dict) -> dict[str, float]:
    return {t["id"]: t["points"] for t in result["tasks"]}


def test_solution_earns_full_marks_on_public_and_hidden(hw1_batch, course):
    result = hw1_batch["results"]["solution"]
    failed = [(t["name"], t["feedback"]) for t in result["tests"] if not t["passed"]]
    assert not failed, failed
    assert result["score"] == course.assignment("hw1").points == 100
    assert result["suites"] == ["public", "hidden"]
    assert sum(t["kind"] == "hidden" for t in result["tests"]) >= 10


def test_stubs_earn_zero_and_say_which_task(hw1_batch):
    result = hw1_batch["results"]["stubs"]
    assert result["score"] == 0
    for t in result["tests"]:
        assert t["cause"] == "not-implemented", t
        assert f"Task {t['task']}" in t["feedback"], t["feedback"]


@pytest.mark.parametrize("variant", WRONG, ids=lambda v: v.name)
def test_wrong_implementation_loses_only_its_task(hw1_batch, course, variant):
    points = task_points(hw1_batch["results"][f"variant-{variant.name}"])
    for task in course.assignment("hw1").tasks:
        if task.id in variant.loses:
            assert points[task.id] < task.points, f"{variant.name} should lose points on {task.id}"
        else:
            assert points[task.id] == task.points, f"{variant.name} should keep {task.id}, got {points[task.id]}"


@pytest.mark.parametrize("variant", CORRECT, ids=lambda v: v.name)
def test_other_correct_answers_earn_full_marks(hw1_batch, variant):
    result = hw1_batch["results"][f"variant-{variant.name}"]
    failed = [(t["name"], t["feedback"]) for t in result["tests"] if not t["passed"]]
    assert result["score"] == 100, failed


FEEDBACK = {
    "nats_instead_of_bits": "looks like nats",
    "log_of_zero": "0 * log 0 must count as 0",
    "kl_arguments_swapped": "D(q||p)",
    "context_one_character_short": "one character short",
    "shannon_code_not_optimal": "the optimum is",
    "canonical_code_not_prefix_free": "not prefix-free",
    "kraft_sum_wrong_sign": "the exponent is -l",
    "decoder_reads_the_padding": "stop after n_bits",
    "encoder_least_significant_bit_first": "reversed within the byte",
    "compression_ratio_inverted": "the ratio is original/compressed",
}


@pytest.mark.parametrize("name,phrase", sorted(FEEDBACK.items()))
def test_feedback_names_the_mistake_in_the_subjects_terms(hw1_batch, name, phrase):
    feedback = [t["feedback"] for t in hw1_batch["results"][f"variant-{name}"]["tests"] if not t["passed"]]
    assert any(phrase in f for f in feedback), feedback
