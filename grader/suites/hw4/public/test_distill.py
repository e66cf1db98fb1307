"""Public tests for hw4 task 4.6 (distill.py): the distillation loss of Hinton, Vinyals & Dean.

The student's `distillation_loss` runs in the worker through the `distillation` driver, which also
runs its backward pass; the loss and the gradients that reached the student's and the teacher's
logits come back, and every verdict is made here: against the handout's formula written with
torch's own `F.kl_div(log_q, p, reduction="batchmean")` and `F.cross_entropy` in float64, against
torch autograd of that formula, and against its limits (alpha = 0 is plain cross-entropy; for large
T, T²·KL(p ‖ q) tends to Σ_c((z_t − z̄_t) − (z_s − z̄_s))² / (2C) per example).

Losses and gradients are compared within float32 round-off: correct formulations in float32
(xlogy, log_softmax of the teacher, softmax then log, a hand-written cross-entropy) differ from the
float64 formula by at most 1.3e-5 relative in the loss and 1.1e-7 in a gradient entry, a tenth of
the tolerance. When a value is wrong, the known mistakes are recomputed on the same inputs and the
one the student's values follow is named."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch.nn import functional as F

from grader.assertions import first_mismatch, mapping, short, tensor

LOSS_RTOL, LOSS_ATOL = 1e-4, 1e-5
GRAD_RTOL, GRAD_ATOL = 1e-4, 1e-6
LIMIT_T, LIMIT_RTOL = 1000.0, 2e-2  # the large-T limit: O(1/T) away at T = 1000, float32 noise about 1e-3


@dataclass(frozen=True)
class Case:
    """One call of distillation_loss: (N, C) logits, labels, T, alpha."""

    student: torch.Tensor
    teacher: torch.Tensor
    labels: torch.Tensor
    T: float
    alpha: float
    name: str = ""

    def __str__(self) -> str:
        n, c = self.student.shape
        dtype = str(self.student.dtype).removeprefix("torch.")
        return self.name or f"distillation_loss(N={n}, C={c}, T={self.T:g}, alpha={self.alpha:g}, {dtype} logits)"


def logits(n: int, c: int, seed: int, scale: float = 3.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, c, generator=g, dtype=torch.float64) * scale).to(dtype)


def random_case(
    seed: int, T: float, alpha: float, dtype: torch.dtype = torch.float32, n: int = 8, c: int = 10, scale: float = 3.0
) -> Case:
    g = torch.Generator().manual_seed(seed + 7)
    labels = torch.randint(0, c, (n,), generator=g)
    return Case(logits(n, c, seed, scale, dtype), logits(n, c, seed + 1000, scale, dtype), labels, T, alpha)


def grid(dtype: torch.dtype, seed: int = 46) -> list[Case]:
    """T = 1, 2, 4, 10 by alpha = 0, 0.5, 1, each on logits of its own."""
    return [
        random_case(seed + 10 * i + j, T, alpha, dtype)
        for i, T in enumerate((1.0, 2.0, 4.0, 10.0))
        for j, alpha in enumerate((0.0, 0.5, 1.0))
    ]


# -- the formula, and the known mistakes ------------------------------------------------------------

MISTAKES = {  # name -> (what the student's values match, what the formula says)
    "no_T2": (
        "the loss without the factor T² on the KL term",
        "the soft term is alpha · T² · KL, which keeps its pull the same size whatever T is",
    ),
    "T": ("the loss with T instead of T² in front of the KL term", "the factor is T squared"),
    "reversed": (
        "KL(q ‖ p), the divergence reversed",
        "the soft term is KL(p ‖ q) = Σ p (log p − log q), p the teacher's softened distribution",
    ),
    "soft_ce": ("the soft cross-entropy −Σ p log q", "KL(p ‖ q) = Σ p (log p − log q) adds the teacher's Σ p log p"),
    "teacher_not_softened": ("a teacher not softened by T", "p = softmax(teacher_logits / T), not softmax(teacher_logits)"),
    "student_not_softened": ("a student not softened by T in the KL term", "q = softmax(student_logits / T)"),
    "sum_batch": ("the KL summed over the batch", "sum over the classes, then average over the N examples (batchmean)"),
    "mean_all": (
        "the KL averaged over all N·C entries, reduction='mean'",
        "sum over the classes, then average over the N examples only (batchmean)",
    ),
    "ce_softened": ("a cross-entropy of the softened logits CE(student_logits / T)", "the label term is at temperature 1"),
    "alpha_swapped": ("alpha and 1 − alpha swapped", "alpha weighs the soft term alpha · T² · KL, 1 − alpha the cross-entropy"),
}


def formula(
    s: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, T: float, alpha: float, mistake: str | None = None
) -> torch.Tensor:
    """alpha · T² · KL(p ‖ q) + (1 − alpha) · CE(s, labels), with F.kl_div (batchmean) and
    F.cross_entropy, or the loss as `mistake` (a key of MISTAKES) computes it."""
    log_q = F.log_softmax(s / (1.0 if mistake == "student_not_softened" else T), dim=1)
    t = t.detach() / (1.0 if mistake == "teacher_not_softened" else T)
    p = F.softmax(t, dim=1)
    if mistake == "reversed":
        soft = F.kl_div(F.log_softmax(t, dim=1), log_q.exp(), reduction="batchmean")
    elif mistake == "soft_ce":
        soft = -(p * log_q).sum(dim=1).mean()
    else:
        soft = F.kl_div(log_q, p, reduction={"sum_batch": "sum", "mean_all": "mean"}.get(mistake or "", "batchmean"))
    factor = {"no_T2": 1.0, "T": T}.get(mistake or "", T**2)
    ce = F.cross_entropy(s / T if mistake == "ce_softened" else s, labels)
    a = 1 - alpha if mistake == "alpha_swapped" else alpha
    return a * factor * soft + (1 - a) * ce


def expected(case: Case, mistake: str | None = None) -> tuple[float, torch.Tensor]:
    """The formula's loss and its gradient with respect to the student's logits, in float64."""
    s = case.student.detach().double().clone().requires_grad_(True)
    loss = formula(s, case.teacher.double(), case.labels, case.T, case.alpha, mistake)
    loss.backward()
    return float(loss), s.grad


def loss_close(got: float, want: float, rtol: float = LOSS_RTOL, atol: float = LOSS_ATOL) -> bool:
    return math.isfinite(got) and abs(got - want) <= atol + rtol * abs(want)


def explain(matching: list[str], subject: str = "it") -> str:
    """The hint for the mistakes whose values the student's follow (the first one's fix)."""
    if not matching:
        return ""
    what = " (or ".join(MISTAKES[m][0] for m in matching[:2]) + (")" if len(matching) > 1 else "")
    return f"{subject} matches {what}: {MISTAKES[matching[0]][1]}"


def diagnosis(cases: list[Case], got: list[float], rtol: float = LOSS_RTOL, atol: float = LOSS_ATOL) -> str:
    """The mistakes whose loss agrees with every value the student returned on these cases, or
    failing that with the first wrong one; empty when none does."""
    wrong = [i for i, (c, v) in enumerate(zip(cases, got)) if not loss_close(v, expected(c)[0], rtol, atol)]
    if not wrong:
        return ""
    for where in (range(len(cases)), wrong[:1]):
        matching = [m for m in MISTAKES if all(loss_close(got[i], expected(cases[i], m)[0], rtol, atol) for i in where)]
        if matching:
            return explain(matching)
    return ""


def grad_diagnosis(case: Case, grad: torch.Tensor) -> str:
    """The mistakes whose gradient the student's follows on this case; empty when none does."""
    return explain(
        [m for m in MISTAKES if first_mismatch(grad, expected(case, m)[1], GRAD_RTOL, GRAD_ATOL) is None], "the gradient"
    )


