"""Hidden tests for hw4 part 1 (prune.py), tasks 4.1 and 4.2: edge cases (tensors of zeros, of equal
values, of one element, float64, a large layer), convolutional layers, biases and partial masks in
training, networks without biases and with every pass-through layer, and the invalid inputs of the
handout. Judged as the public tests judge: against torch.nn.utils.prune where no |w| ties, by
properties where they do, by a replay of training here, and by rebuilding the pruned network here."""

from __future__ import annotations

import pytest
import torch

from grader.assertions import raises
from grader.suites.hw4.public.test_prune import (
    SMALL_CNN,
    TANH_MLP,
    check_global,
    check_kept,
    check_mask,
    check_masked_training,
    check_pruned,
    crafted_mlp,
    first_difference,
    random_masks,
    random_state,
    tied,
    torch_global_masks,
    torch_mask,
    untied,
)


@pytest.mark.task("4.1")
def test_magnitude_mask_edge_cases(submission, prune):
    """On zeros, equal values, one element, float64 and a 300×100 layer, does magnitude_mask prune exactly round(sparsity·n) of the smallest |w|?"""
    cases = [
        ("of zeros (3, 4)", torch.zeros(3, 4), 0.5),
        ("of equal values (4, 5)", torch.full((4, 5), 0.7), 0.35),
        ("[0.3]", torch.tensor([0.3]), 0.4),
        ("[0.3]", torch.tensor([0.3]), 0.5),
        ("[0.3]", torch.tensor([0.3]), 0.6),
        ("[[[[-2.0]]]]", torch.tensor([[[[-2.0]]]]), 1.0),
        ("float64 (5, 6)", untied((5, 6), 70).double(), 0.4),
        ("(300, 100)", untied((300, 100), 71, 15), 0.92),
    ]
    got = submission.batch([submission.pending_call(prune, "magnitude_mask", w, s) for _, w, s in cases])
    for (label, w, s), mask in zip(cases, got):
        what = f"magnitude_mask(weight {label}, sparsity={s})"
        mask = check_mask(mask, w, s, what)
        if label.startswith(("float64", "(300")):
            expected = torch_mask(w, s)
            if not torch.equal(mask, expected):
                raise AssertionError(f"{what} differs from torch's l1_unstructured at {first_difference(mask, expected)}")


@pytest.mark.task("4.1")
def test_global_masks_edge_cases(submission, prune):
    """At sparsity 0 and 1, on one tensor, on ties across tensors and on conv and linear weights, does global_masks prune the round(sparsity·N) smallest |w| overall?"""
    mixed = {"conv.weight": untied((4, 2, 3, 3), 72, 10), "fc.weight": untied((5, 16), 73, 7), "one": untied((1,), 74, 3)}
    ties = {"b": tied((5, 4), 75), "a": tied((3, 3, 2, 2), 76), "c": tied((7,), 77)}
    single = {"only.weight": untied((9, 11), 78)}
    cases = [
        ("conv and linear weights", mixed, 0.0),
        ("conv and linear weights", mixed, 1.0),
        ("conv and linear weights", mixed, 0.6),
        ("one tensor", single, 0.45),
        ("three tensors of values ±0.1, ±0.2", ties, 0.3),
        ("three tensors of values ±0.1, ±0.2", ties, 0.75),
    ]
    got = submission.batch([submission.pending_call(prune, "global_masks", weights, s) for _, weights, s in cases])
    for (label, weights, s), masks in zip(cases, got):
        what = f"global_masks({label}, sparsity={s})"
        masks = check_global(masks, weights, s, what)
        if weights is not ties:
            for name, expected in torch_global_masks(weights, s).items():
                if not torch.equal(masks[name], expected):
                    raise AssertionError(
                        f"{what}[{name!r}] differs from torch's global_unstructured at {first_difference(masks[name], expected)}"
                    )


CONV_NET = [["Conv2d", 2, 3, 3, 1, 1, True], ["Tanh"], ["Flatten"], ["Linear", 108, 4, True]]


@pytest.mark.task("4.1")
def test_apply_masks_conv_bias_and_partial_masks(submission):
    """With masks on a conv weight and a bias only (Adam with L2 decay), and an all-pruned and an all-kept layer (SGD Nesterov), do the pruned entries stay 0 while the rest trains as usual?"""
    state = random_state(CONV_NET, 80)
    masks = random_masks(state, ["0.weight", "0.bias"], 81)
    x = torch.randn(4, 2, 6, 6, generator=torch.Generator().manual_seed(82))
    check_masked_training(
        submission, CONV_NET, state, masks, "Adam", {"lr": 0.01, "weight_decay": 0.05}, "Adam(L2 decay 0.05)", x, 83
    )
    state = random_state(TANH_MLP, 84)
    masks = {"0.weight": torch.ones(8, 6, dtype=torch.bool), "2.weight": torch.zeros(3, 8, dtype=torch.bool)}
    x = torch.randn(16, 6, generator=torch.Generator().manual_seed(85))
    settings = {"lr": 0.05, "momentum": 0.9, "nesterov": True}
    check_masked_training(submission, TANH_MLP, state, masks, "SGD", settings, "SGD(Nesterov momentum 0.9)", x, 86)


