"""hw1 as course content: the solution earns full marks, the stubs zero, each realistic mistake
loses the points of its own task and keeps the rest, and other correct answers earn full marks."""

import pytest

from tests.fixtures.hw1_variants import CORRECT, WRONG
from tests.fixtures.variants import assert_full_marks, assert_loses_only_its_tasks, assert_stub_zero


def test_solution_earns_full_marks_on_public_and_hidden(hw1_batch):
    result = hw1_batch["results"]["solution"]
    assert_full_marks(result, hidden_tests=10)
    assert result["suites"] == ["public", "hidden"]


def test_stubs_earn_zero_and_say_which_task(hw1_batch):
    assert_stub_zero(hw1_batch["results"]["stubs"])


@pytest.mark.parametrize("variant", WRONG, ids=lambda v: v.name)
def test_wrong_implementation_loses_only_its_task(hw1_batch, course, variant):
    assert_loses_only_its_tasks(hw1_batch["results"][f"variant-{variant.name}"], course.assignment("hw1"), variant)


@pytest.mark.parametrize("variant", CORRECT, ids=lambda v: v.name)
def test_other_correct_answers_earn_full_marks(hw1_batch, variant):
    assert_full_marks(hw1_batch["results"][f"variant-{variant.name}"])


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
