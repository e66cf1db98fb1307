"""Hidden tests for hw5 part 1 (attention.py), tasks 5.1 and 5.2: other shapes (five axes, one query, one key,
d_k = 1, unbatched queries against batched keys), masks at their edges (1-D, finite −1e4 and −1e9 instead of
−inf, every key removed), large negative scores, gradients where rows are empty and where q broadcasts, the
heads at h = 1 and h = E, float64 modules, and the invalid inputs of the handout. Judged as the public tests
judge (same references and tolerances: grader/suites/hw5/public/test_attention.py)."""

from __future__ import annotations

import math

import pytest
import torch

from grader.assertions import raises, tensor
from grader.suites.hw5.public.test_attention import (
    Case,
    MhaCase,
    assert_calls,
    assert_forward,
    assert_gradients,
    assert_mha,
    bool_mask,
    case,
    check_heads,
    check_state,
    float_mask,
    heads_x,
    mha_case,
    offset_case,
    randn,
    run,
    run_loaded,
    run_mha,
    torch_state,
)

# -- 5.1 -----------------------------------------------------------------------------------------------------


@pytest.mark.task("5.1")
def test_attention_other_shapes(submission):
    """With five axes, one query, one key, d_k = 1, d_k = 128 and unbatched queries against batched keys, in float32 and float64, are the output, weights and gradients torch's?"""
    cases = [
        case((2, 1, 3, 4, 8), (1, 2, 1, 5, 8), (2, 2, 3, 5, 3), 2000, note="five axes"),
        case((2, 1, 8), (2, 6, 8), (2, 6, 4), 2010, note="one query"),
        case((2, 5, 8), (2, 1, 8), (2, 1, 4), 2020, torch.float64, note="one key"),
        case((3, 4, 1), (3, 6, 1), (3, 6, 2), 2030, scale=2.0, note="d_k = 1"),
        case((2, 3, 128), (2, 5, 128), (2, 5, 7), 2040, torch.float64),
        case((4, 8), (3, 6, 8), (3, 6, 5), 2050, note="unbatched queries"),
        case((2, 4, 6, 16), (6, 16), (6, 2), 2060, torch.float64, note="unbatched keys and values"),
    ]
    results = run(submission, cases)
    assert_forward(cases, results)
    assert_gradients(cases, results)


@pytest.mark.task("5.1")
def test_mask_edge_cases(submission):
    """With a 1-D mask (S,), finite −1e4 and −1e9 instead of −inf, every key of every query removed, and causal with one query or one key, are the output, weights and gradients torch's?"""
    every = torch.zeros(5, 7, dtype=torch.bool)
    cases = [
        case((2, 5, 8), (2, 7, 8), (2, 7, 6), 2100, mask=bool_mask((7,), 2101), note="1-D mask"),
        case((2, 5, 8), (2, 7, 8), (2, 7, 6), 2110, mask=float_mask((7,), 2111), note="1-D mask"),
        case((2, 5, 8), (2, 7, 8), (2, 7, 6), 2120, mask=float_mask((5, 7), 2121).nan_to_num(neginf=-1e4), note="−1e4"),
        case((2, 5, 8), (2, 7, 8), (2, 7, 6), 2130, torch.float64, mask=float_mask((1, 7), 2131).nan_to_num(neginf=-1e9)),
        case((2, 5, 8), (2, 7, 8), (2, 7, 6), 2140, mask=every, note="every key removed"),
        case((2, 5, 8), (2, 7, 8), (2, 7, 6), 2150, torch.float64, mask=torch.full((5, 7), -math.inf), note="every key removed"),
        case((2, 1, 8), (2, 6, 8), (2, 6, 4), 2160, causal=True, note="one query"),
        case((2, 6, 8), (2, 1, 8), (2, 1, 4), 2170, torch.float64, causal=True, note="one key"),
        case((2, 3, 5, 8), (2, 3, 5, 8), (2, 3, 5, 4), 2180, mask=float_mask((2, 3, 5, 5), 2181), causal=True),
    ]
    results = run(submission, cases)
    assert_forward(cases, results)
    assert_gradients(cases, results)


