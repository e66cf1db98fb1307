"""Public tests for hw5 part 1 (attention.py): tasks 5.1 and 5.2, scaled dot-product and multi-head attention.

5.1: the student's `scaled_dot_product_attention` runs in the worker through the `attention` driver, which
also runs its backward pass; the output, the weights and the gradients of q, k and v come back, and every
verdict is made here against torch.nn.functional.scaled_dot_product_attention in float64 on the same inputs
(its weights are the same call with the identity as values; causal and a mask together are merged into one
mask here, as torch takes only one of them), and its autograd. When a value is wrong, the known mistakes are
recomputed on the same inputs and the one the student's values follow is named.

5.2: `split_heads` and `merge_heads` are compared exactly with a reshape and a transpose; `load_from` by the
state dict it leaves (the handout's names, the rows of nn.MultiheadAttention's packed in_proj); the module's
forward and its gradients with nn.MultiheadAttention(E, h, batch_first=True, average_attn_weights=False) in
float64 holding the same weights (torch's bool attn_mask means the opposite of the handout's: it is given
~mask). The forward is judged as a composition: where it differs from torch only because the student's own
scaled_dot_product_attention is wrong (task 5.1's tests say so), it passes when it equals out_proj(merge(
attention(split(q_proj(query)), ...))) with that attention, run in the worker on projections made here. "No
Python loop over the heads" is measured: the number of torch calls one forward makes (a TorchFunctionMode in
the worker) may not grow from 2 heads to 8 at the same width.

Tolerances come from float32 round-off: a value x passes when |x − expected| <= rtol·|expected| + atol·s,
s = max(1, max|expected|)·max(1, max|score| / 4) (round-off in the exponent grows with the scores), rtol,
atol = 1e-4, 1e-5 in float32 and 1e-6, 1e-7 in float64 (never below float32 round-off). Correct formulations in
float32 (matmul or einsum, the row max or logsumexp, q scaled first, torch's own float32 attention and
nn.MultiheadAttention) differ from the float64 reference by at most 8.2e-7·s in the output, the weights and
the gradients (5.4e-7·max(1, max|expected|) for the module), and by 1.7e-7·max|score| in the output and
weights with scores of 1e3 to 1e4; there the float32 gradients (logsumexp's lose about 1e-5·max|score| of
their scale) are checked for being finite only, and the float64 ones against the reference. max|score| counts
the keys that carry weight (a key at −1e9 adds no round-off). The reference and those formulations pass
every test here with tolerances ten times tighter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from grader.assertions import first_mismatch, integer, mapping, short, tensor
from grader.errors import StudentError
from grader.suites.hw5.model import random_state

RTOL = {torch.float32: 1e-4, torch.float64: 1e-6}
ATOL = {torch.float32: 1e-5, torch.float64: 1e-7}
SCORE_SCALE = 4.0  # scores up to this size keep the plain tolerance
LARGE = 80.0  # scores above this overflow exp in float32 without the max subtracted (exp(89) = inf)


def dims(t: torch.Tensor) -> str:
    return str(tuple(t.shape)).replace(",)", ")")


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def randn(shape, seed: int, dtype=torch.float32, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype)


def bool_mask(shape, seed: int, keep: float = 0.6) -> torch.Tensor:
    """A random bool mask (True = attend) that keeps key 0 in every row: no row is left empty."""
    m = torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < keep
    m[..., 0] = True
    return m


def float_mask(shape, seed: int, dtype=torch.float32, removed: float = 0.35) -> torch.Tensor:
    """A random additive mask: N(0, 1) biases, -inf for a share of the keys, key 0 always finite."""
    g = torch.Generator().manual_seed(seed)
    m = torch.randn(shape, generator=g, dtype=torch.float64)
    m = m.masked_fill(torch.rand(shape, generator=g, dtype=torch.float64) < removed, -math.inf)
    m[..., 0] = torch.randn(m[..., 0].shape, generator=g, dtype=torch.float64)
    return m.to(dtype)


def mask_words(mask: torch.Tensor | None) -> str:
    if mask is None:
        return ""
    return f"{'bool' if mask.dtype == torch.bool else dtype_name(mask.dtype) + ' additive'} mask {dims(mask)}"


def tolerance(dtype: torch.dtype, want: torch.Tensor, score_max: float = 0.0) -> tuple[float, float]:
    """(rtol, atol) for a tensor compared with `want` (module docstring)."""
    scale = max(1.0, float(want.abs().max()) if want.numel() else 1.0) * max(1.0, score_max / SCORE_SCALE)
    return RTOL[dtype], ATOL[dtype] * scale


def index_words(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


# -- 5.1: the reference, and the known mistakes -------------------------------------------------------


def triangle(L: int, S: int, mistake: str | None = None) -> torch.Tensor:
    """The causal mask (L, S), True = allowed: the lower triangle from the top left, diagonal included (or
    the triangle of a known mistake)."""
    ones = torch.ones(L, S, dtype=torch.bool)
    return {
        "causal_no_diagonal": ones.tril(-1),
        "causal_upper": ones.triu(),
        "causal_bottom_right": ones.tril(S - L),
    }.get(mistake or "", ones.tril())


def merged_mask(mask: torch.Tensor | None, causal: bool, L: int, S: int, dtype: torch.dtype) -> torch.Tensor | None:
    """One mask meaning `mask` and `causal` together, for torch (which takes one of them)."""
    if mask is not None and mask.is_floating_point():
        mask = mask.to(dtype)
    if not causal:
        return mask
    tri = triangle(L, S)
    if mask is None:
        return tri
    if mask.dtype == torch.bool:
        return mask & tri
    return mask.masked_fill(~tri, -math.inf)


def torch_attention(q, k, v, mask, causal) -> tuple[torch.Tensor, torch.Tensor]:
    """(output, weights) of F.scaled_dot_product_attention; the weights are its output for identity values."""
    m = merged_mask(mask, causal, q.shape[-2], k.shape[-2], q.dtype)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
    lead = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    eye = torch.eye(k.shape[-2], dtype=q.dtype).expand(*lead, -1, -1)
    return out, F.scaled_dot_product_attention(q.detach(), k.detach(), eye, attn_mask=None if m is None else m.detach())


def softmax0(s: torch.Tensor, dim: int) -> torch.Tensor:
    """A softmax whose rows with no finite entry are zeros (for recomputing mistakes)."""
    m = s.amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    e = torch.exp(s - m)
    total = e.sum(dim=dim, keepdim=True)
    return e / torch.where(total > 0, total, torch.ones_like(total))


MISTAKES = {  # name -> (what the student's values match, what the handout says)
    "no_scale": (
        "scores not scaled by 1/√d_k",
        "scores = q kᵀ / √d_k: q · k sums d_k terms of variance 1, so dividing by √d_k keeps the scores at unit variance",
    ),
    "scale_dk": (
        "scores divided by d_k instead of √d_k",
        "the scale is 1/√d_k, the standard deviation of a dot product of d_k unit-variance terms",
    ),
    "wrong_axis": (
        "a softmax over the queries (dim=-2)",
        "the softmax runs over the keys, the last axis: each query's row of weights sums to 1",
    ),
    "mask_after": (
        "the mask applied after the softmax (weights zeroed but not renormalised)",
        "mask the scores (−inf) before the softmax, so that each row's remaining weights sum to 1",
    ),
    "causal_no_diagonal": (
        "a causal mask without its diagonal (tril(-1))",
        "query i attends to keys j <= i, itself included: torch.tril keeps the diagonal",
    ),
    "causal_upper": (
        "a causal mask of the upper triangle (triu): queries attend to later keys",
        "query i attends to keys j <= i, the lower triangle (torch.tril)",
    ),
    "causal_bottom_right": (
        "a causal mask aligned at the bottom right",
        "as torch's is_causal, the triangle starts at the top left when L != S: query 0 sees key 0 only",
    ),
    "bool_inverted": (
        "a bool mask read the wrong way round (True = masked, nn.MultiheadAttention's convention)",
        "here True means the query may attend to the key, as in F.scaled_dot_product_attention",
    ),
}


def mistaken(case: Case, mistake: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(output, weights) in float64 as the known `mistake` computes them."""
    q, k, v = case.q.double(), case.k.double(), case.v.double()
    d, L, S = q.shape[-1], q.shape[-2], k.shape[-2]
    s = (q @ k.transpose(-2, -1)) * {"no_scale": 1.0, "scale_dk": 1.0 / d}.get(mistake, 1.0 / math.sqrt(d))
    allowed = torch.ones(s.shape, dtype=torch.bool)
    if case.mask is not None and case.mask.dtype == torch.bool:
        allowed = allowed & (~case.mask if mistake == "bool_inverted" else case.mask)
    elif case.mask is not None:
        s = s + case.mask.double()
    if case.causal:
        allowed = allowed & triangle(L, S, mistake)
    if mistake == "mask_after":
        w = softmax0(s, -1).masked_fill(~allowed, 0.0)
    else:
        w = softmax0(s.masked_fill(~allowed, -math.inf), -2 if mistake == "wrong_axis" else -1)
    return w @ v, w


