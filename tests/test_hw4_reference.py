"""hw4's reference toolbox (solutions/hw4: prune, quantize, distill) against the libraries that implement
the same things: torch.nn.utils.prune for the masks, torch.ao.quantization's observers and torch's
fake-quantize operators for the scales, zero points, rounding and the straight-through gradient, and
torch.nn.functional.kl_div / cross_entropy for the distillation loss. Degenerate tensors, bit widths 2
to 8, per tensor and per channel, float32. Where torch is deterministic the values must be equal;
elsewhere the tolerances are float32 round-off. These are tests of the reference, not the graders."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.ao.quantization import MinMaxObserver, PerChannelMinMaxObserver
from torch.nn import functional as F
from torch.nn.utils import prune as torch_prune

from grader.paths import module_from_file
from tests.conftest import ROOT

HW4 = ROOT / "solutions" / "hw4"
P = module_from_file("hw4_reference_prune", HW4 / "prune.py")
Q = module_from_file("hw4_reference_quantize", HW4 / "quantize.py")
D = module_from_file("hw4_reference_distill", HW4 / "distill.py")

SPARSITIES = [0.0, 0.1, 0.25, 0.5, 0.73, 0.9, 0.999, 1.0]
BITS = range(2, 9)
F32_EPS = torch.finfo(torch.float32).eps


def distinct(*shape: int, seed: int = 0) -> torch.Tensor:
    """A float32 tensor whose magnitudes are all different (a random permutation of 1..n, signs and scale random)."""
    g = torch.Generator().manual_seed(seed)
    n = int(np.prod(shape))
    mags = (torch.randperm(n, generator=g).float() + 1) / n
    signs = torch.randint(0, 2, (n,), generator=g).float() * 2 - 1
    return (mags * signs).view(*shape)


def holder(t: torch.Tensor) -> nn.Module:
    m = nn.Module()
    m.weight = nn.Parameter(t.clone())
    return m


# ---------------------------------------------------------------- 4.1 magnitude pruning


@pytest.mark.parametrize("shape", [(7,), (12, 9), (4, 3, 3, 3)])
@pytest.mark.parametrize("sparsity", SPARSITIES)
def test_magnitude_mask_equals_l1_unstructured(shape, sparsity):
    w = distinct(*shape, seed=len(shape))
    m = holder(w)
    torch_prune.l1_unstructured(m, "weight", amount=sparsity)
    mask = P.magnitude_mask(w, sparsity)
    assert mask.dtype == torch.bool and mask.shape == w.shape
    assert torch.equal(mask, m.weight_mask.bool())


@pytest.mark.parametrize("sparsity", SPARSITIES + [0.25, 0.35, 0.45])
def test_magnitude_mask_prunes_exactly_torchs_count_with_ties(sparsity):
    g = torch.Generator().manual_seed(1)
    w = torch.randint(-3, 4, (10, 6), generator=g).float()  # many equal magnitudes, zeros among them
    m = holder(w)
    torch_prune.l1_unstructured(m, "weight", amount=sparsity)
    mask = P.magnitude_mask(w, sparsity)
    assert int((~mask).sum()) == int((m.weight_mask == 0).sum()) == round(sparsity * w.numel())
    if mask.any() and not mask.all():
        assert w.abs()[~mask].max() <= w.abs()[mask].min()


def test_magnitude_mask_prunes_the_lowest_flat_index_first_among_ties():
    w = torch.tensor([[2.0, -1.0, 1.0], [1.0, -1.0, 3.0]])
    mask = P.magnitude_mask(w, 0.5)  # 3 of the four entries of |w| = 1 go: flat indices 1, 2, 3
    assert mask.tolist() == [[True, False, False], [False, True, True]]
    assert P.magnitude_mask(torch.zeros(5), 0.4).tolist() == [False, False, True, True, True]


def test_magnitude_mask_rounds_the_count_half_to_even_as_torch():
    w = distinct(10)
    for sparsity, pruned in [(0.25, 2), (0.35, 4), (0.05, 0), (0.15, 2)]:
        assert int((~P.magnitude_mask(w, sparsity)).sum()) == pruned == round(sparsity * 10)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "half", None, True])
def test_magnitude_mask_rejects_a_sparsity_outside_0_1(bad):
    with pytest.raises(ValueError, match="sparsity"):
        P.magnitude_mask(distinct(4), bad)


@pytest.mark.parametrize("bad", [torch.tensor([1.0, float("nan")]), torch.tensor([1, 2]), torch.zeros(0)])
def test_magnitude_mask_rejects_a_weight_that_is_not_finite_floats(bad):
    with pytest.raises(ValueError, match="weight"):
        P.magnitude_mask(bad, 0.5)


def layers_of(seed: int) -> dict[str, torch.Tensor]:
    return {
        "0.weight": distinct(8, 5, seed=seed),
        "2.weight": distinct(6, 8, seed=seed + 1) * 3,
        "4.weight": distinct(3, 6, seed=seed + 2) / 4,
    }


@pytest.mark.parametrize("sparsity", SPARSITIES)
def test_global_masks_equal_global_unstructured(sparsity):
    weights = layers_of(3)
    # one scale per layer keeps the magnitudes distinct across layers too
    weights = {k: v * (1 + 0.01 * i) for i, (k, v) in enumerate(weights.items())}
    assert len(torch.cat([w.abs().flatten() for w in weights.values()]).unique()) == sum(w.numel() for w in weights.values())
    holders = {k: holder(v) for k, v in weights.items()}
    torch_prune.global_unstructured([(h, "weight") for h in holders.values()], torch_prune.L1Unstructured, amount=sparsity)
    masks = P.global_masks(weights, sparsity)
    assert list(masks) == list(weights)
    for name, h in holders.items():
        assert torch.equal(masks[name], h.weight_mask.bool()), name


@pytest.mark.parametrize("sparsity", [0.2, 0.5, 0.85])
def test_global_masks_use_one_threshold_and_torchs_count_with_ties(sparsity):
    g = torch.Generator().manual_seed(5)
    weights = {"a": torch.randint(-4, 5, (9, 4), generator=g).float(), "b": torch.randint(-2, 3, (5, 7), generator=g).float() * 2}
    holders = {k: holder(v) for k, v in weights.items()}
    torch_prune.global_unstructured([(h, "weight") for h in holders.values()], torch_prune.L1Unstructured, amount=sparsity)
    masks = P.global_masks(weights, sparsity)
    total = sum(w.numel() for w in weights.values())
    assert sum(int((~m).sum()) for m in masks.values()) == sum(int((h.weight_mask == 0).sum()) for h in holders.values())
    assert sum(int((~m).sum()) for m in masks.values()) == round(sparsity * total)
    pruned = torch.cat([w.abs()[~masks[k]] for k, w in weights.items()])
    kept = torch.cat([w.abs()[masks[k]] for k, w in weights.items()])
    assert pruned.max() <= kept.min()
    # a tie at the threshold is broken by position: dict order, then flat index
    tie = float(pruned.max())
    order = torch.cat([(w.abs() == tie).flatten() & ~masks[k].flatten() for k, w in weights.items()])
    at_tie = torch.cat([(w.abs() == tie).flatten() for w in weights.values()])
    positions = at_tie.nonzero().flatten()
    assert order[positions].tolist() == sorted(order[positions].tolist(), reverse=True)


def test_global_masks_prune_layers_unevenly():
    weights = {"small": distinct(10, 10, seed=1) / 10, "large": distinct(10, 10, seed=2)}
    masks = P.global_masks(weights, 0.5)
    assert int((~masks["small"]).sum()) > int((~masks["large"]).sum())


def mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3))


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-2),
        lambda ps: torch.optim.Adam(ps, lr=1e-2, weight_decay=1e-2),
        lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
        lambda ps: torch.optim.SGD(ps, lr=0.1, nesterov=True, momentum=0.5),
    ],
    ids=["sgd-momentum-wd", "adam-wd", "adamw", "sgd-nesterov"],
)
def test_apply_masks_keeps_pruned_weights_exactly_zero_through_training(make):
    model = mlp()
    masks = P.global_masks({n: p for n, p in model.named_parameters() if n.endswith("weight")}, 0.7)
    before = copy.deepcopy(model)
    assert P.apply_masks(model, masks) is model
    for name, p in model.named_parameters():
        if name in masks:
            assert torch.equal(p.detach() == 0, ~masks[name] | (dict(before.named_parameters())[name].detach() == 0))
    opt = make(model.parameters())
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 6, generator=g), torch.randint(0, 3, (64,), generator=g)
    for _ in range(15):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        assert bool((params[name].detach()[~mask] == 0).all()), f"{name}: a pruned weight moved"
        assert not torch.equal(params[name].detach()[mask], dict(before.named_parameters())[name].detach()[mask])


def test_apply_masks_rejects_unknown_names_and_wrong_shapes():
    model = mlp()
    with pytest.raises(ValueError, match="not a parameter"):
        P.apply_masks(model, {"9.weight": torch.ones(3, 3, dtype=torch.bool)})
    with pytest.raises(ValueError, match="shape"):
        P.apply_masks(model, {"0.weight": torch.ones(6, 16, dtype=torch.bool)})


# ---------------------------------------------------------------- 4.2 structured pruning


@pytest.mark.parametrize("shape", [(16, 6), (12, 4, 3, 3)])
@pytest.mark.parametrize("norm", [1, 2])
@pytest.mark.parametrize("keep", [0.25, 0.5, 0.8, 1.0])
def test_kept_neurons_equal_ln_structured(shape, norm, keep):
    torch.manual_seed(shape[0] + norm)
    w = torch.randn(*shape)
    n_keep = max(1, round(keep * shape[0]))
    m = holder(w)
    torch_prune.ln_structured(m, "weight", amount=shape[0] - n_keep, n=norm, dim=0)
    kept = P.kept_neurons(w, keep, norm)
    assert kept.dtype == torch.int64 and kept.tolist() == sorted(kept.tolist())
    assert kept.tolist() == m.weight_mask.flatten(1).all(dim=1).nonzero().flatten().tolist()


def test_kept_neurons_keep_one_at_least_and_remove_the_lower_index_first_among_ties():
    w = torch.tensor([[1.0, 1.0], [2.0, 0.0], [0.5, 0.5], [3.0, 0.0]])  # L1 norms 2, 2, 1, 3
    assert P.kept_neurons(w, 0.5, 1).tolist() == [1, 3]
    assert P.kept_neurons(w, 0.01, 1).tolist() == [3]
    with pytest.raises(ValueError, match="keep"):
        P.kept_neurons(w, 0.0)
    with pytest.raises(ValueError, match="norm"):
        P.kept_neurons(w, 0.5, norm=3)


def masked_original(model: nn.Sequential, keep: float, norm: int) -> nn.Sequential:
    """The original network with every hidden layer's removed neurons zeroed (weights and bias)."""
    masked = copy.deepcopy(model)
    weighted = [m for m in masked if isinstance(m, (nn.Linear, nn.Conv2d))]
    with torch.no_grad():
        for layer in weighted[:-1]:
            gone = torch.ones(layer.weight.shape[0], dtype=torch.bool)
            gone[P.kept_neurons(layer.weight, keep, norm)] = False
            layer.weight[gone] = 0
            if layer.bias is not None:
                layer.bias[gone] = 0
    return masked


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("keep,norm", [(0.5, 1), (0.3, 2), (1.0, 1)])
def test_prune_neurons_shrinks_an_mlp_and_matches_the_masked_original(keep, norm):
    model = mlp(1)
    original = copy.deepcopy(model)
    small = P.prune_neurons(model, keep, norm)
    assert [p.shape for p in model.parameters()] == [p.shape for p in original.parameters()], "the original must not change"
    n1, n2 = max(1, round(keep * 16)), max(1, round(keep * 12))
    assert [tuple(m.weight.shape) for m in small if isinstance(m, nn.Linear)] == [(n1, 6), (n2, n1), (3, n2)]
    assert all(isinstance(m, nn.Linear) and m.in_features == m.weight.shape[1] for m in small if not isinstance(m, nn.ReLU))
    if keep < 1:
        assert count(small) < count(model)
    x = torch.randn(32, 6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(small(x), masked_original(model, keep, norm)(x), rtol=1e-5, atol=1e-6)


def test_prune_neurons_shrinks_a_cnn_through_flatten_and_pooling():
    torch.manual_seed(2)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 6, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(6 * 3 * 3, 10),
        nn.ReLU(),
        nn.Linear(10, 4),
    )
    small = P.prune_neurons(model, 0.5, 2)
    convs = [m for m in small if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 4), (4, 3)]
    assert [tuple(m.weight.shape) for m in small if isinstance(m, nn.Linear)] == [(5, 3 * 3 * 3), (4, 5)]
    assert count(small) < count(model) / 2
    x = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(small(x), masked_original(model, 0.5, 2)(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", [nn.BatchNorm1d(8), nn.Sigmoid()])
def test_prune_neurons_rejects_layers_it_cannot_cut_through(layer):
    model = nn.Sequential(nn.Linear(4, 8), layer, nn.Linear(8, 2))
    with pytest.raises(ValueError, match=f"layer 1 is a {type(layer).__name__}"):
        P.prune_neurons(model, 0.5)


# ---------------------------------------------------------------- 4.3 affine quantization


def observer(bits: int, symmetric: bool, axis: int | None):
    qmin, qmax = Q.qrange(bits, symmetric)
    dtype = torch.qint8 if symmetric else torch.quint8
    if axis is None:
        scheme = torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine
        return MinMaxObserver(dtype=dtype, qscheme=scheme, quant_min=qmin, quant_max=qmax)
    scheme = torch.per_channel_symmetric if symmetric else torch.per_channel_affine
    return PerChannelMinMaxObserver(ch_axis=axis, dtype=dtype, qscheme=scheme, quant_min=qmin, quant_max=qmax)


def torch_fake_quant(x, scale, zero_point, bits, symmetric, axis):
    qmin, qmax = Q.qrange(bits, symmetric)
    if axis is None:
        return torch.fake_quantize_per_tensor_affine(x, float(scale), int(zero_point), qmin, qmax)
    return torch.fake_quantize_per_channel_affine(x, scale, zero_point.to(torch.int32), axis, qmin, qmax)


def tensors() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    return {
        "gaussian": torch.randn(24, 17, generator=g),
        "shifted": torch.rand(24, 17, generator=g) * 5 + 1,  # all positive: the range is widened to 0
        "negative": -torch.rand(24, 17, generator=g) * 0.01,
        "outlier": torch.cat([torch.randn(24, 16, generator=g) * 0.1, torch.full((24, 1), 40.0)], dim=1),
        "zeros": torch.zeros(24, 17),
        "equal": torch.full((24, 17), 0.37),
        "equal_negative": torch.full((24, 17), -2.5),
        "zero_row": torch.cat([torch.zeros(1, 17), torch.randn(23, 17, generator=g)]),
        "one_element": torch.tensor([[0.81]]),
    }


def test_qrange_is_the_documented_range():
    assert [Q.qrange(b, False) for b in (2, 4, 8)] == [(0, 3), (0, 15), (0, 255)]
    assert [Q.qrange(b, True) for b in (2, 4, 8)] == [(-1, 1), (-7, 7), (-127, 127)]


def test_8_bit_asymmetric_matches_torchs_default_quint8_observers():
    x = tensors()["gaussian"]
    for axis, obs in [
        (None, MinMaxObserver()),
        (0, PerChannelMinMaxObserver(ch_axis=0, dtype=torch.quint8, qscheme=torch.per_channel_affine)),
    ]:
        obs(x)
        scale, zero_point = obs.calculate_qparams()
        ours = Q.qparams(x, 8, False, axis)
        assert torch.equal(ours[0].reshape(-1), scale) and torch.equal(ours[1].reshape(-1), zero_point.to(torch.int64))


def test_8_bit_symmetric_is_torchs_qint8_observer_on_the_restricted_range():
    x = tensors()["gaussian"]
    obs = MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric, quant_min=-127, quant_max=127)
    obs(x)
    torch.testing.assert_close(Q.qparams(x, 8, True)[0], x.abs().max() / 127, rtol=0, atol=0)
    assert torch.equal(Q.qparams(x, 8, True)[0].reshape(1), obs.calculate_qparams()[0])


@pytest.mark.parametrize("bad", [1, 9, 4.0, True, "8"])
def test_bits_outside_2_to_8_are_refused(bad):
    with pytest.raises(ValueError, match="bits must be an integer from 2 to 8"):
        Q.qparams(torch.randn(5), bad, False)


@pytest.mark.parametrize("name", list(tensors()))
@pytest.mark.parametrize("symmetric", [False, True], ids=["asymmetric", "symmetric"])
@pytest.mark.parametrize("axis", [None, 0, 1], ids=["per-tensor", "axis0", "axis1"])
def test_qparams_and_fake_quantized_values_equal_torch(name, symmetric, axis):
    x = tensors()[name]
    for bits in BITS:
        obs = observer(bits, symmetric, axis)
        obs(x)
        scale_ref, zero_ref = obs.calculate_qparams()
        scale, zero_point = Q.qparams(x, bits, symmetric, axis)
        assert scale.dtype == torch.float32 and zero_point.dtype == torch.int64
        assert scale.shape == (() if axis is None else (x.shape[axis],))
        assert bool(torch.isfinite(scale).all()) and bool((scale > 0).all())
        assert torch.equal(scale.reshape(-1), scale_ref), (bits, scale, scale_ref)
        assert torch.equal(zero_point.reshape(-1), zero_ref.to(torch.int64)), (bits, zero_point, zero_ref)
        q = Q.quantize(x, scale, zero_point, bits, symmetric, axis)
        qmin, qmax = Q.qrange(bits, symmetric)
        assert q.dtype == torch.int64 and q.shape == x.shape and int(q.min()) >= qmin and int(q.max()) <= qmax
        x_hat = Q.dequantize(q, scale, zero_point, axis)
        assert x_hat.dtype == torch.float32
        assert torch.equal(x_hat, torch_fake_quant(x, scale_ref, zero_ref, bits, symmetric, axis)), bits


def test_a_zero_dimensional_tensor_is_quantized_per_tensor():
    x = torch.tensor(-1.3)
    for symmetric in (False, True):
        scale, zero_point = Q.qparams(x, 8, symmetric)
        obs = observer(8, symmetric, None)
        obs(x)
        assert torch.equal(scale.reshape(1), obs.calculate_qparams()[0])
        assert Q.dequantize(Q.quantize(x, scale, zero_point, 8, symmetric), scale, zero_point).shape == ()


def test_rounding_is_half_to_even_as_torchs():
    x = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.49, 3.51])
    q = Q.quantize(x, torch.tensor(1.0), torch.tensor(0), 8, True)
    assert q.tolist() == [0, 2, 2, 0, -2, -2, 3, 4]
    assert torch.equal(Q.dequantize(q, 1.0, 0), torch.fake_quantize_per_tensor_affine(x, 1.0, 0, -127, 127))