# -- the student's side -------------------------------------------------------------------------------


@dataclass
class Result:
    loss: float
    grad: torch.Tensor | None
    teacher_grad: torch.Tensor | None


def run(submission, cases: list[Case]) -> list[Result]:
    """distillation_loss and its backward pass on every case, in one round trip, checked: a scalar
    floating-point tensor, and gradients of the logits' shape when they come back."""
    outs = submission.batch(
        [submission.pending_driver("distillation", c.student, c.teacher, c.labels, c.T, c.alpha) for c in cases]
    )
    results = []
    for case, out in zip(cases, outs):
        out = mapping(out, f"{case}: the driver's reply")
        loss: Any = out.get("loss")
        if type(loss) is not torch.Tensor:
            raise AssertionError(f"{case}: expected the loss as a scalar tensor, got {type(loss).__name__} {short(loss)}")
        if loss.dim() != 0 or not loss.is_floating_point():
            raise AssertionError(
                f"{case}: expected a scalar floating-point tensor, got shape {tuple(loss.shape)} of "
                f"{str(loss.dtype).removeprefix('torch.')}: sum over the classes, average over the batch"
            )
        grads = []
        for key, who in (("grad", "student"), ("teacher_grad", "teacher")):
            g = out.get(key)
            if g is not None:
                g = tensor(g, f"{case}: the gradient of the {who}'s logits", tuple(case.student.shape))
            grads.append(g)
        results.append(Result(float(loss), *grads))
    return results


