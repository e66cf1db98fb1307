"""Fixtures for the hw3 suites, and the rule on libraries: optimizers.py may not use torch.optim's
optimizers (SGD, Adam, AdamW, their functional rules, the schedulers), other optimizer packages
(torch_optimizer, ...) or torch's clipping; torch.optim.Optimizer as the base class is allowed.

Where a submission does (`grader.assertions.borrowed`: its source read here, and the worker's report
of what it loaded and what its classes derive from), every test of the task whose class or function
does it fails, and so does every experiment of task 3.5 that runs that class: the feedback names the
line and the rule. A use outside the task's class or function (a helper, module-level code) costs
the tasks whose code refers to it, or every task when none does; code under
`if __name__ == "__main__":` never runs when graded and is not counted."""

from __future__ import annotations

import pytest

from grader.borrowing import Rule, enforce
from grader.data import digit_features
from grader.suites.hw3.loops import Student, train_digits

BANNED = (
    "torch.optim",
    "torch_optimizer",
    "timm.optim",
    "apex.optimizers",
    "transformers.optimization",
    "bitsandbytes.optim",
    "pytorch_lamb",
    "lion_pytorch",
    "deepspeed.ops",
    "fairscale.optim",
    "torch.nn.utils.clip_grad",
    "torch.nn.utils.clip_grad_norm_",
    "torch.nn.utils.clip_grad_norm",
    "torch.nn.utils.clip_grad_value_",
    "torch.nn.utils.clip_grads_with_norm_",
    "torch.nn.utils.get_total_norm",
)
ALLOWED = ("torch.optim.Optimizer", "torch.optim.optimizer")
TASK_OF = {"SGD": "3.1", "Adam": "3.2", "AdamW": "3.2", "LAMB": "3.3", "clip_grad_norm": "3.4", "warmup_cosine": "3.4"}
RULE = (
    "torch.optim's optimizers (SGD, Adam, AdamW, ...), their functional update rules, other optimizer "
    "libraries (torch_optimizer, ...) and torch's gradient clipping may not be used in optimizers.py "
    "(torch.optim.Optimizer as the base class is allowed): write the update yourself"
)
RULES = Rule(BANNED, ALLOWED, TASK_OF, RULE)


def pytest_configure(config):
    config.addinivalue_line("markers", "uses(*names): the classes or functions of optimizers.py a test runs")


RUNS = 3  # task 3.5's large-batch LAMB runs, seeds s, s + 1, s + 2


@pytest.fixture(scope="session")
def lamb_runs(submission, digits, seed_of):
    """Task 3.5's three LAMB runs at batch 1024 (lr 0.032, weight decay 0.01, 80 epochs), trained
    once per submission when a test first calls `lamb_runs()`, inside that test's time limit:
    (the first seed, the three trained models). The validation test and the hidden test-split
    test judge the same runs, as a paper reports one model's validation and test accuracy."""
    done: dict = {}

    def runs() -> tuple[int, list]:
        if not done:
            seed = seed_of("task 3.5: LAMB at batch 1024")
            x, labels, split = digits
            side = Student(submission, "LAMB", {"lr": 0.032, "weight_decay": 0.01})
            models = [train_digits(side, x[split == 0], labels[split == 0], 1024, 80, s)[0] for s in range(seed, seed + RUNS)]
            done["runs"] = seed, models
        return done["runs"]

    return runs


@pytest.fixture
def opt_mod(submission):
    return submission.module("optimizers")


@pytest.fixture(scope="session")
def digits():
    return digit_features()


@pytest.fixture(autouse=True)
def no_borrowed_optimizers(request, submission, _course_test):
    """Fail a test whose task's code (or, in task 3.5, whose optimizer) uses what the rule forbids."""
    enforce(request, submission, RULES)
    yield
