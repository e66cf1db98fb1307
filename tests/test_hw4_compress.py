"""hw4's reference, task 4.7: the honest size count on layers small enough to count by hand, and
Deep Compression of LeNet-300-100 on the 28x28 digits reaching issue 14's bar (at least 20x
smaller by the honest count, within 1 point of the float32 network's accuracy) on the validation
split, in seconds. The graders of hw4 come later; this holds the reference to what its handout
will state."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from grader.paths import module_from_file
from tests.conftest import ROOT

HW4 = ROOT / "solutions" / "hw4"


@pytest.fixture(scope="module")
def hw4():
    """The reference modules, importable by their names as in a submission."""
    sys.path.insert(0, str(HW4))
    try:
        yield {name: module_from_file(name, HW4 / f"{name}.py") for name in ("prune", "quantize", "compress")}
    finally:
        sys.path.remove(str(HW4))
        for name in ("prune", "quantize", "compress"):
            sys.modules.pop(name, None)


def test_huffman_lengths_are_optimal_and_a_lone_symbol_costs_one_bit(hw4):
    c = hw4["compress"]
    assert c.huffman_lengths({7: 5, 8: 1, 9: 1}) == {7: 1, 8: 2, 9: 2}
    assert c.huffman_lengths({3: 10}) == {3: 1}
    lengths = c.huffman_lengths({s: n for s, n in enumerate([1, 1, 2, 4, 8, 16])})
    assert sorted(lengths.values()) == [1, 2, 3, 4, 5, 5] and sum(2.0 ** -v for v in lengths.values()) == 1.0


def test_a_layers_size_counts_positions_values_and_codebook(hw4):
    c = hw4["compress"]
    mask = torch.zeros(4, 8, dtype=torch.bool)
    mask[0, 0] = mask[1, 3] = mask[3, 7] = True  # positions 0, 11, 31: gaps 1, 11, 20
    assert c.gaps(mask).tolist() == [1, 11, 20]
    size = c.layer_size(mask, torch.tensor([0, 1, 1]), bits=2)
    # gaps at 5 bits each plus 8 for the width (23) beat the 32-bit mask and the Huffman-coded gaps
    # (payload 1 + 2 + 2, table 3 x (6 + 8)); values: 3 x 2 = 6 beats Huffman (3 + 2 x (2 + 8))
    assert (size.positions, size.format, size.values, size.codebook, size.total) == (23, "gaps", 6, 4 * 32, 157)
    dense = torch.ones(4, 8, dtype=torch.bool)  # nothing pruned: the mask is cheapest, values Huffman-coded
    size = c.layer_size(dense, torch.zeros(32, dtype=torch.int64), bits=4)
    assert (size.positions, size.format, size.values) == (32, "bitmask", 32 + 4 + 8)
    with pytest.raises(ValueError):
        c.layer_size(mask, torch.tensor([0, 1]), bits=2)


def test_deep_compression_of_lenet_300_100_is_20x_smaller_within_a_point(hw4):
    from grader.data import mnist_features

    c = hw4["compress"]
    x, y, split = (torch.from_numpy(a) for a in mnist_features())
    torch.set_num_threads(2)
    model = c.train(c.mlp(0), x[split == 0], y[split == 0], epochs=15, lr=1e-3)
    before = c.accuracy(model, x[split == 1], y[split == 1])
    size = c.deep_compress(model, x[split == 0], y[split == 0], sparsity=0.92, bits=4)
    after = c.accuracy(model, x[split == 1], y[split == 1])
    parameters = sum(p.numel() for p in model.parameters())
    zeros = sum(int((p == 0).sum()) for n, p in model.named_parameters() if n.endswith("weight"))
    assert zeros >= 0.92 * sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight")) - 1
    assert size.ratio(parameters) >= 20, f"{size.ratio(parameters):.1f}x"
    assert after >= before - 0.01, f"validation accuracy {before:.3f} -> {after:.3f}"