# -- 5.1: cases --------------------------------------------------------------------------------------


@dataclass(eq=False)
class Case:
    """One call of scaled_dot_product_attention and the upstream gradient of its backward pass."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    mask: torch.Tensor | None = None
    causal: bool = False
    note: str = ""
    seed: int = 0

    def __str__(self) -> str:
        parts = [f"q {dims(self.q)}", f"k {dims(self.k)}", f"v {dims(self.v)}", mask_words(self.mask)]
        parts += ["causal=True"] if self.causal else []
        text = f"scaled_dot_product_attention({', '.join(p for p in parts if p)}; {dtype_name(self.dtype)})"
        return text + (f" [{self.note}]" if self.note else "")

    @property
    def dtype(self) -> torch.dtype:
        return self.q.dtype

    @property
    def lead(self) -> tuple[int, ...]:
        return tuple(torch.broadcast_shapes(self.q.shape[:-2], self.k.shape[:-2], self.v.shape[:-2]))

    @property
    def out_shape(self) -> tuple[int, ...]:
        return (*self.lead, self.q.shape[-2], self.v.shape[-1])

    @property
    def weights_shape(self) -> tuple[int, ...]:
        return (*self.lead, self.q.shape[-2], self.k.shape[-2])

    @cached_property
    def upstream(self) -> torch.Tensor:
        return randn(self.out_shape, self.seed + 5000, self.dtype)

    @cached_property
    def allowed(self) -> torch.Tensor:
        """(..., L, S): True where the key is left (not removed by the mask or causality)."""
        L, S = self.q.shape[-2], self.k.shape[-2]
        a = torch.ones(self.weights_shape, dtype=torch.bool)
        if self.mask is not None:
            a = a & (self.mask if self.mask.dtype == torch.bool else self.mask > -math.inf)
        return a & triangle(L, S) if self.causal else a

    @cached_property
    def carried(self) -> torch.Tensor:
        """The scores q kᵀ / √d_k (plus the additive mask) of the keys that carry weight in torch's softmax,
        0 elsewhere: a key whose weight is 0 (removed, or e^-1000 below the row's max) adds no round-off."""
        s = self.q.double() @ self.k.double().transpose(-2, -1) / math.sqrt(self.q.shape[-1])
        if self.mask is not None and self.mask.is_floating_point():
            s = s + self.mask.double()
        return s.expand(self.weights_shape).masked_fill(~(self.expected[1] > 0), 0.0)

    @property
    def score_max(self) -> float:
        """The largest |score| of a key that carries weight."""
        return float(self.carried.abs().max()) if self.carried.numel() else 0.0

    @property
    def score_extreme(self) -> float:
        """That score, with its sign."""
        flat = self.carried.flatten()
        return float(flat[flat.abs().argmax()]) if flat.numel() else 0.0

    @property
    def empty_rows(self) -> torch.Tensor:
        """(..., L, 1): True for the queries whose keys are all removed."""
        return ~self.allowed.any(-1, keepdim=True)

    @property
    def grads_compared(self) -> bool:
        """float32 gradients are only checked for being finite where the scores are large."""
        return self.dtype == torch.float64 or self.score_max <= LARGE

    @cached_property
    def expected(self) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        """(output, weights, (dq, dk, dv)) of torch's attention in float64 on these inputs."""
        q, k, v = (t.detach().double().requires_grad_(True) for t in (self.q, self.k, self.v))
        out, weights = torch_attention(q, k, v, self.mask, self.causal)
        grads = torch.autograd.grad(out, (q, k, v), self.upstream.double())
        return out.detach(), weights, grads


def case(q_shape, k_shape, v_shape, seed: int, dtype=torch.float32, mask=None, causal=False, scale=1.0, note="") -> Case:
    """Random q, k, v of these shapes (entries N(0, scale²)), drawn from `seed`."""
    q, k, v = randn(q_shape, seed, dtype, scale), randn(k_shape, seed + 1, dtype, scale), randn(v_shape, seed + 2, dtype)
    if mask is not None and mask.is_floating_point():
        mask = mask.to(dtype)
    return Case(q, k, v, mask, causal, note, seed)


def offset_case(seed: int, dtype, offset: float, L=5, S=7, d=8, mask=None, causal=False, note="") -> Case:
    """Scores of about `offset` + N(0, 3): q and k share a first feature ±c with c²/√d = |offset|, so the
    weights are those of the small part, and exp(score) overflows (or, for a negative offset, the sum
    underflows to 0) without the max subtracted."""
    c = math.sqrt(abs(offset) * math.sqrt(d))
    q = randn((2, L, d), seed, torch.float64, math.sqrt(3.0))
    k = randn((2, S, d), seed + 1, torch.float64, math.sqrt(3.0))
    q[..., 0], k[..., 0] = c, math.copysign(c, offset)
    v = randn((2, S, 3), seed + 2, torch.float64)
    if mask is not None and mask.is_floating_point():
        mask = mask.to(dtype)
    return Case(q.to(dtype), k.to(dtype), v.to(dtype), mask, causal, note or f"scores near {offset:g}", seed)


# -- 5.1: the student's side -----------------------------------------------------------------------------


@dataclass
class Got:
    out: torch.Tensor
    weights: torch.Tensor
    grads: list = field(default_factory=list)


def run(submission, cases: list[Case]) -> list[Got]:
    """scaled_dot_product_attention and its backward pass on every case, in one round trip, checked for
    type, shape and dtype."""
    replies = submission.batch(
        [submission.pending_driver("attention", c.q, c.k, c.v, c.mask, c.causal, c.upstream) for c in cases]
    )
    results = []
    for c, reply in zip(cases, replies):
        reply = mapping(reply, f"{c}: the driver's reply")
        returned = reply.get("out"), reply.get("weights")
        if any(type(t) is not torch.Tensor for t in returned):
            raise AssertionError(
                f"{c}: expected (output, weights), two tensors, got ({type(returned[0]).__name__}, "
                f"{type(returned[1]).__name__}) {short(returned)}"
            )
        out = tensor(returned[0], f"{c}: the output", c.out_shape, dtype_name(c.dtype))
        weights = tensor(returned[1], f"{c}: the weights", c.weights_shape, dtype_name(c.dtype))
        grads = reply.get("grads")
        grads = list(grads) if type(grads) is list and len(grads) == 3 else [None, None, None]
        for i, (name, leaf) in enumerate(zip("qkv", (c.q, c.k, c.v))):
            if grads[i] is not None:
                grads[i] = tensor(grads[i], f"{c}: the gradient of {name}", tuple(leaf.shape))
        results.append(Got(out, weights, grads))
    return results


def mismatch(c: Case, got: torch.Tensor, want: torch.Tensor):
    rtol, atol = tolerance(c.dtype, want, c.score_max)
    return first_mismatch(got, want, rtol, atol)


def forward_matches(c: Case, got: Got, out: torch.Tensor, weights: torch.Tensor) -> bool:
    return mismatch(c, got.weights, weights) is None and mismatch(c, got.out, out) is None


def large_scores_hint(c: Case) -> str:
    over, under = math.log(torch.finfo(c.dtype).max), -math.log(torch.finfo(c.dtype).smallest_normal) + 16
    what = f"exp overflows to inf above {over:.0f}" if c.score_extreme > 0 else f"exp underflows to 0 below −{under:.0f}"
    return (
        f"the scores reach {c.score_extreme:.4g} and {what} in {dtype_name(c.dtype)}: subtract each row's max score "
        "before exp (softmax(s) = exp(s − m) / Σ exp(s − m)), so every exponent is <= 0 and the largest term is 1"
    )


def nonfinite_hint(c: Case, got: Got) -> str:
    """Why an output or weights with nan or inf came back, from where they are."""
    bad = ~torch.isfinite(got.weights).all(-1, keepdim=True) | ~torch.isfinite(got.out).all(-1, keepdim=True)
    empty = c.empty_rows.expand(bad.shape)
    if bool((bad & ~empty).any()) and c.score_max > LARGE:
        return large_scores_hint(c)
    if bool((bad & empty).any()):
        return (
            "a query whose keys are all removed gave nan (0/0 or −inf − (−inf)): its weights and its output are zeros, "
            "as F.scaled_dot_product_attention returns (take its row max as 0, divide only by a sum > 0)"
        )
    return "the values are not finite"


def diagnosis(cases: list[Case], results: list[Got], wrong: list[int]) -> str:
    """The known mistakes whose output and weights agree with every wrong case, or failing that with the
    first wrong one; empty when none does."""
    for where in (wrong, wrong[:1]):
        matching = [m for m in MISTAKES if all(forward_matches(cases[i], results[i], *mistaken(cases[i], m)) for i in where)]
        if matching:
            what = " (or ".join(MISTAKES[m][0] for m in matching[:2]) + (")" if len(matching) > 1 else "")
            return f"it matches {what}: {MISTAKES[matching[0]][1]}"
    return ""


def forward_failure(c: Case, got: Got) -> str | None:
    """What is wrong with the output or the weights of one case (None: nothing)."""
    want_out, want_weights, _ = c.expected
    for what, value, want in (("weights", got.weights, want_weights), ("output", got.out, want_out)):
        bad = mismatch(c, value, want)
        if bad is not None:
            index, g, w = bad
            return f"{c}: {what}{index_words(index)} = {g:.7g}, expected {w:.7g} (F.scaled_dot_product_attention)"
    return None


def assert_forward(cases: list[Case], results: list[Got]) -> None:
    """Every case's output and weights equal torch's; the first failure is reported, with the mistake named."""
    failures = [(i, forward_failure(c, r)) for i, (c, r) in enumerate(zip(cases, results))]
    wrong = [i for i, f in failures if f is not None]
    if not wrong:
        return
    first = wrong[0]
    got = results[first]
    if not (torch.isfinite(got.out).all() and torch.isfinite(got.weights).all()):
        hint = nonfinite_hint(cases[first], got)
    else:
        hint = diagnosis(cases, results, wrong)
        c = cases[first]
        off = ((got.weights.double().sum(-1, keepdim=True) - 1).abs() > 1e-3) & ~c.empty_rows
        if not hint and bool(off.any()):
            hint = large_scores_hint(c) if c.score_max > LARGE else "the weights of a query do not sum to 1 over its keys"
    raise AssertionError(f"{failures[first][1]}" + (f"; {hint}" if hint else ""))


def assert_gradients(cases: list[Case], results: list[Got]) -> None:
    """Every case's gradients of q, k and v equal those of torch's attention (torch autograd)."""
    for c, r in zip(cases, results):
        for name, g, want in zip("qkv", r.grads, c.expected[2]):
            if g is None:
                raise AssertionError(
                    f"{c}: no gradient reached {name}: compute the output from q, k and v with tensor operations (no "
                    ".item(), torch.no_grad() or detached scores; only the row max may be detached)"
                )
            if not bool(torch.isfinite(g).all()):
                rows = c.empty_rows.expand(c.weights_shape)
                hint = (
                    "; a query whose keys are all removed must give zero gradients: nan_to_num or masked_fill after "
                    "the softmax hides the nan of 0/0 in the forward pass, not in the backward pass (exp(nan) = nan "
                    "flows back through the scores): keep the nan from arising (row max 0 for such rows, divide only "
                    "by a sum > 0)"
                    if bool(rows.any())
                    else ""
                )
                raise AssertionError(f"{c}: the gradient of {name} has nan or inf entries{hint}")
            if not c.grads_compared:
                continue
            bad = mismatch(c, g, want)
            if bad is not None:
                index, gv, wv = bad
                raise AssertionError(
                    f"{c}: d/d{name}{index_words(index)} = {gv:.7g}, expected {wv:.7g} (torch autograd of "
                    "F.scaled_dot_product_attention) while the output is right: is something detached that should not be?"
                )


def shapes_cases(dtype: torch.dtype, seed: int) -> list[Case]:
    return [
        case((2, 5, 8), (2, 7, 8), (2, 7, 6), seed, dtype, note="batched"),
        case((2, 3, 5, 8), (2, 3, 5, 8), (2, 3, 5, 8), seed + 10, dtype, note="batch and heads"),
        case((2, 1, 4, 16), (1, 3, 6, 16), (2, 3, 6, 4), seed + 20, dtype, note="leading axes broadcast"),
        case((6, 3), (9, 3), (9, 5), seed + 30, dtype, scale=1.5, note="no leading axes"),
        case((3, 2, 64), (3, 11, 64), (3, 11, 2), seed + 40, dtype),
    ]


# -- 5.1 tests -----------------------------------------------------------------------------------------


@pytest.mark.task("5.1")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_attention_matches_torch(submission, dtype):
    """Without a mask, do the output and the weights equal F.scaled_dot_product_attention's, for batch and head axes (broadcast), L != S and d_v != d_k?"""
    cases = shapes_cases(dtype, 100)
    assert_forward(cases, run(submission, cases))


@pytest.mark.task("5.1")
def test_masks(submission):
    """With bool masks (True = attend) and additive float masks (−inf removes a key) of shapes (L, S), (B, 1, L, S) and (B, 1, 1, S), do the output and the weights equal torch's?"""
    q, k, v = (2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 6)
    cases = [
        case(q, k, v, 200, mask=bool_mask((5, 7), 201)),
        case(q, k, v, 210, mask=bool_mask((2, 1, 5, 7), 211)),
        case(q, k, v, 220, mask=bool_mask((2, 1, 1, 7), 221, keep=0.5), note="padded keys"),
        case(q, k, v, 230, mask=float_mask((5, 7), 231)),
        case(q, k, v, 240, mask=float_mask((2, 1, 5, 7), 241)),
        case(q, k, v, 250, mask=float_mask((2, 1, 1, 7), 251, removed=0.0), note="finite biases"),
        case(q, k, v, 260, torch.float64, mask=bool_mask((2, 1, 5, 7), 261)),
        case(q, k, v, 270, torch.float64, mask=float_mask((5, 7), 271, torch.float64)),
    ]
    assert_forward(cases, run(submission, cases))


@pytest.mark.task("5.1")
def test_causal(submission):
    """With causal=True, does query i attend to keys j <= i (the lower triangle from the top left, as torch's is_causal, also when L != S), alone and with a mask?"""
    cases = [
        case((2, 6, 8), (2, 6, 8), (2, 6, 5), 300, causal=True, note="L = S"),
        case((2, 4, 8), (2, 7, 8), (2, 7, 5), 310, causal=True, note="L < S"),
        case((2, 7, 8), (2, 4, 8), (2, 4, 5), 320, causal=True, note="L > S"),
        case((2, 2, 6, 8), (2, 2, 6, 8), (2, 2, 6, 3), 330, mask=bool_mask((2, 1, 1, 6), 331, keep=0.7), causal=True),
        case((2, 5, 8), (2, 5, 8), (2, 5, 4), 340, mask=float_mask((5, 5), 341), causal=True),
        case((3, 5, 4), (3, 5, 4), (3, 5, 4), 350, torch.float64, causal=True, note="L = S"),
    ]
    assert_forward(cases, run(submission, cases))


@pytest.mark.task("5.1")
def test_fully_masked_rows(submission):
    """Where a query's keys are all removed (bool mask all False, float mask all −inf, causal with key 0 masked), are its weights, output and gradients zeros, as torch returns, and the other rows right?"""
    rows = torch.ones(5, 7, dtype=torch.bool)
    rows[1], rows[4] = False, False
    rows_float = torch.zeros(5, 7).masked_fill(~rows, -math.inf)
    padded = bool_mask((2, 1, 1, 6), 401)
    padded[..., 0] = False  # causal: query 0 sees key 0 only, which the padding removes
    cases = [
        case((2, 5, 8), (2, 7, 8), (2, 7, 6), 410, mask=rows),
        case((2, 5, 8), (2, 7, 8), (2, 7, 6), 420, mask=rows_float),
        case((2, 2, 6, 8), (2, 2, 6, 8), (2, 2, 6, 3), 430, mask=padded, causal=True),
        case((2, 5, 8), (2, 7, 8), (2, 7, 6), 440, torch.float64, mask=rows_float.double()),
    ]
    results = run(submission, cases)
    assert_forward(cases, results)
    assert_gradients(cases, results)


@pytest.mark.task("5.1")
def test_large_logits(submission):
    """With scores of 1e3 to 1e4 (exp overflows in float32 and float64), is the softmax stable: finite, and equal to torch's output and weights?"""
    cases = [
        offset_case(500, torch.float32, 1000.0),
        offset_case(510, torch.float32, 5000.0, mask=bool_mask((5, 7), 511)),
        offset_case(520, torch.float64, 10000.0, causal=True, L=7),
        offset_case(530, torch.float64, 5000.0, mask=float_mask((2, 5, 7), 531, torch.float64)),
        case((2, 5, 8), (2, 7, 8), (2, 7, 3), 540, scale=60.0, note="scores of about ±3600"),
    ]
    results = run(submission, cases)
    assert_forward(cases, results)
    assert_gradients(cases, results)


@pytest.mark.task("5.1")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_gradients(submission, dtype):
    """Are the gradients of q, k and v those of F.scaled_dot_product_attention (torch autograd), with and without masks and causal?"""
    q, k, v = (2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 6)
    cases = shapes_cases(dtype, 600)[:3] + [
        case(q, k, v, 630, dtype, mask=bool_mask((2, 1, 5, 7), 631)),
        case(q, k, v, 640, dtype, mask=float_mask((5, 7), 641, dtype)),
        case((2, 7, 8), (2, 4, 8), (2, 4, 5), 650, dtype, causal=True, note="L > S"),
    ]
    results = run(submission, cases)
    assert_forward(cases, results)
    assert_gradients(cases, results)


# -- 5.2: heads --------------------------------------------------------------------------------------------

SPLITS = {  # name -> (how the student's split was made, what the handout says)
    "reshape": (
        "a reshape straight to (..., h, L, E/h), without the transpose",
        "that mixes positions across heads: reshape the last axis to (h, E/h), then transpose the length and head "
        "axes (x.reshape(..., L, h, E/h).transpose(-3, -2))",
    ),
    "interleaved": (
        "heads made of every h-th feature",
        "head i holds the contiguous features i·E/h to (i+1)·E/h − 1: reshape the last axis to (h, E/h), not (E/h, h)",
    ),
}
MERGES = {
    "reshape": (
        "a reshape straight to (..., L, E), without transposing back",
        "transpose back to (..., L, h, E/h) first, then flatten the last two axes",
    ),
    "interleaved": (
        "the heads' features interleaved",
        "Concat(head_1, ..., head_h): head i's features come as one block, i·E/h to (i+1)·E/h − 1",
    ),
    "reversed": ("the heads concatenated in reverse order", "Concat(head_1, ..., head_h), in order"),
}


def split_as(x: torch.Tensor, h: int, how: str | None = None) -> torch.Tensor:
    L, E = x.shape[-2:]
    if how == "reshape":
        return x.reshape(*x.shape[:-2], h, L, E // h)
    if how == "interleaved":
        return x.reshape(*x.shape[:-1], E // h, h).transpose(-1, -2).transpose(-3, -2)
    return x.reshape(*x.shape[:-1], h, E // h).transpose(-3, -2)


def merge_as(x: torch.Tensor, how: str | None = None) -> torch.Tensor:
    h, L, d = x.shape[-3:]
    if how == "reshape":
        return x.reshape(*x.shape[:-3], L, h * d)
    if how == "interleaved":
        return x.transpose(-3, -2).transpose(-1, -2).flatten(-2)
    if how == "reversed":
        x = x.flip(-3)
    return x.transpose(-3, -2).flatten(-2)


def check_heads(reply, x: torch.Tensor, h: int) -> None:
    """The heads driver's reply for x: split_heads values, merge_heads(split_heads(x)) == x, split a view."""
    what = f"split_heads(x {dims(x)}, {h})"
    reply = mapping(reply, f"{what}: the driver's reply")
    L, E = x.shape[-2:]
    split = tensor(reply.get("split"), what, (*x.shape[:-2], h, L, E // h), dtype_name(x.dtype))
    want = split_as(x, h)
    if not torch.equal(split, want):
        matching = [m for m in SPLITS if torch.equal(split, split_as(x, h, m))]
        index = first_mismatch(split, want, 0.0, 0.0)
        where = f"[{', '.join(map(str, index[0]))}] = {index[1]:g}, expected {index[2]:g}" if index else ""
        hint = f"; it matches {SPLITS[matching[0]][0]}: {SPLITS[matching[0]][1]}" if matching else ""
        raise AssertionError(f"{what}{where} (head i holds features i·E/h to (i+1)·E/h − 1 of every position){hint}")
    merged = tensor(reply.get("merged"), f"merge_heads(split_heads(x {dims(x)}, {h}))", tuple(x.shape), dtype_name(x.dtype))
    if not torch.equal(merged, x):
        matching = [m for m in MERGES if torch.equal(merged, merge_as(split, m))]
        hint = f"; it matches {MERGES[matching[0]][0]}: {MERGES[matching[0]][1]}" if matching else ""
        raise AssertionError(f"merge_heads(split_heads(x {dims(x)}, {h})) is not x, its inverse{hint}")
    if reply.get("view") is not True:
        raise AssertionError(
            f"{what} copied x: a reshape of the last axis and a transpose give a view of x's memory (no .contiguous(), "
            ".clone(), torch.stack or loop over the heads)"
        )


def heads_x(shape, seed: int, dtype=torch.float32) -> torch.Tensor:
    """Distinct values, so that any misplaced feature shows."""
    n = math.prod(shape)
    return (torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(dtype) / n - 0.5).reshape(shape)


# -- 5.2: multi-head attention ---------------------------------------------------------------------------


def torch_state(E: int, bias: bool, seed: int, dtype=torch.float32) -> dict:
    """nn.MultiheadAttention's state dict under its own names: in_proj (3E, E) packed q, k, v rows. The
    values are float32 numbers in every dtype (the driver builds torch's module in float32 before it
    converts it to the state's dtype)."""
    shapes = {"in_proj_weight": (3 * E, E), "in_proj_bias": (3 * E,), "out_proj.weight": (E, E), "out_proj.bias": (E,)}
    state = random_state({n: s for n, s in shapes.items() if bias or "bias" not in n}, seed, torch.float32)
    return {n: t.to(dtype) for n, t in state.items()}


def handout_state(state: dict) -> dict:
    """The same weights under the handout's names: q_proj, k_proj, v_proj from rows 0..E-1, E..2E-1, 2E..3E-1."""
    out = {}
    for name, w in zip(("q_proj", "k_proj", "v_proj"), state["in_proj_weight"].chunk(3)):
        out[f"{name}.weight"] = w
        if "in_proj_bias" in state:
            out[f"{name}.bias"] = state["in_proj_bias"].chunk(3)[("q_proj", "k_proj", "v_proj").index(name)]
    out["out_proj.weight"] = state["out_proj.weight"]
    if "out_proj.bias" in state:
        out["out_proj.bias"] = state["out_proj.bias"]
    return out


MHA_MISTAKES = {  # name -> (what the student's values match, what the handout says)
    "no_out_proj": ("the merged heads without out_proj", "the merged heads go through out_proj (W^O)"),
    "split_reshape": (
        "heads split by a reshape straight to (B, h, L, E/h), without the transpose",
        "split_heads reshapes the last axis to (h, E/h) and transposes the length and head axes",
    ),
    "merge_reshape": (
        "heads merged by a reshape without transposing back",
        "merge_heads transposes back to (B, L, h, E/h) before flattening",
    ),
    "qk_swapped": (
        "the query and key projections swapped",
        "in_proj_weight's rows 0..E-1 are W^Q, E..2E-1 W^K, 2E..3E-1 W^V",
    ),
    "qkv_reversed": (
        "the in-projection rows taken in the order v, k, q",
        "in_proj_weight's rows 0..E-1 are W^Q, E..2E-1 W^K, 2E..3E-1 W^V",
    ),
    "value_from_key": ("the values projected from the key input", "v = v_proj(value): the values come from the value input"),
    "no_mask": ("the mask not applied", "pass the mask to scaled_dot_product_attention; it broadcasts to (B, h, L, S)"),
    "torch_bool_mask": (
        "the bool mask inverted (nn.MultiheadAttention's attn_mask convention)",
        "the handout's bool mask means True = attend, as in scaled_dot_product_attention; do not invert it",
    ),
    "no_causal": ("causal ignored", "pass causal to scaled_dot_product_attention"),
}


@dataclass(eq=False)
class MhaCase:
    """One forward (and backward) of MultiHeadAttention(E, h, bias) holding `state` (torch's names)."""

    E: int
    h: int
    state: dict
    query: torch.Tensor
    key: torch.Tensor | None = None  # None: self-attention (key = value = query)
    value: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    causal: bool = False
    seed: int = 0
    note: str = ""

    def __str__(self) -> str:
        inputs = f"query {dims(self.query)}" + (f", key and value {dims(self.key)}" if self.key is not None else "")
        extra = [mask_words(self.mask), "causal=True" if self.causal else "", dtype_name(self.dtype)]
        bias = "" if self.bias else ", bias=False"
        text = f"MultiHeadAttention({self.E}, {self.h}{bias}) on {inputs}; " + ", ".join(e for e in extra if e)
        return text + (f" [{self.note}]" if self.note else "")

    @property
    def bias(self) -> bool:
        return "in_proj_bias" in self.state

    @property
    def dtype(self) -> torch.dtype:
        return self.query.dtype

    @property
    def kv(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(key, value) as the module sees them."""
        if self.key is None or self.value is None:
            return self.query, self.query
        return self.key, self.value

    @property
    def batched(self) -> bool:
        return self.query.dim() == 3

    @property
    def weights_shape(self) -> tuple[int, ...]:
        return (*self.query.shape[:-2], self.h, self.query.shape[-2], self.kv[0].shape[-2])

    @cached_property
    def upstream(self) -> torch.Tensor:
        return randn(tuple(self.query.shape), self.seed + 7000, self.dtype)

    def inputs(self) -> list[torch.Tensor]:
        return [self.query] if self.key is None or self.value is None else [self.query, self.key, self.value]

    def torch_mask(self, dtype: torch.dtype) -> torch.Tensor | None:
        """The mask as nn.MultiheadAttention's attn_mask: True = NOT allowed, (B·h, L, S) per example."""
        L, S = self.query.shape[-2], self.kv[0].shape[-2]
        m = merged_mask(self.mask, self.causal, L, S, dtype)
        if m is None:
            return None
        if self.batched:
            B = self.query.shape[0]
            m = m.expand(B, self.h, L, S).reshape(B * self.h, L, S)
        else:
            m = m.expand(L, S)
        return ~m if m.dtype == torch.bool else m

    @cached_property
    def expected(self) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        """(output, per-head weights, input gradients) of nn.MultiheadAttention in float64."""
        mha = nn.MultiheadAttention(self.E, self.h, bias=self.bias, batch_first=True, dtype=torch.float64)
        mha.load_state_dict({k: v.double() for k, v in self.state.items()})
        xs = [t.detach().double().requires_grad_(True) for t in self.inputs()]
        key, value = (xs[0], xs[0]) if len(xs) == 1 else xs[1:]
        out, weights = mha(
            xs[0], key, value, attn_mask=self.torch_mask(torch.float64), need_weights=True, average_attn_weights=False
        )
        grads = torch.autograd.grad(out, xs, self.upstream.double())
        return out.detach(), weights.detach(), grads

    def projections(self, dtype: torch.dtype, mistake: str | None = None) -> tuple[torch.Tensor, ...]:
        """q, k, v split into heads, projected here with the handout's weights (or a known mistake's)."""
        s = handout_state({k: v.to(dtype) for k, v in self.state.items()})
        names = {"qk_swapped": ("k_proj", "q_proj", "v_proj"), "qkv_reversed": ("v_proj", "k_proj", "q_proj")}.get(
            mistake or "", ("q_proj", "k_proj", "v_proj")
        )
        how = "reshape" if mistake == "split_reshape" else None
        return tuple(
            split_as(F.linear(x.to(dtype), s[f"{n}.weight"], s.get(f"{n}.bias")), self.h, how)
            for n, x in zip(
                names, (self.query, *self.kv) if mistake != "value_from_key" else (self.query, self.kv[0], self.kv[0])
            )
        )

    def mistaken(self, mistake: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(output, weights) in float64 as the known `mistake` computes them."""
        q, k, v = self.projections(torch.float64, mistake)
        mask = None if mistake == "no_mask" else self.mask
        if mask is not None and mistake == "torch_bool_mask" and mask.dtype == torch.bool:
            mask = ~mask
        out, weights = torch_attention(q, k, v, mask, self.causal and mistake != "no_causal")
        merged = merge_as(out, "reshape" if mistake in ("split_reshape", "merge_reshape") else None)
        if mistake == "no_out_proj":
            return merged, weights
        s = self.state
        return F.linear(merged, s["out_proj.weight"].double(), _double(s.get("out_proj.bias"))), weights


def _double(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.double()


def mha_case(E, h, batch, L, S, seed, dtype=torch.float32, bias=True, cross=False, mask=None, causal=False, note=""):
    """Random weights and inputs: query (batch, L, E) (or (L, E) when batch is None), and for
    cross-attention a key and a value (batch, S, E)."""
    lead = () if batch is None else (batch,)
    query = randn((*lead, L, E), seed, dtype)
    key = randn((*lead, S, E), seed + 1, dtype) if cross else None
    value = randn((*lead, S, E), seed + 3, dtype) if cross else None
    if mask is not None and mask.is_floating_point():
        mask = mask.to(dtype)
    return MhaCase(E, h, torch_state(E, bias, seed + 2, dtype), query, key, value, mask, causal, seed, note)


@dataclass
class MhaGot:
    returned_self: Any
    state: dict
    out: torch.Tensor
    weights: Any
    grads: list
    calls: Any


def run_mha(submission, cases: list[MhaCase]) -> list[MhaGot]:
    """load_from, the forward and its backward pass on every case, in one round trip, checked for type and
    shape (the weights' shape by the forward test)."""
    replies = submission.batch(
        [
            submission.pending_driver(
                "multi_head", c.E, c.h, c.bias, c.state, c.query, c.key, c.value, c.mask, c.causal, c.upstream
            )
            for c in cases
        ]
    )
    results = []
    for c, reply in zip(cases, replies):
        reply = mapping(reply, f"{c}: the driver's reply")
        out = tensor(reply.get("out"), f"{c}: the output", tuple(c.query.shape), dtype_name(c.dtype))
        state = reply.get("state")
        grads = reply.get("grads")
        grads = list(grads) if type(grads) is list and len(grads) == len(c.inputs()) else [None] * len(c.inputs())
        for i, (name, x) in enumerate(zip(("query", "key", "value"), c.inputs())):
            if grads[i] is not None:
                grads[i] = tensor(grads[i], f"{c}: the gradient of {name}", tuple(x.shape))
        results.append(
            MhaGot(
                reply.get("returned_self"),
                state if type(state) is dict else {},
                out,
                reply.get("weights"),
                grads,
                reply.get("calls"),
            )
        )
    return results


def mha_mismatch(c: MhaCase, got: torch.Tensor, want: torch.Tensor):
    rtol, atol = tolerance(c.dtype, want)
    return first_mismatch(got, want, rtol, atol)


def mha_failure(c: MhaCase, got: MhaGot, want: tuple, reference: str, grads: bool) -> str | None:
    """What differs from `want` = (output, weights, grads) (None: nothing)."""
    out, weights, want_grads = want
    if type(got.weights) is not torch.Tensor:
        return f"{c}: expected the weights as a tensor (need_weights=True), got {type(got.weights).__name__} {short(got.weights)}"
    if tuple(got.weights.shape) != c.weights_shape:
        hint = ""
        if tuple(got.weights.shape) == c.weights_shape[:-3] + c.weights_shape[-2:]:
            hint = (
                ": the weights of every head, not their mean over the heads (nn.MultiheadAttention's "
                "average_attn_weights=False); the weights averaged over the heads are its default"
            )
        return f"{c}: expected weights of shape {c.weights_shape} (…, h, L, S), got {tuple(got.weights.shape)}{hint}"
    for what, value, w in (("output", got.out, out), ("weights", got.weights, weights)):
        bad = mha_mismatch(c, value, w)
        if bad is not None:
            index, g, wv = bad
            return f"{c}: {what}{index_words(index)} = {g:.7g}, expected {wv:.7g} ({reference})"
    if grads:
        for name, g, w in zip(("query", "key", "value"), got.grads, want_grads):
            if g is None:
                return f"{c}: no gradient reached the {name}: compute the output from the inputs with tensor operations"
            bad = mha_mismatch(c, g, w)
            if bad is not None:
                index, gv, wv = bad
                return f"{c}: d/d {name}{index_words(index)} = {gv:.7g}, expected {wv:.7g} ({reference}, torch autograd)"
    return None


def own_attention(submission, cases: list[MhaCase]) -> list[tuple | None]:
    """For each case, (output, weights, grads) of out_proj(merge(attention(split(projections)))) with the
    student's own scaled_dot_product_attention, run in the worker on projections made here (None where it
    cannot be had): what the module computes when everything but that attention is right."""
    pending = []
    for c in cases:
        s = handout_state(c.state)
        up = split_as(c.upstream @ s["out_proj.weight"], c.h)
        q, k, v = (t.detach() for t in c.projections(c.dtype))
        pending.append(submission.pending_driver("attention", q, k, v, c.mask, c.causal, up))
    try:
        replies = submission.batch(pending)
    except StudentError:
        return [None] * len(cases)
    composed: list[tuple | None] = []
    for c, reply in zip(cases, replies):
        s = handout_state(c.state)
        if type(reply) is not dict or not all(type(reply.get(k)) is torch.Tensor for k in ("out", "weights")):
            composed.append(None)
            continue
        grads = reply.get("grads")
        if type(grads) is not list or len(grads) != 3 or not all(type(g) is torch.Tensor for g in grads):
            composed.append(None)
            continue
        try:
            out = F.linear(merge_as(reply["out"].to(c.dtype)), s["out_proj.weight"], s.get("out_proj.bias"))
            back = [merge_as(g.to(c.dtype)) @ s[f"{n}_proj.weight"] for g, n in zip(grads, "qkv")]
        except RuntimeError:
            composed.append(None)
            continue
        inputs = [back[0] + back[1] + back[2]] if len(c.inputs()) == 1 else back
        composed.append((out, reply["weights"], inputs))
    return composed


def mha_hint(c: MhaCase, got: MhaGot) -> str:
    matching = [
        m
        for m in MHA_MISTAKES
        if type(got.weights) is torch.Tensor
        and tuple(got.weights.shape) == c.weights_shape
        and all(mha_mismatch(c, g, w) is None for g, w in zip((got.out, got.weights), c.mistaken(m)))
    ]
    if not matching:
        return ""
    what = " (or ".join(MHA_MISTAKES[m][0] for m in matching[:2]) + (")" if len(matching) > 1 else "")
    return f"; it matches {what}: {MHA_MISTAKES[matching[0]][1]}"


def assert_mha(submission, cases: list[MhaCase], results: list[MhaGot], grads: bool = False) -> None:
    """Every case's output and per-head weights (and input gradients) equal nn.MultiheadAttention's, or,
    where they do not, the composition with the student's own attention (task 5.1 judges that attention)."""
    failures = [mha_failure(c, r, c.expected, "nn.MultiheadAttention", grads) for c, r in zip(cases, results)]
    wrong = [i for i, f in enumerate(failures) if f is not None]
    if not wrong:
        return
    composed = own_attention(submission, [cases[i] for i in wrong])
    for i, own in zip(wrong, composed):
        if own is None or mha_failure(cases[i], results[i], own, "", grads) is not None:
            raise AssertionError(f"{failures[i]}{mha_hint(cases[i], results[i])}")


def run_loaded(submission, cases: list[MhaCase]) -> list[MhaGot]:
    """load_from alone on every case, in one round trip (so that these tests do not run the student's
    attention): what it returned and the state dict it left."""
    replies = submission.batch([submission.pending_driver("loaded", c.E, c.h, c.bias, c.state) for c in cases])
    results = []
    for c, reply in zip(cases, replies):
        reply = mapping(reply, f"{c}: the driver's reply")
        state = reply.get("state")
        results.append(MhaGot(reply.get("returned_self"), state if type(state) is dict else {}, torch.empty(0), None, [], None))
    return results


def check_state(c: MhaCase, got: MhaGot) -> None:
    """load_from returned self and left the handout's names holding nn.MultiheadAttention's weights."""
    if got.returned_self is not True:
        raise AssertionError(
            f"{c}: load_from must return self (the module), so that MultiHeadAttention(E, h).load_from(mha) is it"
        )
    want = handout_state(c.state)
    names, own = sorted(want), sorted(got.state)
    if names != own:
        missing, extra = sorted(set(names) - set(own)), sorted(set(own) - set(names))
        raise AssertionError(
            f"{c}: the module's state dict has the entries {own}; the handout's are {names}"
            + (f" (missing {missing})" if missing else "")
            + (f" (unexpected {extra})" if extra else "")
        )
    blocks = {
        "weight": dict(
            zip(("W^Q (rows 0..E-1)", "W^K (rows E..2E-1)", "W^V (rows 2E..3E-1)"), c.state["in_proj_weight"].chunk(3))
        ),
        "bias": dict(zip(("b_q", "b_k", "b_v"), c.state["in_proj_bias"].chunk(3))) if c.bias else {},
    }
    for name in sorted(names, key=lambda n: (n.endswith("bias"), n)):  # the weights first
        value = tensor(got.state[name], f"{c}: {name} after load_from", tuple(want[name].shape), dtype_name(c.dtype))
        if torch.equal(value, want[name]):
            continue
        kind = name.rsplit(".", 1)[1]
        packed = f"in_proj_{kind}"
        same = [b for b, w in blocks[kind].items() if torch.equal(value, w)]
        if name.startswith("out_proj"):
            hint = "out_proj was not copied: copy mha.out_proj's weight and bias into out_proj"
        elif same:
            hint = f"it holds {same[0]} of {packed}: the in-projection rows were taken in the wrong q, k, v order"
        elif kind == "bias":
            hint = "the biases were not copied: in_proj_bias (3E,) packs b_q, b_k, b_v as in_proj_weight packs the rows"
        else:
            hint = "it should hold its block of in_proj_weight: rows 0..E-1 are W^Q, E..2E-1 W^K, 2E..3E-1 W^V"
        raise AssertionError(f"{c}: {name} after load_from differs from nn.MultiheadAttention's weights; {hint}")


def loop_message(counts: dict[int, int], E: int) -> str:
    (h1, c1), (h2, c2) = sorted(counts.items())
    return (
        f"MultiHeadAttention({E}, h).forward made {c1} torch calls with {h1} heads and {c2} with {h2} (same width, "
        "same inputs): split the heads with one reshape, attend in all of them with one scaled_dot_product_attention "
        "call (the heads are a leading axis) and merge them with one reshape: no Python loop over the heads"
    )


def assert_calls(cases: list[MhaCase], results: list[MhaGot]) -> None:
    """The forward's torch-call count does not grow with the number of heads."""
    counts = {c.h: integer(r.calls, f"{c}: the number of torch calls") for c, r in zip(cases, results)}
    (_, few), (_, many) = sorted(counts.items())
    if many > few:
        raise AssertionError(loop_message(counts, cases[0].E))


# -- 5.2 tests -----------------------------------------------------------------------------------------


@pytest.mark.task("5.2")
def test_split_and_merge_heads(submission):
    """Does split_heads map (…, L, E) to (…, h, L, E/h), head i holding features i·E/h to (i+1)·E/h − 1, as a view of x, and merge_heads invert it?"""
    xs = [(heads_x((2, 5, 12), 700), 3), (heads_x((7, 8), 701), 2), (heads_x((2, 3, 4, 6), 702, torch.float64), 6)]
    replies = submission.batch([submission.pending_driver("heads", x, h) for x, h in xs])
    for (x, h), reply in zip(xs, replies):
        check_heads(reply, x, h)


@pytest.mark.task("5.2")
def test_load_from(submission):
    """Does load_from copy nn.MultiheadAttention's packed in_proj (rows q, k, v) and out_proj into q_proj, k_proj, v_proj and out_proj, with and without biases, and return self?"""
    cases = [mha_case(12, 3, 2, 4, 4, 800), mha_case(8, 2, 2, 3, 3, 810, bias=False)]
    for c, got in zip(cases, run_loaded(submission, cases)):
        check_state(c, got)


@pytest.mark.task("5.2")
def test_multi_head_matches_torch(submission):
    """Holding nn.MultiheadAttention's weights, do the output and the per-head weights equal nn.MultiheadAttention(E, h, batch_first=True)'s, for self- and cross-attention (S != L), unbatched input and no biases?"""
    cases = [
        mha_case(16, 4, 2, 5, 5, 900, note="self-attention"),
        mha_case(12, 3, 2, 4, 7, 910, cross=True, note="cross-attention"),
        mha_case(8, 2, None, 6, 3, 920, cross=True, note="unbatched"),
        mha_case(16, 8, 3, 4, 4, 930, bias=False),
    ]
    assert_mha(submission, cases, run_mha(submission, cases))


@pytest.mark.task("5.2")
def test_multi_head_masks_and_causal(submission):
    """With masks of shape (L, S), (B, 1, L, S) and (B, 1, 1, S), bool (True = attend, the opposite of nn.MultiheadAttention's attn_mask) or float, and causal, are the output and weights nn.MultiheadAttention's?"""
    cases = [
        mha_case(16, 4, 2, 5, 5, 1000, mask=bool_mask((5, 5), 1001)),
        mha_case(12, 3, 2, 4, 6, 1010, cross=True, mask=bool_mask((2, 1, 4, 6), 1011)),
        mha_case(12, 2, 2, 5, 5, 1020, mask=bool_mask((2, 1, 1, 5), 1021, keep=0.5), note="padded keys"),
        mha_case(8, 2, 2, 4, 4, 1030, mask=float_mask((4, 4), 1031)),
        mha_case(16, 4, 2, 6, 6, 1040, causal=True),
        mha_case(8, 4, 2, 5, 5, 1050, mask=bool_mask((2, 1, 1, 5), 1051), causal=True),
    ]
    assert_mha(submission, cases, run_mha(submission, cases))


@pytest.mark.task("5.2")
def test_multi_head_gradients(submission):
    """Are the gradients of the query (self-attention) and of the query, key and value (cross-attention) those of nn.MultiheadAttention (torch autograd)?"""
    cases = [
        mha_case(16, 4, 2, 5, 5, 1100),
        mha_case(12, 3, 2, 4, 6, 1110, cross=True, mask=bool_mask((2, 1, 1, 6), 1111)),
        mha_case(8, 2, 2, 5, 5, 1120, bias=False, causal=True),
    ]
    assert_mha(submission, cases, run_mha(submission, cases), grads=True)


@pytest.mark.task("5.2")
def test_need_weights_false(submission, attn):
    """With need_weights=False, does forward return (output, None), the output the same as with need_weights=True?"""
    module = attn.MultiHeadAttention(16, 4)
    x = randn((2, 5, 16), 1200)
    without, with_weights = submission.batch(
        [submission.pending_call(module, "forward", x, need_weights=False), submission.pending_call(module, "forward", x)]
    )
    what = "MultiHeadAttention(16, 4).forward(query (2, 5, 16), need_weights=False)"
    for label, value in ((what, without), ("the same with need_weights=True", with_weights)):
        if type(value) is not tuple or len(value) != 2:
            raise AssertionError(f"{label}: expected a pair (output, weights), got {type(value).__name__} {short(value)}")
    if without[1] is not None:
        raise AssertionError(f"{what}: expected (output, None), got weights {short(without[1])}")
    out = tensor(without[0], f"{what}: the output", (2, 5, 16), "float32")
    ref = tensor(with_weights[0], "MultiHeadAttention(16, 4).forward(query (2, 5, 16)): the output", (2, 5, 16), "float32")
    bad = first_mismatch(out, ref, RTOL[torch.float32], ATOL[torch.float32])
    if bad is not None:
        raise AssertionError(f"{what}: the output differs from the one with need_weights=True at {index_words(bad[0])}")


@pytest.mark.task("5.2")
def test_heads_are_not_a_loop(submission):
    """Does one forward make as many torch calls with 8 heads as with 2 (same width and inputs): heads split by reshape and attending in one batched call, no Python loop over them?"""
    query = randn((2, 5, 16), 1300)
    cases = [MhaCase(16, h, torch_state(16, True, 1301), query, seed=1300) for h in (2, 8)]
    results = run_mha(submission, cases)
    assert_mha(submission, cases, results)  # a count is credited only for a forward that is right
    assert_calls(cases, results)