@pytest.mark.parametrize("symmetric", [False, True], ids=["asymmetric", "symmetric"])
@pytest.mark.parametrize("axis", [None, 1], ids=["per-tensor", "per-channel"])
def test_round_trip_error_is_at_most_half_a_step_inside_the_range(symmetric, axis):
    g = torch.Generator().manual_seed(11)
    x = torch.randn(64, 9, generator=g) * torch.linspace(0.01, 10, 9)
    for bits in BITS:
        scale, zero_point = Q.qparams(x, bits, symmetric, axis)
        err = (x - Q.dequantize(Q.quantize(x, scale, zero_point, bits, symmetric, axis), scale, zero_point, axis)).abs()
        s = Q.along(scale, x, axis)
        assert bool((err <= s / 2 + 4 * F32_EPS * x.abs()).all()), bits
        assert float((err / s).max()) > 0.4  # the bound is tight, not a trivial one


def test_values_beyond_the_range_clamp_to_its_ends():
    scale, zero_point = torch.tensor(0.1), torch.tensor(3)
    q = Q.quantize(torch.tensor([-5.0, 0.0, 0.4, 50.0]), scale, zero_point, 4, False)
    assert q.tolist() == [0, 3, 7, 15]


def test_quantization_rejects_bad_axes_and_values():
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match="axis 2 is not a dimension"):
        Q.qparams(x, 8, True, 2)
    with pytest.raises(ValueError, match="non-finite"):
        Q.qparams(torch.tensor([1.0, float("inf")]), 8, True)
    with pytest.raises(ValueError, match="3 values each"):
        Q.quantize(x, torch.ones(4), torch.zeros(4), 8, True, axis=1)


