"""Public tests for hw4 part 1 (prune.py): tasks 4.1 and 4.2, magnitude and structured pruning.

Masks are compared with torch.nn.utils.prune (`l1_unstructured`, `global_unstructured`) on tensors
whose |w| are all different, and judged by their properties where |w| ties: exactly
k = round(sparsity * n) entries pruned, and no pruned |w| above a kept one, so any tie-break
passes. Training through `apply_masks` is replayed here on the same network with the handout's
gradient hook and compared step by step. `kept_neurons` is judged by the count, the order and the
scores (the L1 or L2 norms of the rows, computed here); the network `prune_neurons` returns is
rebuilt here and compared layer by layer with the original's rows and columns, and output by
output with the original whose removed neurons are set to zero."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.utils.prune
from torch import nn

from grader.assertions import first_mismatch, mapping, raises, sequence, short, tensor
from grader.worker.drivers.hw4 import build

# -- masks -----------------------------------------------------------------------------------------


def untied(shape: tuple[int, ...], seed: int, exponent: int = 8) -> torch.Tensor:
    """A float32 tensor of random signs whose |w| are distinct odd multiples of 2^-exponent, in random
    places: no two entries tie in |w|, in this tensor or against one built with another exponent."""
    n = math.prod(shape)
    g = torch.Generator().manual_seed(seed)
    odd = (2 * torch.randperm(n, generator=g) + 1).float()
    sign = torch.randint(0, 2, (n,), generator=g).float() * 2 - 1
    return (sign * odd * 2.0**-exponent).reshape(shape)


def tied(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """A float32 tensor of values drawn from {-0.2, -0.1, 0.1, 0.2}: |w| ties everywhere."""
    g = torch.Generator().manual_seed(seed)
    values = torch.tensor([-0.2, -0.1, 0.1, 0.2])
    return values[torch.randint(0, 4, shape, generator=g)]


class Holder(nn.Module):
    """A module whose only parameter is `weight`, for torch.nn.utils.prune."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight.clone())


def torch_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """torch.nn.utils.prune.l1_unstructured's mask (True = kept) at `sparsity`."""
    holder = Holder(weight)
    torch.nn.utils.prune.l1_unstructured(holder, "weight", amount=float(sparsity))
    return holder.weight_mask.bool()


def torch_global_masks(weights: dict[str, torch.Tensor], sparsity: float) -> dict[str, torch.Tensor]:
    """torch.nn.utils.prune.global_unstructured's masks (L1, True = kept) at `sparsity`."""
    holders = {name: Holder(w) for name, w in weights.items()}
    torch.nn.utils.prune.global_unstructured(
        [(h, "weight") for h in holders.values()], pruning_method=torch.nn.utils.prune.L1Unstructured, amount=float(sparsity)
    )
    return {name: h.weight_mask.bool() for name, h in holders.items()}


def inverted(mask: torch.Tensor, weight: torch.Tensor, sparsity: float) -> bool:
    """Does `mask` look like the right one with True and False swapped: all False where none should
    be, all True where all should be False, or its False entries all at least as large in |w| as its
    True ones?"""
    a, m, k = weight.abs().flatten(), mask.flatten(), round(sparsity * weight.numel())
    if m.all() or not m.any():
        return bool(k == 0 and not m.any() or k == m.numel() and m.all())
    return bool(a[~m].min() >= a[m].max())


def count_hint(pruned: int, n: int, sparsity: float, flipped: bool = False) -> str:
    """What a wrong number of pruned entries looks like it did (`flipped`: the False entries are the largest)."""
    x, k = sparsity * n, round(sparsity * n)
    if pruned == math.floor(x) != k:
        return f"k = round(sparsity · n) = round({x:g}) = {k}; int() truncates it to {pruned}"
    if pruned == n - k != k and flipped:
        return "the mask looks inverted: True means kept, False pruned"
    if pruned == math.floor(x + 0.5) != k:
        return f"Python's round halves to even (round(2.5) = 2, round(3.5) = 4): round({x:g}) = {k}, this rounds the half up"
    if pruned == math.ceil(x) != k:
        return f"k = round(sparsity · n) = round({x:g}) = {k}, not rounded up"
    if abs(pruned - k) == 1:
        return f"one entry {'too many' if pruned > k else 'too few'}: exactly k = round(sparsity · n) = {k} entries are pruned"
    return f"exactly k = round(sparsity · n) = {k} entries must be False"


def dominance_hint(kept: torch.Tensor, weight: torch.Tensor) -> str:
    """What a mask that prunes some |w| above a kept one looks like it did."""
    a, w, m = weight.abs().flatten(), weight.flatten(), kept.flatten()
    if bool(a[~m].min() >= a[m].max()):
        return "the largest |w| were pruned: prune the smallest (sort |w| in increasing order), or the mask is inverted (True = kept)"
    if bool(w[~m].max() <= w[m].min()):
        return "entries were ranked by w, not |w|: a large negative weight was pruned as if it were small"
    return "the pruned entries must be the k smallest in |w|"


