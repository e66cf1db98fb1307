"""hw2 and hw3 as course content: the solution earns full marks, the stubs zero, each realistic
mistake loses the points of its own task(s) and keeps the rest, other correct answers earn full
marks. (hw1, with its attacks, has tests of its own in test_hw1_content.py.)"""

import pytest

from tests.fixtures import hw2_variants, hw3_variants
from tests.fixtures.variants import assert_full_marks, assert_loses_only_its_tasks, assert_stub_zero

VARIANTS = {"hw2": hw2_variants, "hw3": hw3_variants}


@pytest.fixture
def batch(request):
    return request.getfixturevalue(f"{request.param}_batch")


@pytest.mark.parametrize("batch", ["hw2", "hw3"], indirect=True)
def test_solution_earns_full_marks_on_public_and_hidden(batch):
    assert_full_marks(batch["solution"], hidden_tests=6)


@pytest.mark.parametrize("batch", ["hw2", "hw3"], indirect=True)
def test_stubs_earn_zero_and_say_which_task(batch):
    assert_stub_zero(batch["stubs"], own_task=False)  # 2.4 and 3.5 run the earlier tasks' code


CASES = [(a, v) for a, m in VARIANTS.items() for v in m.WRONG]


@pytest.mark.parametrize("batch,variant", CASES, ids=[f"{a}-{v.name}" for a, v in CASES], indirect=["batch"])
def test_wrong_implementation_loses_only_its_task(batch, course, variant):
    assignment = next(a for a, m in VARIANTS.items() if variant in m.WRONG)
    assert_loses_only_its_tasks(batch[f"variant-{variant.name}"], course.assignment(assignment), variant)


GOOD = [(a, v) for a, m in VARIANTS.items() for v in m.CORRECT]


@pytest.mark.parametrize("batch,variant", GOOD, ids=[f"{a}-{v.name}" for a, v in GOOD], indirect=["batch"])
def test_other_correct_answers_earn_full_marks(batch, variant):
    assert_full_marks(batch[f"variant-{variant.name}"])


@pytest.mark.parametrize("name,phrase", [
    ("derivative_on_error_kicks", "derivative kick"),
    ("integral_winds_up", "wound up"),
    ("dt_ignored", "dt is ignored"),
    ("error_sign_reversed", "the sign is reversed"),
    ("overshoot_against_the_setpoint", "measured against the setpoint"),
    ("ratio_without_log", "take log10"),
    ("learning_rate_not_clipped", "lr_max"),
])
def test_hw2_feedback_names_the_mistake(hw2_batch, name, phrase):
    feedback = [t["feedback"] for t in hw2_batch[f"variant-{name}"]["tests"] if not t["passed"]]
    assert any(phrase in f for f in feedback), feedback


def test_a_wrapped_torch_optimizer_fails_the_state_tests(hw3_batch):
    """A submission that wraps torch.optim is caught by behaviour: its state does not survive a reload."""
    failed = [t for t in hw3_batch["variant-wraps_torch_optim"]["tests"] if not t["passed"]]
    assert failed and all(t["task"] == "3.2" for t in failed)
    assert any("save/load" in t["feedback"] or "state" in t["feedback"] for t in failed)