# ---------------------------------------------------------------- 4.4 k-means weight sharing


def lloyd_step(w: np.ndarray, codebook: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One assignment and one update in float64, written as loops over the clusters."""
    idx = np.argmin(np.abs(w[:, None] - codebook[None, :]), axis=1)
    new = codebook.copy()
    for j in range(len(codebook)):
        if np.any(idx == j):
            new[j] = w[idx == j].mean()
    return idx, new


@pytest.mark.parametrize("bits", [1, 2, 3, 5])
def test_kmeans_share_starts_linear_and_follows_lloyd(bits):
    w = torch.randn(40, 30, generator=torch.Generator().manual_seed(bits))
    k = 2**bits
    codebook0, idx0 = Q.kmeans_share(w, bits, iters=0)
    torch.testing.assert_close(codebook0, torch.linspace(float(w.min()), float(w.max()), k), rtol=0, atol=0)
    assert idx0.dtype == torch.int64 and idx0.shape == w.shape
    expected_idx, expected_codebook = lloyd_step(w.double().flatten().numpy(), codebook0.double().numpy())
    assert (idx0.flatten().numpy() == expected_idx).mean() > 0.999
    codebook1, _ = Q.kmeans_share(w, bits, iters=1)
    np.testing.assert_allclose(codebook1.numpy(), expected_codebook, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bits", [2, 4, 6])
def test_kmeans_share_converges_to_a_lloyd_fixed_point(bits):
    w = torch.randn(3000, generator=torch.Generator().manual_seed(bits)) * 0.05
    codebook, idx = Q.kmeans_share(w, bits, iters=200)
    assert codebook.shape == (2**bits,) and codebook.dtype == torch.float32
    assert int(idx.min()) >= 0 and int(idx.max()) < 2**bits
    assert torch.equal(idx, (w[:, None] - codebook[None, :]).abs().argmin(dim=1))  # every weight at its nearest centroid
    for j in idx.unique():
        torch.testing.assert_close(codebook[j], w[idx == j].mean(), rtol=1e-5, atol=1e-7)


def test_kmeans_share_gets_closer_with_more_bits_and_iterations():
    w = torch.randn(2000, generator=torch.Generator().manual_seed(0))
    errs = [float(((c[i] - w) ** 2).mean()) for c, i in (Q.kmeans_share(w, b) for b in (1, 2, 3, 4))]
    assert errs == sorted(errs, reverse=True)
    errs = [float(((c[i] - w) ** 2).mean()) for c, i in (Q.kmeans_share(w, 3, iters=n) for n in (0, 1, 20))]
    assert errs[0] > errs[1] > errs[2]


def test_kmeans_share_keeps_an_empty_centroid_in_place():
    w = torch.tensor([0.0, 0.0, 0.1, 0.9, 1.0, 1.0])  # start 0, 1/3, 2/3, 1: the middle two get no weight
    codebook, idx = Q.kmeans_share(w, 2)
    torch.testing.assert_close(codebook, torch.tensor([0.1 / 3, 1 / 3, 2 / 3, 2.9 / 3]))
    assert idx.tolist() == [0, 0, 0, 3, 3, 3]


@pytest.mark.parametrize("w", [torch.full((3, 4), 0.25), torch.zeros(5), torch.tensor([-1.5])], ids=["equal", "zeros", "one"])
def test_kmeans_share_of_a_constant_tensor_is_exact(w):
    codebook, idx = Q.kmeans_share(w, 3)
    assert bool(torch.isfinite(codebook).all()) and torch.equal(codebook[idx], w)


def test_centroid_gradients_sum_each_cluster_as_autograd_does():
    w = torch.randn(20, 8, generator=torch.Generator().manual_seed(3))
    codebook, idx = Q.kmeans_share(w, 3)
    shared = codebook.clone().requires_grad_(True)
    x = torch.randn(5, 8, generator=torch.Generator().manual_seed(4))
    loss = (x @ shared[idx].T).pow(2).sum()
    loss.backward()
    weights = shared[idx].detach().requires_grad_(True)
    (x @ weights.T).pow(2).sum().backward()
    grads = Q.centroid_gradients(weights.grad, idx, 8)
    assert grads.shape == (8,)
    torch.testing.assert_close(grads, shared.grad, rtol=1e-5, atol=1e-5)
    assert Q.centroid_gradients(torch.ones(4), torch.tensor([0, 0, 2, 0]), 4).tolist() == [3.0, 0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="from 0 to 3"):
        Q.centroid_gradients(torch.ones(2), torch.tensor([0, 4]), 4)


# ---------------------------------------------------------------- 4.5 fake quantization, straight-through estimator


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("symmetric", [False, True], ids=["asymmetric", "symmetric"])
@pytest.mark.parametrize("axis", [None, 0], ids=["per-tensor", "per-channel"])
def test_ste_gradient_equals_torchs_fake_quantize_backward(bits, symmetric, axis):
    g = torch.Generator().manual_seed(bits)
    x = torch.randn(6, 50, generator=g) * 3
    # a range narrower than x, so some entries are clipped
    scale, zero_point = Q.qparams(x.clamp(-1.0, 1.5), bits, symmetric, axis)
    upstream = torch.randn(6, 50, generator=g)
    ours = x.clone().requires_grad_(True)
    y = Q.fake_quantize(ours, scale, zero_point, bits, symmetric, axis)
    (y * upstream).sum().backward()
    ref = x.clone().requires_grad_(True)
    qmin, qmax = Q.qrange(bits, symmetric)
    z = torch_fake_quant(ref, scale.reshape(-1) if axis is not None else scale, zero_point, bits, symmetric, axis)
    (z * upstream).sum().backward()
    assert torch.equal(y.detach(), z.detach())
    assert torch.equal(ours.grad, ref.grad)
    # the formula: the upstream gradient where qmin <= round(x / scale) + zero_point <= qmax, else 0
    s, zp = Q.along(scale, x, axis), Q.along(zero_point, x, axis)
    inside = ((torch.round(x * (1 / s)) + zp >= qmin) & (torch.round(x * (1 / s)) + zp <= qmax)).float()
    assert 0 < float(inside.mean()) < 1
    assert torch.equal(ours.grad, upstream * inside)


def test_fake_quant_module_clips_outside_a_fixed_range_and_passes_inside():
    fq = Q.FakeQuant(bits=4, fixed_range=(-1.0, 1.0))
    x = torch.tensor([-3.0, -0.9, 0.0, 0.33, 0.95, 2.0], requires_grad=True)
    y = fq(x)
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    scale, zero_point = Q.qparams(torch.tensor([-1.0, 1.0]), 4, False)
    assert torch.equal(y.detach(), torch.fake_quantize_per_tensor_affine(x.detach(), float(scale), int(zero_point), 0, 15))


def test_fake_quant_module_with_the_inputs_own_range_passes_every_gradient():
    x = torch.randn(8, 5, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    for fq in (Q.FakeQuant(8), Q.FakeQuant(3, symmetric=True, per_channel_axis=1)):
        x.grad = None
        fq(x).sum().backward()
        assert torch.equal(x.grad, torch.ones_like(x))
    with pytest.raises(ValueError, match="per tensor"):
        Q.FakeQuant(4, per_channel_axis=0, fixed_range=(0.0, 1.0))


def test_quant_linear_uses_fake_quantized_weights_and_trains_at_4_bits():
    torch.manual_seed(0)
    plain = nn.Linear(10, 4)
    layer = Q.QuantLinear.from_linear(plain, bits=4)
    assert isinstance(layer, nn.Linear) and torch.equal(layer.weight, plain.weight)
    x = torch.randn(32, 10)
    obs = observer(4, True, 0)
    obs(plain.weight.detach())
    scale, zero_point = obs.calculate_qparams()
    w_hat = torch.fake_quantize_per_channel_affine(plain.weight.detach(), scale, zero_point.to(torch.int32), 0, -7, 7)
    assert len(w_hat.unique()) <= 4 * 15
    assert torch.equal(layer(x), F.linear(x, w_hat, plain.bias))
    # the straight-through estimator: the weight's gradient is the float layer's gradient at the quantized weights
    layer(x).pow(2).sum().backward()
    w = w_hat.clone().requires_grad_(True)
    F.linear(x, w, plain.bias).pow(2).sum().backward()
    torch.testing.assert_close(layer.weight.grad, w.grad, rtol=1e-5, atol=1e-6)
    # fine-tuning at 4 bits lowers the loss
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(256, 10, generator=g), torch.randint(0, 4, (256,), generator=g)
    net = nn.Sequential(Q.QuantLinear(10, 32, bits=4), nn.ReLU(), Q.QuantLinear(32, 4, bits=4))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


# ---------------------------------------------------------------- 4.6 distillation


def written_out(student, teacher, labels, T, alpha):
    kl = F.kl_div(F.log_softmax(student / T, dim=1), F.softmax(teacher / T, dim=1), reduction="batchmean")
    return alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(student, labels)


def logits(seed: int, n: int = 16, c: int = 10, spread: float = 3.0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, c, generator=g) * spread,
        torch.randn(n, c, generator=g) * spread,
        torch.randint(0, c, (n,), generator=g),
    )


@pytest.mark.parametrize("T", [1.0, 2.0, 4.0, 20.0])
@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.9, 1.0])
def test_distillation_loss_equals_kl_div_and_cross_entropy_written_out(T, alpha):
    student, teacher, labels = logits(int(T * 10 + alpha * 10))
    s1, s2 = student.clone().requires_grad_(True), student.clone().requires_grad_(True)
    loss, ref = D.distillation_loss(s1, teacher, labels, T, alpha), written_out(s2, teacher, labels, T, alpha)
    assert loss.shape == ()
    torch.testing.assert_close(loss, ref, rtol=1e-5, atol=1e-6)
    loss.backward()
    ref.backward()
    torch.testing.assert_close(s1.grad, s2.grad, rtol=1e-4, atol=1e-6)


def test_distillation_loss_limits():
    student, teacher, labels = logits(0)
    assert torch.equal(D.distillation_loss(student, teacher, labels, 3.0, 0.0), F.cross_entropy(student, labels))
    kl = F.kl_div(F.log_softmax(student, dim=1), F.softmax(teacher, dim=1), reduction="batchmean")
    torch.testing.assert_close(D.distillation_loss(student, teacher, labels, 1.0, 1.0), kl)
    assert abs(float(D.distillation_loss(teacher, teacher, labels, 5.0, 1.0))) < 1e-6  # a student equal to its teacher


def test_the_t_squared_factor_keeps_the_gradient_the_same_size_for_large_t():
    student, teacher, labels = logits(1, spread=1.0)
    norms = []
    for T in (10.0, 20.0, 40.0):
        s = student.clone().requires_grad_(True)
        D.distillation_loss(s, teacher, labels, T, 1.0).backward()
        norms.append(float(s.grad.norm()))
    assert max(norms) / min(norms) < 1.1, norms  # without T^2 they would fall 16-fold from T = 10 to 40


def test_no_gradient_reaches_the_teacher():
    student, teacher, labels = logits(2)
    teacher.requires_grad_(True)
    s = student.clone().requires_grad_(True)
    D.distillation_loss(s, teacher, labels, 4.0, 0.5).backward()
    assert teacher.grad is None and s.grad is not None


@pytest.mark.parametrize(
    "change,says",
    [({"T": 0.0}, "T must be"), ({"alpha": 1.5}, "alpha must be"), ({"labels": torch.zeros(3, dtype=torch.long)}, "labels must")],
)
def test_distillation_loss_rejects_bad_arguments(change, says):
    student, teacher, labels = logits(3)
    args = {"student_logits": student, "teacher_logits": teacher, "labels": labels, "T": 2.0, "alpha": 0.5} | change
    with pytest.raises(ValueError, match=says):
        D.distillation_loss(**args)