def check_mask(got, weight: torch.Tensor, sparsity: float, what: str) -> torch.Tensor:
    """`got` is a bool mask of weight's shape with exactly round(sparsity * n) False entries, none of
    them larger in |w| than a kept entry (any tie-break)."""
    mask = tensor(got, what, tuple(weight.shape))
    if mask.dtype != torch.bool:
        raise AssertionError(
            f"{what}: expected a torch.bool mask (True = kept), got dtype {str(mask.dtype).removeprefix('torch.')}"
        )
    n, k, pruned = weight.numel(), round(sparsity * weight.numel()), int((~mask).sum())
    if pruned != k:
        hint = count_hint(pruned, n, sparsity, inverted(mask, weight, sparsity))
        raise AssertionError(f"{what}: {pruned} of {n} entries pruned, expected {k}; {hint}")
    if 0 < k < n:
        a = weight.abs()
        hi, lo = float(a[~mask].max()), float(a[mask].min())
        if hi > lo:
            raise AssertionError(
                f"{what}: an entry with |w| = {hi:g} was pruned while one with |w| = {lo:g} was kept; {dominance_hint(mask, weight)}"
            )
    return mask


def first_difference(got: torch.Tensor, expected: torch.Tensor) -> str:
    i = int((got.flatten() != expected.flatten()).nonzero()[0])
    return f"flat index {i}: got {bool(got.flatten()[i])}, expected {bool(expected.flatten()[i])}"


MASK_SHAPES = {"1-D (37,)": (37,), "2-D (12, 20)": (12, 20), "4-D conv (6, 3, 3, 3)": (6, 3, 3, 3)}
SPARSITIES = (0.0, 0.3, 0.5, 0.92, 1.0)


@pytest.mark.task("4.1")
def test_magnitude_mask_matches_torch_without_ties(submission, prune):
    """Does magnitude_mask prune the round(sparsity·n) smallest |w|, as torch's l1_unstructured does (1-D, 2-D, conv; sparsity 0 to 1)?"""
    cases = [(label, untied(shape, seed), s) for seed, (label, shape) in enumerate(MASK_SHAPES.items()) for s in SPARSITIES]
    got = submission.batch([submission.pending_call(prune, "magnitude_mask", w, s) for _, w, s in cases])
    for (label, w, s), mask in zip(cases, got):
        what = f"magnitude_mask(weight {label}, sparsity={s})"
        mask = check_mask(mask, w, s, what)
        expected = torch_mask(w, s)
        if not torch.equal(mask, expected):
            raise AssertionError(
                f"{what} differs from torch.nn.utils.prune.l1_unstructured's mask at {first_difference(mask, expected)}"
            )


HALVES = [(5, 0.5), (7, 0.5), (3, 0.5), (1, 0.5), (10, 0.25), (6, 0.25), (2, 0.25), (9, 0.5)]


@pytest.mark.task("4.1")
def test_magnitude_mask_count_rounds_halves_to_even(submission, prune):
    """Does magnitude_mask prune exactly round(sparsity·n) entries, Python's round (0.5 of 5 prunes 2, of 7 prunes 4)?"""
    cases = [(untied((n,), 100 + n), s) for n, s in HALVES]
    got = submission.batch([submission.pending_call(prune, "magnitude_mask", w, s) for w, s in cases])
    for (w, s), mask in zip(cases, got):
        check_mask(mask, w, s, f"magnitude_mask(weight {w.tolist()}, sparsity={s})")
    w = torch.tensor([0.3, -0.1, 0.1, 0.2])
    mask = check_mask(prune.magnitude_mask(w, 0.25), w, 0.25, "magnitude_mask([0.3, -0.1, 0.1, 0.2], sparsity=0.25)")
    assert mask[0] and mask[3], "magnitude_mask([0.3, -0.1, 0.1, 0.2], 0.25) must prune one of the two entries of |w| = 0.1"


@pytest.mark.task("4.1")
def test_magnitude_mask_with_ties(submission, prune):
    """With many equal |w| (values from ±0.1, ±0.2), are exactly round(sparsity·n) entries pruned, none larger than a kept one?"""
    weights = {"(6, 10)": tied((6, 10), 7), "(4, 2, 3, 3)": tied((4, 2, 3, 3), 8)}
    cases = [(label, w, s) for label, w in weights.items() for s in (0.1, 0.25, 0.5, 0.7, 0.9)]
    got = submission.batch([submission.pending_call(prune, "magnitude_mask", w, s) for _, w, s in cases])
    for (label, w, s), mask in zip(cases, got):
        check_mask(mask, w, s, f"magnitude_mask(weight {label} of values ±0.1, ±0.2, sparsity={s})")


