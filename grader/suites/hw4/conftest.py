"""Fixtures for the hw4 suites, and the rule on libraries: the graded functions may not use what the
graders use as references (torch.nn.utils.prune, torch.ao.quantization and torch's quantize and
fake_quantize operators, a library k-means, torch's KL divergence).

Where a submission does (`grader.borrowing`: its source read here, and the worker's report of what
it loaded), every test of the task whose function does it fails, with feedback that names the line
and the rule; task 4.7's experiment, which runs the student's pruning and sharing, fails with them."""

from __future__ import annotations

import pytest

from grader.borrowing import Rule, enforce
from grader.data import mnist_tensors
from grader.suites.hw4 import experiment

BANNED = (
    "torch.nn.utils.prune",
    "torch.ao.quantization",
    "torch.quantization",
    "torch.ao.nn.quantized",
    "torch.nn.quantized",
    "torch.quantize_per_tensor",
    "torch.quantize_per_tensor_dynamic",
    "torch.quantize_per_channel",
    "torch.fake_quantize_per_tensor_affine",
    "torch.fake_quantize_per_channel_affine",
    "torch.fused_moving_avg_obs_fake_quant",
    "torch._fake_quantize_learnable_per_tensor_affine",
    "torch._fake_quantize_learnable_per_channel_affine",
    "torch.nn.functional.kl_div",
    "torch.kl_div",
    "torch.nn.KLDivLoss",
    "torch.nn.modules.loss.KLDivLoss",
    "sklearn.cluster",
    "scipy.cluster",
    "kmeans_pytorch",
    "fast_pytorch_kmeans",
    "torch_kmeans",
    "faiss",
)
TASK_OF = {
    "magnitude_mask": "4.1",
    "global_masks": "4.1",
    "apply_masks": "4.1",
    "kept_neurons": "4.2",
    "prune_neurons": "4.2",
    "qparams": "4.3",
    "quantize": "4.3",
    "dequantize": "4.3",
    "kmeans_share": "4.4",
    "centroid_gradients": "4.4",
    "fake_quantize": "4.5",
    "distillation_loss": "4.6",
    "huffman_lengths": "4.7",
    "huffman_bits": "4.7",
    "gaps": "4.7",
    "layer_size": "4.7",
    "deep_compress": "4.7",
}
RULE = (
    "torch.nn.utils.prune, torch.ao.quantization, torch's quantize and fake_quantize operators, a library "
    "k-means and torch's KL divergence (F.kl_div, nn.KLDivLoss) may not be used in hw4's graded functions: "
    "the graders use them as references; write the selection, the arithmetic, the clustering and the loss yourself"
)
RULES = Rule(BANNED, (), TASK_OF, RULE)
EXPERIMENT_USES = ("deep_compress", "global_masks", "apply_masks", "kmeans_share", "centroid_gradients")


def pytest_configure(config):
    config.addinivalue_line("markers", "uses(*names): the functions of the student's modules a test runs")


@pytest.fixture
def prune(submission):
    return submission.module("prune")


@pytest.fixture
def quant(submission):
    return submission.module("quantize")


@pytest.fixture
def distill(submission):
    return submission.module("distill")


@pytest.fixture
def comp(submission):
    return submission.module("compress")


@pytest.fixture(scope="session")
def mnist():
    """The 28x28 digits as tensors: (x float32 (5000, 1, 28, 28), labels int64, split); the test
    split's labels are real only on the instructor's side."""
    return mnist_tensors()


@pytest.fixture(scope="session")
def compressed(submission, mnist, seed_of):
    """Task 4.7's experiment, run once per submission when a test first calls `compressed()`:
    LeNet-300-100 trained here on the training digits (seed from seed_of), the student's
    deep_compress run on it with its defaults in the worker. Returns (float32 state, the state
    deep_compress left, the ModelSize fields it reported). The validation test and the hidden
    test-split test judge the same run."""
    done: dict = {}
    seed = seed_of(experiment.SEED_NAME)
    x, labels, split = mnist
    train = split == 0
    original = experiment.trained(seed, x[train], labels[train])  # here, before the first test's time starts

    def run() -> tuple[dict, dict, dict]:
        if not done:
            out = submission.driver("deep_compress", experiment.SPEC, original, x[train], labels[train], seed)
            if type(out) is not dict or "state" not in out:
                raise AssertionError(f"deep_compress's run returned {type(out).__name__}, not the network")
            done["run"] = original, experiment.checked_state(out["state"], original), out.get("size")
        return done["run"]

    return run


@pytest.fixture(autouse=True)
def no_borrowed_references(request, submission, _course_test):
    """Fail a test whose task's code (or, in the experiment, the code it runs) uses what the rule forbids."""
    enforce(request, submission, RULES)
    yield
