"""hw1 as graded in a batch beside the attacks: the solution earns full marks on public and hidden
tests, and every stub test names its own task. (Variants: test_content.py, through `course audit`.)"""

from tests.fixtures.expect import assert_full_marks, assert_stub_zero


def test_solution_earns_full_marks_on_public_and_hidden(hw1_batch):
    result = hw1_batch["results"]["solution"]
    assert_full_marks(result, hidden_tests=10)
    assert result["suites"] == ["public", "hidden"], result["suites"]


def test_stubs_earn_zero_and_say_which_task(hw1_batch):
    assert_stub_zero(hw1_batch["results"]["stubs"])