def check_global(got, weights: dict[str, torch.Tensor], sparsity: float, what: str) -> dict[str, torch.Tensor]:
    """`got` holds one bool mask per tensor, the same keys in the same order, with round(sparsity * N)
    entries pruned over all N entries, none larger in |w| than a kept entry anywhere."""
    got = mapping(got, what)
    if list(got) != list(weights):
        raise AssertionError(f"{what}: returned the keys {list(got)}, expected the same keys in the same order: {list(weights)}")
    masks = {name: tensor(got[name], f"{what}[{name!r}]", tuple(w.shape), "bool") for name, w in weights.items()}
    flat_mask = torch.cat([m.flatten() for m in masks.values()])
    flat_w = torch.cat([w.flatten() for w in weights.values()])
    n, k, pruned = flat_w.numel(), round(sparsity * flat_w.numel()), int((~flat_mask).sum())
    uniform = all(int((~masks[name]).sum()) == round(sparsity * w.numel()) for name, w in weights.items())
    per_layer = ", ".join(f"{name} {int((~masks[name]).sum())}/{w.numel()}" for name, w in weights.items())
    if uniform and (pruned != k or 0 < k < n and bool(flat_w.abs()[~flat_mask].max() > flat_w.abs()[flat_mask].min())):
        raise AssertionError(
            f"{what}: pruned {per_layer}, each tensor at sparsity {sparsity} on its own; global pruning ranks all {n} entries "
            f"together with one threshold, so each layer ends with its own sparsity"
        )
    if pruned != k:
        raise AssertionError(
            f"{what}: {pruned} of all {n} entries pruned ({per_layer}), expected {k}; "
            f"{count_hint(pruned, n, sparsity, inverted(flat_mask, flat_w, sparsity))}"
        )
    if 0 < k < n:
        a = flat_w.abs()
        hi, lo = float(a[~flat_mask].max()), float(a[flat_mask].min())
        if hi > lo:
            raise AssertionError(
                f"{what}: an entry with |w| = {hi:g} was pruned while one with |w| = {lo:g} was kept ({per_layer}); "
                f"{dominance_hint(flat_mask, flat_w)}"
            )
    return masks


GLOBAL_LAYERS = {"encoder.weight": ((24, 32), 12), "bottleneck.weight": ((16, 24), 9), "classifier.weight": ((4, 16), 6)}


@pytest.mark.task("4.1")
def test_global_masks_match_torch_global_unstructured(submission, prune):
    """Does global_masks rank all layers' |w| together, as torch's global_unstructured does, each layer ending at its own sparsity?"""
    weights = {name: untied(shape, 20 + i, exponent) for i, (name, (shape, exponent)) in enumerate(GLOBAL_LAYERS.items())}
    cases = (0.5, 0.8, 0.92)
    got = submission.batch([submission.pending_call(prune, "global_masks", weights, s) for s in cases])
    for s, masks in zip(cases, got):
        what = f"global_masks(three Linear weights {[tuple(w.shape) for w in weights.values()]}, sparsity={s})"
        masks = check_global(masks, weights, s, what)
        for name, expected in torch_global_masks(weights, s).items():
            if not torch.equal(masks[name], expected):
                raise AssertionError(
                    f"{what}[{name!r}] differs from torch.nn.utils.prune.global_unstructured's mask at {first_difference(masks[name], expected)}"
                )


# -- masks kept through training --------------------------------------------------------------------

RTOL, ATOL = 1e-5, 1e-6  # float32 round-off over a few steps of training
STEPS = 4
OPTIMIZERS = {
    "SGD_momentum_decay": ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    "Adam": ("Adam", {"lr": 0.01}),
    "AdamW_decay": ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
}
TANH_MLP = [["Linear", 6, 8, True], ["Tanh"], ["Linear", 8, 3, True]]