@pytest.mark.task("4.1")
def test_pruning_errors(submission, prune):
    """Do magnitude_mask, global_masks and apply_masks raise ValueError for invalid sparsities, weights, names and masks?"""
    w = untied((3, 4), 87)
    check_mask(prune.magnitude_mask(w, 0.5), w, 0.5, "magnitude_mask(weight (3, 4), sparsity=0.5)")  # first, a valid call
    for bad in (1.5, -0.1, True, "0.5", None, float("nan")):
        raises("ValueError", prune.magnitude_mask, w, bad, what=f"magnitude_mask(weight, sparsity={bad!r})")
    for label, bad in [
        ("an int64 tensor", torch.arange(6)),
        ("an empty tensor", torch.zeros(0)),
        ("a tensor with nan", torch.tensor([1.0, float("nan")])),
        ("a tensor with inf", torch.tensor([float("inf"), 1.0])),
        ("a list", [0.1, 0.2]),
    ]:
        raises("ValueError", prune.magnitude_mask, bad, 0.5, what=f"magnitude_mask of {label}")
    raises("ValueError", prune.global_masks, {}, 0.5, what="global_masks of no weights")
    raises("ValueError", prune.global_masks, {"a": w}, 2, what="global_masks at sparsity 2")
    raises(
        "ValueError", prune.global_masks, {"a": w, "b": torch.tensor([float("nan")])}, 0.5, what="global_masks with a nan entry"
    )
    state, x, target = random_state(TANH_MLP, 88), torch.zeros(2, 6), torch.zeros(2, 3)
    for label, masks in [
        ("a name that is not a parameter ('5.weight')", {"5.weight": torch.ones(8, 6, dtype=torch.bool)}),
        ("a mask of the wrong shape for '0.weight'", {"0.weight": torch.ones(6, 8, dtype=torch.bool)}),
        ("a mask that is a list", {"2.bias": [True, False, True]}),
    ]:
        raises(
            "ValueError",
            submission.driver,
            "masked_training",
            TANH_MLP,
            state,
            masks,
            x,
            target,
            "SGD",
            {"lr": 0.1},
            0,
            what=f"apply_masks with {label}",
        )


@pytest.mark.task("4.2")
def test_kept_neurons_edge_cases(submission, prune):
    """On one neuron, tiny and full keep, zeros, equal rows, float64 and conv ties, does kept_neurons keep max(1, round(keep·out)) of the strongest, in increasing order?"""
    g = torch.Generator().manual_seed(90)
    values = torch.tensor([0.5, -0.25, 1.0, 0.125, 2.0, -0.5, 0.75, 0.25, -1.0])
    conv_ties = torch.stack([values[torch.randperm(9, generator=g)] * (2.0 if i in (1, 4, 5) else 1.0) for i in range(8)])
    cases = [
        ("(1, 5)", torch.randn(1, 5, generator=g), 0.3, 1),
        ("(50, 3)", torch.randn(50, 3, generator=g), 0.01, 2),
        ("conv (7, 2, 3, 3)", torch.randn(7, 2, 3, 3, generator=g), 1, 2),
        ("of zeros (6, 4)", torch.zeros(6, 4), 0.5, 1),
        ("of equal rows (5, 3)", torch.ones(5, 3) * 0.3, 0.6, 2),
        ("float64 (9, 4)", torch.randn(9, 4, generator=g, dtype=torch.float64), 0.45, 1),
        ("conv (8, 1, 3, 3) of equal scores", conv_ties.reshape(8, 1, 3, 3), 0.25, 2),
        ("conv (8, 1, 3, 3) of equal scores", conv_ties.reshape(8, 1, 3, 3), 0.5, 1),
    ]
    got = submission.batch([submission.pending_call(prune, "kept_neurons", w, keep, norm) for _, w, keep, norm in cases])
    for (label, w, keep, norm), idx in zip(cases, got):
        check_kept(idx, w, keep, norm, f"kept_neurons(weight {label}, keep={keep}, norm={norm})")