@pytest.mark.task("5.1")
def test_large_logits_hidden(submission):
    """With scores near −5000 (exp underflows to 0 and the sum to 0/0 without the max), near 10000 with causal, and scores of ±3600 with −1e9 masks, is the softmax stable and right?"""
    cases = [
        offset_case(2200, torch.float32, -5000.0, note="scores near −5000"),
        offset_case(2210, torch.float64, -5000.0, mask=bool_mask((2, 1, 7), 2211), note="scores near −5000"),
        offset_case(2220, torch.float32, 10000.0, causal=True, L=6, S=6),
        case(
            (2, 5, 8),
            (2, 7, 8),
            (2, 7, 3),
            2230,
            torch.float64,
            scale=60.0,
            mask=float_mask((5, 7), 2231).nan_to_num(neginf=-1e9),
        ),
    ]
    results = run(submission, cases)
    assert_forward(cases, results)
    assert_gradients(cases, results)


@pytest.mark.task("5.1")
def test_gradients_hidden(submission):
    """Are the gradients torch's where rows are empty under a float mask with causal, where q broadcasts over the heads, and where L != S under causal, in float32 and float64?"""
    rows = torch.zeros(2, 1, 6, 6)
    rows[0, 0, 2], rows[1, 0, 5] = -math.inf, -math.inf
    cases = [
        case((2, 3, 6, 8), (2, 3, 6, 8), (2, 3, 6, 4), 2300, mask=rows, causal=True, note="empty rows"),
        case((2, 3, 6, 8), (2, 3, 6, 8), (2, 3, 6, 4), 2310, torch.float64, mask=rows, causal=True, note="empty rows"),
        case((2, 1, 5, 8), (2, 4, 7, 8), (2, 4, 7, 3), 2320, torch.float64, mask=bool_mask((2, 1, 5, 7), 2321)),
        case((2, 4, 8), (2, 9, 8), (2, 9, 5), 2330, causal=True, mask=float_mask((4, 9), 2331)),
    ]
    results = run(submission, cases)
    assert_forward(cases, results)
    assert_gradients(cases, results)


@pytest.mark.task("5.1")
def test_attention_invalid_inputs(attn):
    """Does scaled_dot_product_attention raise ValueError for integer or 1-D inputs, mixed dtypes, mismatched d_k or S, leading axes that do not broadcast, and a mask of the wrong dtype or shape?"""
    q, k, v = randn((2, 5, 8), 2400), randn((2, 7, 8), 2401), randn((2, 7, 6), 2402)
    c = Case(q, k, v)
    out, weights = attn.scaled_dot_product_attention(q, k, v)  # first, a valid call
    tensor(out, f"{c}: the output", c.out_shape, "float32")
    tensor(weights, f"{c}: the weights", c.weights_shape, "float32")
    bad = [
        ("integer q", (torch.ones(2, 5, 8, dtype=torch.int64), k, v), None),
        ("a 1-D q", (torch.ones(8), k, v), None),
        ("q float32 and k float64", (q, k.double(), v), None),
        ("q and k of different d_k", (q, randn((2, 7, 4), 2403), v), None),
        ("k and v of different lengths", (q, k, randn((2, 6, 6), 2404)), None),
        ("leading axes 2 and 3", (q, randn((3, 7, 8), 2405), randn((3, 7, 6), 2406)), None),
        ("an integer mask", (q, k, v), torch.ones(5, 7, dtype=torch.int64)),
        ("a mask (5, 6) for scores (2, 5, 7)", (q, k, v), torch.ones(5, 6, dtype=torch.bool)),
        ("a mask (3, 5, 7) that enlarges the scores (2, 5, 7)", (q, k, v), torch.ones(3, 5, 7, dtype=torch.bool)),
    ]
    for label, args, mask in bad:
        raises(
            "ValueError", attn.scaled_dot_product_attention, *args, mask=mask, what=f"scaled_dot_product_attention with {label}"
        )


# -- 5.2 -----------------------------------------------------------------------------------------------------