def random_state(spec: list, seed: int) -> dict[str, torch.Tensor]:
    """The state of `spec` built with torch's default initialization under `seed`."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return {k: v.detach().clone() for k, v in build(spec).state_dict().items()}


def random_masks(state: dict, names: list[str], seed: int, kept: float = 0.5) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {name: torch.rand(state[name].shape, generator=g) < kept for name in names}


def replay(spec: list, state: dict, masks: dict, x, target, optimizer: str, settings: dict, steps: int) -> list[dict]:
    """The training of the driver `masked_training`, masked here as the handout says (pruned entries
    set to 0, a hook zeroing their gradient): the state after masking and after every step."""
    model = build(spec, state)
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        with torch.no_grad():
            params[name].masked_fill_(~mask, 0)
        params[name].register_hook(lambda grad, mask=mask: grad.masked_fill(~mask, 0))
    states = [{k: v.detach().clone() for k, v in model.state_dict().items()}]
    opt = getattr(torch.optim, optimizer)(model.parameters(), **settings)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), target).backward()
        opt.step()
        states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    return states


def check_masked_training(
    submission, spec: list, state: dict, masks: dict, optimizer: str, settings: dict, label: str, x: torch.Tensor, seed: int
) -> None:
    """apply_masks on the network, then `STEPS` steps of `optimizer` in the worker on the inputs `x`
    and random targets: the pruned entries are 0 after apply_masks and after every step, every weight
    follows the replay here, and apply_masks returned the model."""
    with torch.no_grad():
        y = build(spec, state)(x)
    target = y + torch.randn(y.shape, generator=torch.Generator().manual_seed(seed))
    what = f"apply_masks, then {STEPS} steps of {label}"
    out = mapping(submission.driver("masked_training", spec, state, masks, x, target, optimizer, settings, STEPS), what)
    states = sequence(out.get("states"), f"{what}: the weights after each step", length=STEPS + 1)
    expected = replay(spec, state, masks, x, target, optimizer, settings, STEPS)
    for t, (got, want) in enumerate(zip(states, expected)):
        when = "right after apply_masks" if t == 0 else f"after training step {t} ({label})"
        got = mapping(got, f"the model's state {when}")
        if list(got) != list(want):
            raise AssertionError(
                f"the model's parameters {when} are {list(got)}, expected {list(want)}: apply_masks keeps the model's parameters"
            )
        for name, mask in masks.items():
            w = tensor(got[name], f"{name} {when}", tuple(want[name].shape), "float32")
            bad = int((w[~mask] != 0).sum())
            if bad and t == 0:
                raise AssertionError(
                    f"{bad} pruned entries of {name} are not 0 right after apply_masks: it must set the pruned weights to 0 now "
                    f"(the hook only zeroes their gradients)"
                )
            if bad:
                raise AssertionError(
                    f"pruned weights came back after training step {t}: {bad} pruned entries of {name} are non-zero "
                    f"(largest |w| = {float(w[~mask].abs().max()):.3g}, {label}); the mask must be kept (gradient hook)"
                )
        for name, want_w in want.items():
            w = tensor(got[name], f"{name} {when}", tuple(want_w.shape), "float32")
            bad = first_mismatch(w, want_w, RTOL, ATOL)
            if bad is None:
                continue
            index, g_value, e_value = bad
            hint = "only the pruned entries' gradients are zeroed; every kept weight trains as usual"
            mask = masks.get(name)
            if t == 0:
                hint = "apply_masks changes only the pruned entries"
            elif mask is not None and bool(mask.any()) and torch.equal(w[mask], expected[0][name][mask]):
                hint = "the kept weights never moved: the hook must zero the pruned entries' gradient (where the mask is False), not the kept ones'"
            raise AssertionError(f"{name} {when}: at {index} got {g_value:.7g}, expected {e_value:.7g}; {hint}")
    if out.get("returned_model") is not True:
        raise AssertionError("apply_masks must return the model it was given, changed in place; it returned something else")


@pytest.mark.task("4.1")
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_apply_masks_keeps_pruned_weights_zero(submission, name):
    """After apply_masks, are the pruned weights 0, and do they stay 0 through training while the kept ones train as usual?"""
    optimizer, settings = OPTIMIZERS[name]
    state = random_state(TANH_MLP, 30)
    masks = random_masks(state, ["0.weight", "2.weight"], 31)
    label = f"{optimizer}({', '.join(f'{k}={v}' for k, v in settings.items())})"
    x = torch.randn(16, 6, generator=torch.Generator().manual_seed(32))
    check_masked_training(submission, TANH_MLP, state, masks, optimizer, settings, label, x, 33)


# -- structured pruning -----------------------------------------------------------------------------


def scores_of(weight: torch.Tensor, norm: int) -> torch.Tensor:
    """Each neuron's score: the L1 or L2 norm of weight[i] flattened, in float64."""
    return torch.linalg.vector_norm(weight.double().flatten(1), ord=norm, dim=1)


def strongest(scores: torch.Tensor, count: int) -> set[int]:
    return set(torch.argsort(scores, descending=True, stable=True)[:count].tolist())


def kept_count_hint(got: int, out: int, keep: float) -> str:
    x, expected = keep * out, max(1, round(keep * out))
    if got == 0:
        return "at least one neuron is kept: max(1, round(keep · out))"
    if got == out - expected:
        return "these look like the removed neurons: keep is the fraction kept, not a sparsity"
    if got == int(x) != expected:
        return f"max(1, round(keep · out)) = max(1, round({x:g})) = {expected}; int() truncates it to {got}"
    if got == math.floor(x + 0.5) != expected:
        return f"Python's round halves to even: round({x:g}) = {round(x)}, this rounds the half up"
    return f"it keeps max(1, round(keep · out)) = {expected} neurons"