def assert_losses(cases: list[Case], results: list[Result]) -> None:
    got = [r.loss for r in results]
    for case, value in zip(cases, got):
        want = expected(case)[0]
        if not loss_close(value, want):
            hint = diagnosis(cases, got) or (
                ""
                if math.isfinite(value)
                else "the loss is not finite: log(softmax(z)) underflows to log 0 = −inf where logits lie far apart (use "
                "F.log_softmax), and p · log p is 0 · (−inf) = nan where p = 0 (0 log 0 counts as 0)"
            )
            raise AssertionError(f"{case}: got {value:.7g}, expected {want:.7g}" + (f"; {hint}" if hint else ""))


def assert_gradients(cases: list[Case], results: list[Result]) -> None:
    for case, r in zip(cases, results):
        if r.grad is None:
            raise AssertionError(
                f"{case}: no gradient reached the student's logits: compute the loss from them with tensor operations "
                "(not .item(), torch.no_grad() or a detached copy)"
            )
        want = expected(case)[1]
        bad = first_mismatch(r.grad, want, GRAD_RTOL, GRAD_ATOL)
        if bad is not None:
            (i, j), g, w = bad
            hint = grad_diagnosis(case, r.grad)
            raise AssertionError(
                f"{case}: d loss / d student_logits[{i}, {j}] = {g:.7g}, expected {w:.7g} (torch autograd of the formula)"
                + (f"; {hint}" if hint else "")
            )


# -- tests -------------------------------------------------------------------------------------------


@pytest.mark.task("4.6")
def test_handout_example(submission):
    """Is the loss of the handout's example (student [[0, 0]], teacher [[2, 0]], label 0, T = 2, alpha = 0.5) 0.5685?"""
    case = Case(
        torch.tensor([[0.0, 0.0]]),
        torch.tensor([[2.0, 0.0]]),
        torch.tensor([0]),
        2,
        0.5,
        "distillation_loss([[0, 0]], [[2, 0]], [0], T=2, alpha=0.5)",
    )
    want = expected(case)[0]
    assert abs(want - 0.5685) < 5e-5, f"the graders' formula gives {want:.6f} on the handout's example, not 0.5685"
    assert_losses([case], run(submission, [case]))


@pytest.mark.task("4.6")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_loss_matches_the_formula(submission, dtype):
    """Does distillation_loss equal alpha·T²·KL(p ‖ q) + (1 − alpha)·CE (F.kl_div batchmean, F.cross_entropy) for T = 1, 2, 4, 10 and alpha = 0, 0.5, 1?"""
    cases = grid(dtype) + [random_case(90, 3.0, 0.3, dtype, n=5, c=3)]
    assert_losses(cases, run(submission, cases))


@pytest.mark.task("4.6")
def test_gradient_matches_autograd(submission):
    """Is the gradient with respect to the student's logits that of the formula (torch autograd), for T = 1 to 10?"""
    cases = grid(torch.float32, seed=146) + [random_case(190 + i, T, 0.7, torch.float64) for i, T in enumerate((1.0, 4.0))]
    assert_gradients(cases, run(submission, cases))