@pytest.mark.task("5.2")
def test_split_and_merge_edge_cases(submission, attn):
    """With one head, one feature per head (h = E), five axes and float64, are split_heads and merge_heads right, and does split_heads raise ValueError when h does not divide E?"""
    xs = [
        (heads_x((3, 10), 2500), 1),
        (heads_x((2, 4, 6), 2501), 6),
        (heads_x((2, 2, 3, 4, 8), 2502, torch.float64), 4),
        (heads_x((1, 9, 12), 2503), 4),
    ]
    replies = submission.batch([submission.pending_driver("heads", x, h) for x, h in xs])
    for (x, h), reply in zip(xs, replies):
        check_heads(reply, x, h)
    raises("ValueError", attn.split_heads, heads_x((2, 5, 12), 2504), 5, what="split_heads(x (2, 5, 12), 5)")


@pytest.mark.task("5.2")
def test_load_from_hidden(submission):
    """In float64, with one head and with h = E, with and without biases, does load_from leave nn.MultiheadAttention's weights under the handout's names and return self?"""
    cases = [
        mha_case(6, 6, 2, 3, 3, 2600, torch.float64),
        mha_case(12, 1, 2, 3, 3, 2610, torch.float64, bias=False),
        mha_case(20, 5, 1, 2, 2, 2620),
    ]
    for c, got in zip(cases, run_loaded(submission, cases)):
        check_state(c, got)


@pytest.mark.task("5.2")
def test_multi_head_hidden(submission):
    """In float64, with one head, h = E, one query, an unbatched causal cross-attention with a mask and a float padding mask, are the output, the per-head weights and the gradients nn.MultiheadAttention's?"""
    padding = float_mask((2, 1, 1, 6), 2701, torch.float64, removed=0.5)
    cases = [
        mha_case(12, 1, 2, 4, 6, 2700, torch.float64, cross=True, mask=padding, note="one head"),
        mha_case(8, 8, 2, 5, 5, 2710, torch.float64, causal=True, note="h = E"),
        mha_case(16, 4, 3, 1, 6, 2720, cross=True, note="one query"),
        mha_case(12, 3, None, 5, 7, 2730, cross=True, mask=bool_mask((5, 7), 2731), causal=True, note="unbatched"),
        mha_case(16, 2, 2, 6, 6, 2740, torch.float64, bias=False, mask=bool_mask((2, 1, 6, 6), 2741)),
    ]
    assert_mha(submission, cases, run_mha(submission, cases), grads=True)


@pytest.mark.task("5.2")
def test_multi_head_invalid_inputs(attn):
    """Do MultiHeadAttention(10, 3) and MultiHeadAttention(8, 0) raise ValueError, and its forward for a query of the wrong width or a key and value of different shapes?"""
    module = attn.MultiHeadAttention(16, 4)
    x = randn((2, 5, 16), 2800)
    out, _ = module(x)  # first, a valid call
    tensor(out, "MultiHeadAttention(16, 4)(query (2, 5, 16)): the output", (2, 5, 16), "float32")
    raises("ValueError", attn.MultiHeadAttention, 10, 3, what="MultiHeadAttention(10, 3)")
    raises("ValueError", attn.MultiHeadAttention, 8, 0, what="MultiHeadAttention(8, 0)")
    raises("ValueError", module, randn((2, 5, 12), 2801), what="MultiHeadAttention(16, 4) on a query (2, 5, 12)")
    raises(
        "ValueError",
        module,
        x,
        randn((2, 6, 16), 2802),
        randn((2, 7, 16), 2803),
        what="MultiHeadAttention(16, 4) on a key (2, 6, 16) and a value (2, 7, 16)",
    )


@pytest.mark.task("5.2")
def test_heads_are_not_a_loop_hidden(submission):
    """In cross-attention with a mask and causal, does one forward make as many torch calls with 16 heads as with 1?"""
    query, key = randn((2, 5, 16), 2900), randn((2, 7, 16), 2901)
    value, mask = randn((2, 7, 16), 2902), bool_mask((2, 1, 1, 7), 2903)
    cases = [MhaCase(16, h, torch_state(16, True, 2904), query, key, value, mask, causal=True, seed=2900) for h in (1, 16)]
    results = run_mha(submission, cases)
    assert_mha(submission, cases, results)  # a count is credited only for a forward that is right
    assert_calls(cases, results)