def selection_hint(chosen: set[int], weight: torch.Tensor, norm: int, count: int, also=()) -> str:
    """What a kept set that is not the strongest looks like it did; `also`: more (set, message) to
    try after the other norm (the likelier explanation) and before the rest."""
    other = 3 - norm
    if chosen == strongest(scores_of(weight, other), count):
        return f"these are the neurons the L{other} norm chooses; norm={norm} asks for the L{norm} norm" + (
            " (the sum of |w|)" if norm == 1 else " (the square root of the sum of w²)"
        )
    for alternative, message in also:
        if chosen == alternative:
            return message
    if chosen == set(torch.argsort(scores_of(weight, norm), stable=True)[:count].tolist()):
        return "it kept the neurons with the smallest scores; keep the largest"
    if chosen == strongest(weight.double().flatten(1).sum(1), count):
        return "the scores look like signed sums of the weights; a norm sums |w| (L1) or w² (L2)"
    return f"it keeps the neurons with the largest L{norm} norms of weight[i]"


def check_dominance(chosen: list[int], weight: torch.Tensor, norm: int, what: str, hint) -> None:
    """No kept neuron's score is below a removed one's (ties may go either way)."""
    scores = scores_of(weight, norm)
    removed = [i for i in range(weight.shape[0]) if i not in set(chosen)]
    if not removed:
        return
    low = min(chosen, key=lambda i: float(scores[i]))
    high = max(removed, key=lambda i: float(scores[i]))
    if float(scores[low]) < float(scores[high]) - 1e-6 * float(scores.max()):
        raise AssertionError(
            f"{what}: kept neuron {low} (L{norm} score {float(scores[low]):.5g}) but removed neuron {high} "
            f"(score {float(scores[high]):.5g}); {hint()}"
        )


def check_kept(got, weight: torch.Tensor, keep: float, norm: int, what: str) -> list[int]:
    """`got` is an int64 tensor of max(1, round(keep * out)) distinct indices in increasing order, the
    neurons of largest L1/L2 norm (any of the tied ones)."""
    idx = tensor(got, what)
    if idx.dtype != torch.int64 or idx.dim() != 1:
        raise AssertionError(
            f"{what}: expected a 1-D int64 tensor of indices, got dtype {str(idx.dtype).removeprefix('torch.')} and shape "
            f"{tuple(idx.shape)}" + ("; return the kept neurons' indices, not a mask" if idx.dtype == torch.bool else "")
        )
    out, count = weight.shape[0], max(1, round(keep * weight.shape[0]))
    if idx.numel() != count:
        raise AssertionError(
            f"{what}: {idx.numel()} of {out} neurons kept, expected {count}; {kept_count_hint(idx.numel(), out, keep)}"
        )
    chosen = idx.tolist()
    if min(chosen) < 0 or max(chosen) >= out or len(set(chosen)) != count:
        raise AssertionError(f"{what}: returned {chosen}, expected {count} different indices from 0 to {out - 1}")
    check_dominance(chosen, weight, norm, what, lambda: selection_hint(set(chosen), weight, norm, count))
    if chosen != sorted(chosen):
        raise AssertionError(f"{what}: returned {chosen}; return the indices in increasing order (sort them)")
    return chosen