@pytest.mark.task("4.6")
def test_no_gradient_reaches_the_teacher(submission):
    """Is the teacher a fixed target: does no gradient flow into teacher_logits (with the loss and the student's gradient right)?"""
    cases = [random_case(300, 2.0, 0.5), random_case(301, 4.0, 1.0, torch.float64)]
    results = run(submission, cases)
    assert_losses(cases, results)  # a loss that ignores the teacher has no gradient into it either
    assert_gradients(cases, results)
    for case, r in zip(cases, results):
        if r.teacher_grad is not None and bool((r.teacher_grad != 0).any()):
            raise AssertionError(
                f"{case}: a gradient of norm {float(r.teacher_grad.double().norm()):.4g} reached teacher_logits; the teacher "
                "is a fixed target: detach it (teacher_logits.detach()) or compute p under torch.no_grad()"
            )


@pytest.mark.task("4.6")
def test_alpha_zero_is_cross_entropy(submission):
    """At alpha = 0, is the loss plain cross-entropy F.cross_entropy(student_logits, labels), whatever T and the teacher?"""
    cases = [random_case(400 + i, T, 0.0) for i, T in enumerate((0.5, 3.0, 20.0))]
    results = run(submission, cases)
    for case, r in zip(cases, results):
        want = float(F.cross_entropy(case.student.double(), case.labels))
        if not loss_close(r.loss, want):
            hint = diagnosis(cases, [x.loss for x in results])
            raise AssertionError(
                f"{case}: got {r.loss:.7g}, expected the cross-entropy {want:.7g}"
                + (f"; {hint}" if hint else "; at alpha = 0 only (1 − alpha) · CE(student_logits, labels) is left")
            )


@pytest.mark.task("4.6")
def test_large_temperature_limit(submission):
    """At T = 1000 and alpha = 1, is the loss within 2% of Σ_c((z_t − z̄_t) − (z_s − z̄_s))² / (2C), averaged over the batch (Hinton et al. §2.1)?"""
    case = random_case(500, LIMIT_T, 1.0, torch.float64, n=6)
    c = case.student.shape[1]
    s, t = case.student, case.teacher
    d = (t - t.mean(1, keepdim=True)) - (s - s.mean(1, keepdim=True))
    limit = float((d**2).sum(1).mean() / (2 * c))
    assert abs(expected(case)[0] - limit) <= 1e-3 * limit, "the graders' formula is not within 0.1% of its limit at T = 1000"
    (r,) = run(submission, [case])
    if not loss_close(r.loss, limit, LIMIT_RTOL, 0.0):
        hint = diagnosis([case], [r.loss], LIMIT_RTOL, 0.0)
        raise AssertionError(
            f"{case}: got {r.loss:.7g}, expected about {limit:.7g}: for large T, T²·KL(p ‖ q) tends to the mean over the "
            "batch of Σ_c((z_t − z̄_t) − (z_s − z̄_s))² / (2C)" + (f"; {hint}" if hint else "")
        )


@pytest.mark.task("4.6")
def test_confident_teacher(submission):
    """With a teacher so confident that p has exact zeros (logits [200, 0, 0], float32, T = 1), are the loss and its gradient finite and right (0 log 0 = 0)?"""
    student = torch.tensor([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [0.0, 0.0, 0.0]])
    teacher = torch.tensor([[200.0, 0.0, 0.0], [0.0, 300.0, 0.0], [0.0, 0.0, 250.0]])
    assert bool((F.softmax(teacher, dim=1) == 0).any()), "the case must give p exact zeros in float32"
    cases = [
        Case(student, teacher, torch.tensor([0, 1, 1]), 1.0, alpha, f"confident teacher, T=1, alpha={alpha:g}")
        for alpha in (0.5, 1.0)
    ]
    results = run(submission, cases)
    for case, r in zip(cases, results):
        if not math.isfinite(r.loss):
            raise AssertionError(
                f"{case}: the loss is {r.loss}; where p_c = 0 exactly, p_c · log p_c is 0 · (−inf) = nan: 0 log 0 counts as 0 "
                "(torch.xlogy(p, p), or p · log_softmax(teacher_logits / T))"
            )
        if r.grad is not None and not bool(torch.isfinite(r.grad).all()):
            raise AssertionError(f"{case}: the gradient of the student's logits has a non-finite entry: {r.grad.tolist()}")
    assert_losses(cases, results)
    assert_gradients(cases, results)
