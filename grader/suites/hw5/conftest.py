"""Fixtures for the hw5 suites, and the rule on libraries: hw5's graded code may not use torch's
attention (scaled_dot_product_attention, multi_head_attention_forward, the Transformer modules) or
torch's softmax (a tensor's .softmax() method included), which the graders use as references.
nn.MultiheadAttention is allowed only as what load_from reads its weights from: a call that builds
one is not.

Where a submission does (`grader.borrowing`: its source read here, and the worker's report of what
it loaded), every test of the task whose function does it fails, with feedback that names the line
and the rule."""

from __future__ import annotations

import pytest

from grader.borrowing import Rule, enforce
from grader.data import mnist_tensors
from grader.suites.hw5 import training

BANNED = (
    "torch.nn.functional.scaled_dot_product_attention",
    "torch._C._nn.scaled_dot_product_attention",
    "torch.nn.functional.multi_head_attention_forward",
    "torch._native_multi_head_attention",
    "torch.nn.functional.softmax",
    "torch.nn.functional.log_softmax",
    "torch.softmax",
    "torch.log_softmax",
    "torch.special.softmax",
    "torch.special.log_softmax",
    "torch._softmax",
    "torch.nn.Softmax",
    "torch.nn.modules.activation.Softmax",
    "torch.Tensor.softmax",
    "torch.Tensor.log_softmax",
    "torch.nn.Transformer",
    "torch.nn.TransformerEncoder",
    "torch.nn.TransformerEncoderLayer",
    "torch.nn.TransformerDecoderLayer",
    "torch.nn.modules.transformer",
    "torch.nn.attention",
    "timm",
    "transformers",
    "einops.layers",
    "x_transformers",
    "vit_pytorch",
)
TASK_OF = {
    "scaled_dot_product_attention": "5.1",
    "split_heads": "5.2",
    "merge_heads": "5.2",
    "MultiHeadAttention": "5.2",
    "patchify": "5.3",
    "PatchEmbedding": "5.3",
    "sinusoidal_positions": "5.3",
    "EncoderBlock": "5.4",
    "ViT": "5.4",
    "random_shift": "5.5",
    "warmup_cosine_factor": "5.5",
    "train_vit": "5.5",
    "evaluate": "5.5",
    "attention_maps": "5.6",
    "attention_rollout": "5.6",
}
RULE = (
    "torch's attention (F.scaled_dot_product_attention, F.multi_head_attention_forward, the nn.Transformer "
    "modules), torch's softmax (a tensor's .softmax() included), a new nn.MultiheadAttention and attention libraries "
    "may not be used in hw5's graded code: the graders use "
    "them as references; write the scores, the stable softmax and the heads yourself"
)
METHODS = ("softmax", "log_softmax", "MultiheadAttention", "multi_head_attention_forward", "scaled_dot_product_attention")
RULES = Rule(BANNED, (), TASK_OF, RULE, METHODS)


def pytest_configure(config):
    config.addinivalue_line("markers", "uses(*names): the functions and classes of the student's modules a test runs")


@pytest.fixture
def attn(submission):
    return submission.module("attention")


@pytest.fixture
def vit(submission):
    return submission.module("vit")


@pytest.fixture(scope="session")
def mnist():
    """The 28x28 digits as tensors: (x float32 (5000, 1, 28, 28) in [0, 1], labels int64, split);
    split 0 train, 1 validation, 2 test, whose labels are real only on the instructor's side."""
    return mnist_tensors()


@pytest.fixture(autouse=True)
def no_borrowed_references(request, submission, _course_test):
    """Fail a test whose task's code uses what the rule forbids."""
    enforce(request, submission, RULES)
    yield


@pytest.fixture(scope="session")
def trained_vit(submission, seed_of, mnist):
    """Task 5.5's run, once per submission when a test first calls `trained_vit()`: a ViT of
    training.CONFIG, initialised under the seed, trained by the student's train_vit on the 3,000
    training digits in the worker. The ViT is the student's when its forward is the handout's (its
    logits on four digits, holding random weights, equal the course's); otherwise, or when it
    cannot run, the course's own (the same parameters and initial weights), so that this task
    grades train_vit and a mistake of tasks 5.1-5.4 is not charged twice, at a seed-dependent cost.
    Returns (the checked state dict, the history, whose ViT it was); the tests score the state
    here. The validation test and the hidden test-split test judge the same run."""
    done: dict = {}
    seed = seed_of(training.SEED_NAME)

    def run() -> tuple[dict, dict, str]:
        if not done:
            x, y = training.training_digits()
            own = training.handout_forward(submission, mnist[0][:4], seed)
            out = submission.driver(
                "train", training.CONFIG, seed, x, y, {**training.SETTINGS, "seed": seed}, course_model=not own
            )
            if type(out) is not dict or "state" not in out:
                raise AssertionError(f"the training run returned {type(out).__name__}, not the trained ViT")
            done["run"] = training.checked_state(out["state"]), out.get("history"), "your ViT" if own else "the course's ViT"
        return done["run"]

    return run