def peaked_and_flat(out: int, fan_in: int, seed: int, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """A weight whose rows are half peaked (one large entry: first in L2, last in L1) and half flat
    (many moderate entries: first in L1), with random jitter so that no two scores tie."""
    g = torch.Generator().manual_seed(seed)
    w = torch.empty(out, fan_in)
    for i in range(out):
        sign = torch.randint(0, 2, (fan_in,), generator=g).float() * 2 - 1
        if i % 2:
            w[i] = sign * (0.5 + 0.2 * torch.rand(fan_in, generator=g))
        else:
            w[i] = sign * 0.05 * torch.rand(fan_in, generator=g)
            w[i, int(torch.randint(0, fan_in, (1,), generator=g))] = float(sign[0]) * (
                fan_in * 0.45 + torch.rand(1, generator=g).item()
            )
    w = w[torch.randperm(out, generator=g)]
    return w.reshape(shape) if shape is not None else w


KEPT_CASES = [
    ("Linear (10, 7)", (10, 7), 0.5, 1),
    ("Linear (10, 7)", (10, 7), 0.5, 2),
    ("Linear (10, 7)", (10, 7), 0.25, 1),
    ("Linear (10, 7)", (10, 7), 1.0, 1),
    ("Linear (10, 7)", (10, 7), 0.04, 2),
    ("Conv2d (12, 3, 3, 3)", (12, 3, 3, 3), 0.5, 1),
    ("Conv2d (12, 3, 3, 3)", (12, 3, 3, 3), 0.5, 2),
    ("Conv2d (12, 3, 3, 3)", (12, 3, 3, 3), 0.3, 2),
]


@pytest.mark.task("4.2")
def test_kept_neurons_keeps_the_largest_norms(submission, prune):
    """Does kept_neurons keep the max(1, round(keep·out)) neurons of largest L1 or L2 norm, in increasing order, for Linear and Conv2d weights?"""
    weights = {
        label: peaked_and_flat(shape[0], math.prod(shape[1:]), 40 + len(shape), shape) for label, shape, _, _ in KEPT_CASES
    }
    got = submission.batch(
        [submission.pending_call(prune, "kept_neurons", weights[label], keep, norm) for label, _, keep, norm in KEPT_CASES]
    )
    for (label, _, keep, norm), idx in zip(KEPT_CASES, got):
        check_kept(idx, weights[label], keep, norm, f"kept_neurons(weight {label}, keep={keep}, norm={norm})")


@pytest.mark.task("4.2")
def test_kept_neurons_with_equal_scores(submission, prune):
    """With neurons of equal scores, does kept_neurons keep the right number, none weaker than a removed one?"""
    values = torch.tensor([0.5, -0.25, 1.0, 0.125])
    g = torch.Generator().manual_seed(50)
    weight = torch.stack([values[torch.randperm(4, generator=g)] * (1.0 if i % 2 == 0 else 0.5) for i in range(6)])
    cases = [(keep, norm) for keep in (0.5, 0.33, 0.67) for norm in (1, 2)]
    got = submission.batch([submission.pending_call(prune, "kept_neurons", weight, keep, norm) for keep, norm in cases])
    for (keep, norm), idx in zip(cases, got):
        check_kept(
            idx, weight, keep, norm, f"kept_neurons(6 rows of equal scores in pairs {weight.tolist()}, keep={keep}, norm={norm})"
        )


def block_columns(kept: list[int], block: int) -> torch.Tensor:
    """The inputs of a Linear after Flatten that come from the channels `kept`, in that order: channel
    c's block of `block` inputs is c * block to (c + 1) * block - 1."""
    return (torch.tensor(kept)[:, None] * block + torch.arange(block)).flatten()


def identify(new_w: torch.Tensor, new_b, w: torch.Tensor, b, cols: torch.Tensor, layer: int, what: str) -> list[int]:
    """Which original neurons the rows of a pruned layer are: by their biases when there are, else by
    their rows (restricted to the kept inputs)."""
    if b is not None:
        found = []
        for j, v in enumerate(new_b.tolist()):
            match = (b == v).nonzero().flatten().tolist()
            if not match:
                raise AssertionError(
                    f"{what}: layer {layer}'s bias[{j}] = {v:.7g} is none of the original biases: each kept neuron keeps its own bias (bias[kept])"
                )
            found.append(match[0])
        return found
    sub = w[:, cols].flatten(1)
    found = []
    for j, row in enumerate(new_w.flatten(1)):
        d = (sub - row).abs().amax(1)
        i = int(d.argmin())
        if float(d[i]) > 1e-6 * (1 + float(row.abs().max())):
            raise AssertionError(
                f"{what}: row {j} of layer {layer}'s weight is none of the original neurons' rows restricted to the kept inputs"
            )
        found.append(i)
    return found


def check_pruned(out, spec: list, state: dict, keep: float, norm: int, x: torch.Tensor, what: str) -> nn.Sequential:
    """The network prune_neurons returned (through the driver), checked against the original: same
    layers and settings, the original unchanged, every hidden layer keeping max(1, round(keep * out))
    of its neurons (the strongest on the original weights) with their rows and biases, the next layer
    keeping exactly their inputs (blocks after Flatten), and the outputs of the original with the
    removed neurons zeroed. Returns the rebuilt network."""
    out = mapping(out, what)
    if out.get("type") != "Sequential" or out.get("spec") is None:
        raise AssertionError(f"{what}: expected an nn.Sequential, got {out.get('type')}")
    original = mapping(out.get("original"), f"{what}: the original's state afterwards")
    for name, value in state.items():
        after: Any = original.get(name)
        if type(after) is not torch.Tensor or after.shape != value.shape or not torch.equal(after, value):
            raise AssertionError(
                f"{what} changed the original model's {name}: prune_neurons returns a smaller copy and leaves model as it was"
            )
    new_spec = sequence(out["spec"], f"{what}: the returned network's layers")
    if [layer[0] for layer in new_spec if isinstance(layer, list) and layer] != [layer[0] for layer in spec]:
        raise AssertionError(
            f"{what}: the returned network's layers are {short([layer[:1] for layer in new_spec])}, expected the original's "
            f"{[layer[0] for layer in spec]}, each kept, only smaller"
        )
    for i, (a, b) in enumerate(zip(spec, new_spec)):
        settings_a, settings_b = (a[3:], b[3:]) if a[0] in ("Linear", "Conv2d") else (a, b)
        if list(settings_a) != list(settings_b):
            raise AssertionError(
                f"{what}: layer {i} ({a[0]}) changed its settings from {a} to {b}; build the new layers with resized()"
            )
    new_state = mapping(out["state"], f"{what}: the returned network's state")
    if sorted(new_state) != sorted(state):
        raise AssertionError(f"{what}: the returned network's parameters are {sorted(new_state)}, expected {sorted(state)}")
    weighted = [i for i, layer in enumerate(spec) if layer[0] in ("Linear", "Conv2d")]
    zeroed = {k: v.clone() for k, v in state.items()}
    kept: list[int] | None = None
    for j, i in enumerate(weighted):
        w, b = state[f"{i}.weight"], state.get(f"{i}.bias")
        new_w = tensor(new_state[f"{i}.weight"], f"{what}: layer {i}'s weight", dtype="float32")
        last = j == len(weighted) - 1
        prev = weighted[j - 1] if j else None
        flatten = prev is not None and spec[prev][0] == "Conv2d" and spec[i][0] == "Linear"
        if kept is None:
            cols = torch.arange(w.shape[1])
        elif flatten:
            block = w.shape[1] // state[f"{prev}.weight"].shape[0]
            cols = block_columns(kept, block)
        else:
            cols = torch.tensor(kept)
        rows = w.shape[0] if last else max(1, round(keep * w.shape[0]))
        if new_w.dim() != w.dim() or new_w.shape[0] != rows:
            raise AssertionError(
                f"{what}: layer {i}'s weight has shape {tuple(new_w.shape)}; "
                + (
                    f"the last {spec[i][0]} keeps all its {rows} outputs"
                    if last
                    else f"it keeps max(1, round(keep · out)) = {rows} of its {w.shape[0]} neurons"
                )
            )
        if new_w.shape[1] != len(cols):
            if new_w.shape[1] == w.shape[1]:
                hint = f"it still has all its {w.shape[1]} inputs: it must lose those of the neurons layer {prev} removed (its columns, or input channels)"
            elif flatten and kept is not None and new_w.shape[1] == len(kept):
                hint = f"after Flatten each kept channel of layer {prev} brings its block of H·W = {block} inputs, not one"
            else:
                hint = f"it keeps one input per kept neuron of layer {prev}" + (
                    f" ({block} per channel after Flatten)" if flatten else ""
                )
            raise AssertionError(f"{what}: layer {i} has {new_w.shape[1]} inputs, expected {len(cols)}; {hint}")
        if new_w.shape[2:] != w.shape[2:]:
            raise AssertionError(f"{what}: layer {i}'s kernel changed from {tuple(w.shape[2:])} to {tuple(new_w.shape[2:])}")
        new_b = None if b is None else tensor(new_state.get(f"{i}.bias"), f"{what}: layer {i}'s bias", (rows,), "float32")
        if last:
            chosen = list(range(rows))
            if b is not None and not torch.equal(new_b, b):
                raise AssertionError(f"{what}: the last layer ({i}) keeps its bias as it was")
        else:
            chosen = identify(new_w, new_b, w, b, cols, i, what)
            if len(set(chosen)) != len(chosen):
                raise AssertionError(f"{what}: layer {i} holds the same original neuron twice: {chosen}")

            def explain(i=i, w=w, cols=cols, chosen=chosen, rows=rows, prev=prev, before=kept):
                cut = (
                    strongest(scores_of(w[:, cols], norm), rows),
                    f"layer {i}'s neurons were scored on its weights after cutting the inputs of layer {prev}'s removed "
                    "neurons: score every layer on the original weights",
                )
                return selection_hint(set(chosen), w, norm, rows, [cut] if before is not None else [])

            check_dominance(chosen, w, norm, f"{what}: layer {i} ({spec[i][0]})", explain)
        expected = w[chosen][:, cols]
        bad = first_mismatch(new_w, expected, 1e-6, 1e-7)
        if bad is not None:
            hint = (
                f"after Flatten, channel c of layer {prev} feeds the block of inputs c·{block} to (c + 1)·{block} − 1 "
                "(a (C, H, W) output flattens channel by channel): keep the kept channels' blocks"
                if flatten
                else f"its rows are the kept neurons' rows, and its inputs those of layer {prev}'s kept neurons, in the order that layer keeps them"
            )
            raise AssertionError(
                f"{what}: layer {i}'s weight at {bad[0]} is {bad[1]:.7g}, expected {bad[2]:.7g} from the original; {hint}"
            )
        removed = [r for r in range(w.shape[0]) if r not in set(chosen)]
        zeroed[f"{i}.weight"][removed] = 0
        if b is not None:
            zeroed[f"{i}.bias"][removed] = 0
        kept = chosen
    model = build(spec, new_state).eval()
    reference = build(spec, zeroed).eval()
    with torch.no_grad():
        got, want = model(x), reference(x)
    bad = first_mismatch(got, want, 1e-4, 1e-5)
    if bad is not None:
        raise AssertionError(
            f"{what}: the pruned network's output at {bad[0]} is {bad[1]:.7g}, expected {bad[2]:.7g}, the original's with the removed "
            "neurons' weights and biases set to zero"
        )
    return model


def crafted_mlp(seed: int) -> tuple[list, dict]:
    """12-10-8-4 with Tanh and ReLU: layer 0's strong neurons are clear, and layer 2's strongest rows on
    the original weights draw their weight from the inputs of layer 0's weak neurons, so scoring layer 2
    after cutting those inputs chooses other neurons."""
    spec = [["Linear", 12, 10, True], ["Tanh"], ["Linear", 10, 8, True], ["ReLU"], ["Linear", 8, 4, True]]
    g = torch.Generator().manual_seed(seed)

    def jitter(*shape):
        return 1 + 0.1 * torch.rand(*shape, generator=g)

    def signs(*shape):
        return torch.randint(0, 2, shape, generator=g).float() * 2 - 1

    strong0 = torch.randperm(10, generator=g)[:5]
    w0 = signs(10, 12) * 0.1 * jitter(10, 12)
    w0[strong0] *= 10
    weak0 = torch.ones(10, dtype=torch.bool)
    weak0[strong0] = False
    trap = torch.randperm(8, generator=g)[:4]
    w2 = signs(8, 10) * 0.75 * jitter(8, 10)
    w2[trap] = signs(4, 10) * 0.1 * jitter(4, 10)
    w2[trap[:, None], weak0.nonzero().flatten()[None, :]] *= 30
    w4 = signs(4, 8) * 0.5 * jitter(4, 8)
    state = {
        "0.weight": w0,
        "0.bias": torch.randn(10, generator=g) * 0.1,
        "2.weight": w2,
        "2.bias": torch.randn(8, generator=g) * 0.1,
        "4.weight": w4,
        "4.bias": torch.randn(4, generator=g) * 0.1,
    }
    return spec, state


SMALL_CNN = [
    ["Conv2d", 2, 6, 3, 1, 1, True],
    ["ReLU"],
    ["MaxPool2d", 2],
    ["Conv2d", 6, 8, 3, 1, 1, True],
    ["ReLU"],
    ["Flatten"],
    ["Linear", 128, 5, True],
]


@pytest.mark.task("4.2")
@pytest.mark.parametrize("norm", [1, 2])
def test_prune_neurons_mlp(submission, norm):
    """Does prune_neurons return a smaller MLP whose hidden layers keep the strongest neurons (scored on the original weights), with the outputs of the original with the others zeroed?"""
    spec, state = crafted_mlp(60)
    x = torch.randn(6, 12, generator=torch.Generator().manual_seed(61))
    out = submission.driver("prune_neurons", spec, state, 0.5, norm)
    check_pruned(out, spec, state, 0.5, norm, x, f"prune_neurons(MLP 12-10-8-4, keep=0.5, norm={norm})")


@pytest.mark.task("4.2")
@pytest.mark.parametrize("keep,norm", [(0.5, 1), (0.4, 2)])
def test_prune_neurons_cnn(submission, keep, norm):
    """On Conv2d → ReLU → MaxPool2d → Conv2d → ReLU → Flatten → Linear, does prune_neurons cut channels and each kept channel's block of inputs after Flatten?"""
    state = random_state(SMALL_CNN, 62)
    x = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(63))
    out = submission.driver("prune_neurons", SMALL_CNN, state, keep, norm)
    check_pruned(
        out, SMALL_CNN, state, keep, norm, x, f"prune_neurons(CNN 2-6-8 channels, Linear 128-5, keep={keep}, norm={norm})"
    )


@pytest.mark.task("4.2")
def test_prune_neurons_refuses_what_it_cannot_cut(submission):
    """Does prune_neurons raise ValueError for a Linear followed by a Conv2d, and for a Linear after a Conv2d whose inputs are not a multiple of its channels?"""
    spec = [["Linear", 4, 8, True], ["ReLU"], ["Conv2d", 8, 4, 1, 1, 0, True]]
    raises(
        "ValueError",
        submission.driver,
        "prune_neurons",
        spec,
        random_state(spec, 64),
        0.5,
        1,
        what="prune_neurons of a Linear followed by a Conv2d",
    )
    spec = [["Conv2d", 1, 4, 3, 1, 1, True], ["ReLU"], ["Flatten"], ["Linear", 30, 5, True]]
    raises(
        "ValueError",
        submission.driver,
        "prune_neurons",
        spec,
        random_state(spec, 65),
        0.5,
        1,
        what="prune_neurons of a Conv2d with 4 channels, Flatten, then a Linear of 30 inputs (not a multiple of 4)",
    )