@pytest.mark.task("4.2")
def test_kept_neurons_errors(prune):
    """Does kept_neurons raise ValueError for keep outside (0, 1], a norm other than 1 or 2, and an invalid weight?"""
    w = torch.randn(4, 3, generator=torch.Generator().manual_seed(91))
    check_kept(prune.kept_neurons(w, 0.5, 1), w, 0.5, 1, "kept_neurons(weight (4, 3), keep=0.5, norm=1)")  # first, a valid call
    for bad in (0, 0.0, -0.5, 1.5, True, None, "0.5"):
        raises("ValueError", prune.kept_neurons, w, bad, 1, what=f"kept_neurons(weight, keep={bad!r})")
    for bad in (0, 3, "1", None):
        raises("ValueError", prune.kept_neurons, w, 0.5, bad, what=f"kept_neurons(weight, keep=0.5, norm={bad!r})")
    raises("ValueError", prune.kept_neurons, torch.arange(12).reshape(4, 3), 0.5, 1, what="kept_neurons of an int64 weight")
    raises(
        "ValueError", prune.kept_neurons, torch.tensor([[1.0, float("nan")]]), 0.5, 1, what="kept_neurons of a weight with nan"
    )


@pytest.mark.task("4.2")
@pytest.mark.parametrize("keep", [1.0, 0.05])
def test_prune_neurons_keep_all_or_one(submission, keep):
    """With keep = 1 (nothing removed) and keep = 0.05 (one neuron per hidden layer), is prune_neurons' network right, MLP and CNN?"""
    spec, state = crafted_mlp(92)
    x = torch.randn(5, 12, generator=torch.Generator().manual_seed(93))
    check_pruned(
        submission.driver("prune_neurons", spec, state, keep, 1),
        spec,
        state,
        keep,
        1,
        x,
        f"prune_neurons(MLP 12-10-8-4, keep={keep})",
    )
    state = random_state(SMALL_CNN, 94)
    x = torch.randn(2, 2, 8, 8, generator=torch.Generator().manual_seed(95))
    check_pruned(
        submission.driver("prune_neurons", SMALL_CNN, state, keep, 2),
        SMALL_CNN,
        state,
        keep,
        2,
        x,
        f"prune_neurons(CNN 2-6-8 channels, Linear 128-5, keep={keep}, norm=2)",
    )


DEEP_NET = [
    ["Conv2d", 3, 8, 3, 1, 1, False],
    ["ReLU"],
    ["Conv2d", 8, 6, 3, 2, 1, True],
    ["AvgPool2d", 2],
    ["Flatten"],
    ["Linear", 24, 10, True],
    ["Tanh"],
    ["Dropout", 0.5],
    ["Identity"],
    ["Linear", 10, 3, False],
]


@pytest.mark.task("4.2")
@pytest.mark.parametrize("keep,norm", [(0.5, 2), (0.7, 1)])
def test_prune_neurons_deeper_network(submission, keep, norm):
    """Through a conv without bias, a strided conv, AvgPool2d, Flatten, a hidden Linear, Tanh, Dropout and Identity, does prune_neurons cut every hidden layer right?"""
    spec = DEEP_NET
    state = random_state(spec, 96)
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(97))
    out = submission.driver("prune_neurons", spec, state, keep, norm)
    check_pruned(out, spec, state, keep, norm, x, f"prune_neurons(conv 3-8-6, Linear 24-10-3, keep={keep}, norm={norm})")


@pytest.mark.task("4.2")
def test_prune_neurons_errors_after_flatten(submission):
    """Does prune_neurons refuse a Linear after Conv2d → MaxPool2d → Flatten whose inputs do not split into the channels' blocks, and a Linear before a Conv2d deeper in the network?"""
    spec = [
        ["Conv2d", 1, 3, 3, 1, 1, True],
        ["MaxPool2d", 2],
        ["Flatten"],
        ["Linear", 16, 4, True],
        ["ReLU"],
        ["Linear", 4, 2, True],
    ]
    raises(
        "ValueError",
        submission.driver,
        "prune_neurons",
        spec,
        random_state(spec, 98),
        0.5,
        1,
        what="prune_neurons of a Conv2d with 3 channels, then a Linear of 16 inputs (not a multiple of 3)",
    )
    spec = [["Linear", 4, 6, True], ["ReLU"], ["Linear", 6, 8, True], ["ReLU"], ["Conv2d", 8, 2, 1, 1, 0, True]]
    raises(
        "ValueError",
        submission.driver,
        "prune_neurons",
        spec,
        random_state(spec, 99),
        0.5,
        2,
        what="prune_neurons of Linear, Linear, then a Conv2d (a Linear followed by a Conv2d)",
    )
