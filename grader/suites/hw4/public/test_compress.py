"""Public tests for hw4 task 4.7 (compress.py): the honest size of a compressed layer, and Deep
Compression of LeNet-300-100 on the digits.

Huffman code lengths are judged by their properties (a code for exactly the symbols of positive
count, Kraft sum 1, and the optimal total Σ count·length stored by `course snapshot hw4`), so any
optimal code passes; `gaps` by the positions it gives back; `huffman_bits` and every field of
`layer_size` exactly, against the handout's example and the reference's outputs on the fixed cases
of `grader.suites.hw4.size_cases` (each position format wins in one of them), with the three
formats' costs from the snapshot to name a wrong choice.

The experiment (`compressed()` in conftest.py) trains LeNet-300-100 here, runs the student's
deep_compress on it in the worker and judges what comes back here: each weight matrix must hold at
most 16 shared values, be pruned globally to 92%, the network must be at least 20× smaller than its
float32 original by `experiment.bound_bits` (a bitmask, a fixed-width index per kept weight and the
codebook: an upper bound of the honest count), and lose at most 1 point of accuracy on the
validation digits, both networks scored here."""

from __future__ import annotations

import math

import pytest
import torch

from grader.assertions import integer, mapping, short, tensor
from grader.suites.hw4 import experiment
from grader.suites.hw4.size_cases import COUNT_TABLES, LENGTH_BITS, huffman_streams, layer_cases
from grader.worker.drivers.hw4 import build

FORMATS = ("bitmask", "gaps", "huffman gaps")  # the handout's order: on a tie, the earlier
EXPERIMENT_USES = ("deep_compress", "global_masks", "apply_masks", "kmeans_share", "centroid_gradients")

# -- Huffman code lengths ----------------------------------------------------------------------------


def checked_lengths(value, counts: dict[int, int], what: str) -> dict[int, int]:
    """huffman_lengths' answer: a dict with one integer length >= 1 for each symbol of positive
    count, and nothing for the others."""
    if not isinstance(value, dict):
        kind = getattr(value, "_type", type(value).__name__)  # a Counter or defaultdict stays in the worker
        raise AssertionError(f"{what}: expected a dict of code lengths, got {kind} {short(value)}; return a plain dict")
    lengths = mapping(value, what)
    coded = {s for s, c in counts.items() if c > 0}
    longest = max(1, len(coded) - 1)  # no optimal code on n symbols has a code word longer than n - 1
    for s in lengths:
        if s not in counts:
            raise AssertionError(f"{what}: a length for {short(s)}, which is not a symbol of the counts")
        if s not in coded:
            raise AssertionError(f"{what}: symbol {s} has count 0 and gets no code, but it has length {short(lengths[s])}")
    if missing := sorted(coded - set(lengths)):
        raise AssertionError(f"{what}: no length for symbol {missing[0]} (count {counts[missing[0]]})")
    for s, n in lengths.items():
        n = integer(n, f"{what}: the length of symbol {s}")
        if n < 1:
            raise AssertionError(
                f"{what}: symbol {s} has length {n}; every code word has at least 1 bit (a single symbol gets 1)"
            )
        if n > longest:
            raise AssertionError(
                f"{what}: symbol {s} has length {n}; no optimal code on {len(coded)} symbols needs more than {longest} bits"
            )
    return {s: int(n) for s, n in lengths.items()}


def kraft_leaves(lengths: dict[int, int]) -> tuple[int, int]:
    """The Kraft sum Σ 2^-l as a fraction leaves / 2^deepest, in whole numbers."""
    deepest = max(lengths.values())
    return sum(1 << (deepest - n) for n in lengths.values()), 1 << deepest


def assert_optimal(lengths: dict[int, int], counts: dict[int, int], best: int, what: str) -> None:
    """Kraft sum exactly 1 (an optimal code on two or more symbols is complete) and the optimal total."""
    total = sum(c * lengths[s] for s, c in counts.items() if c > 0)
    if len(lengths) > 1:
        leaves, whole = kraft_leaves(lengths)
        if leaves > whole:
            raise AssertionError(f"{what}: Kraft sum {leaves / whole:.6g} > 1, so no prefix code has the lengths {lengths}")
        if leaves < whole and total != best:
            raise AssertionError(
                f"{what}: Kraft sum {leaves / whole:.6g} < 1: some code word is longer than it needs to be; Σ count·length = "
                f"{total}, the optimum is {best}"
            )
    if total != best:
        same = len(set(lengths.values())) == 1 and len(lengths) > 2
        raise AssertionError(
            f"{what}: Σ count·length = {total} bits, but the optimum is {best}; "
            + (
                "every symbol got the same length: that is a fixed-length code, not Huffman's"
                if same
                else "merge the two least frequent subtrees into one whose count is their sum, until one is left (Huffman)"
            )
        )


@pytest.mark.task("4.7")
def test_huffman_lengths_are_optimal(submission, comp, snapshot):
    """Are huffman_lengths optimal on seven count tables: Kraft sum 1 and the least Σ count·length (any optimal code)?"""
    names = list(COUNT_TABLES)
    outs = submission.batch([submission.pending_call(comp, "huffman_lengths", COUNT_TABLES[n]) for n in names])
    for name, out in zip(names, outs):
        counts = COUNT_TABLES[name]
        what = f"huffman_lengths({short(counts, 60)})"
        lengths = checked_lengths(out, counts, what)
        assert_optimal(lengths, counts, snapshot["compress"]["optimal_cost"][name], what)


@pytest.mark.task("4.7")
def test_huffman_lengths_single_symbol_and_zero_counts(submission, comp):
    """Does a single symbol get length 1, and does a symbol of count 0 get no code?"""
    cases = [({7: 12}, {7: 1}), ({4: 0, 7: 12}, {7: 1}), ({0: 3, 1: 0, 2: 3}, {0: 1, 2: 1})]
    outs = submission.batch([submission.pending_call(comp, "huffman_lengths", counts) for counts, _ in cases])
    for (counts, want), out in zip(cases, outs):
        what = f"huffman_lengths({counts})"
        got = checked_lengths(out, counts, what)
        if got != want:
            raise AssertionError(
                f"{what}: got {got}, expected {want}"
                + ("; a single symbol gets length 1, so that every stored symbol costs a bit" if len(want) == 1 else "")
            )


# -- Huffman bits ------------------------------------------------------------------------------------


def bits_hint(got: int, want: int, symbols: torch.Tensor, symbol_bits: int) -> str:
    """What a wrong huffman_bits looks like it left out or added."""
    n, distinct = symbols.numel(), len(set(symbols.flatten().tolist()))
    if n == 0:
        return "an empty stream costs 0 bits"
    payload = want - distinct * (symbol_bits + LENGTH_BITS)
    if distinct == 1 and got == symbol_bits + LENGTH_BITS:
        return "a single symbol has a code word of length 1: each of its occurrences costs a bit"
    if got == payload:
        return f"the code table is not counted: each of the {distinct} distinct symbols adds symbol_bits + {LENGTH_BITS} bits"
    if got == payload + distinct * symbol_bits:
        return f"the table stores each symbol's code length too, in LENGTH_BITS = {LENGTH_BITS} bits"
    if got == payload + distinct * LENGTH_BITS:
        return f"the table stores each symbol in symbol_bits = {symbol_bits} bits, besides its length"
    fixed = n * max(1, math.ceil(math.log2(distinct)))
    if got in (fixed, fixed + distinct * (symbol_bits + LENGTH_BITS)):
        return "that is a fixed-length code for the symbols: the payload is Σ count · Huffman length"
    if got > want:
        return "the payload Σ count·length is above the optimum: the lengths are not Huffman's"
    return "payload Σ count·length with huffman_lengths, plus distinct symbols · (symbol_bits + 8)"


@pytest.mark.task("4.7")
def test_huffman_bits_exact(submission, comp, snapshot):
    """Is huffman_bits the payload Σ count·length plus the code table (symbol_bits + 8 bits per distinct symbol), 0 for an empty stream?"""
    streams = huffman_streams()
    names = list(streams)
    outs = submission.batch([submission.pending_call(comp, "huffman_bits", *streams[n]) for n in names])
    for name, out in zip(names, outs):
        symbols, sb = streams[name]
        what = f"huffman_bits(the {name.replace('_', ' ')} stream: {symbols.numel()} symbols, shape {tuple(symbols.shape)}, symbol_bits={sb})"
        got = integer(out, what)
        want = snapshot["compress"]["huffman_bits"][name]
        if got != want:
            raise AssertionError(f"{what}: got {got}, expected {want}; {bits_hint(got, want, symbols, sb)}")


# -- gaps --------------------------------------------------------------------------------------------


def gap_masks() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(47)
    first = torch.zeros(3, 5, dtype=torch.bool)
    first[0, 0] = first[2, 4] = True
    last = torch.zeros(40, dtype=torch.bool)
    last[-1] = True
    return {
        "a random (12, 20) mask, 15% kept": torch.rand(12, 20, generator=g) < 0.15,
        "a random (6, 3, 3, 3) conv mask, 40% kept": torch.rand(6, 3, 3, 3, generator=g) < 0.4,
        "a (3, 5) mask keeping its first and last entries": first,
        "a (40,) mask keeping its last entry": last,
        "a (4, 4) mask keeping everything": torch.ones(4, 4, dtype=torch.bool),
        "a (1,) mask keeping its entry": torch.ones(1, dtype=torch.bool),
        "a (5, 5) mask keeping nothing": torch.zeros(5, 5, dtype=torch.bool),
    }


def assert_gaps(got, mask: torch.Tensor, what: str) -> None:
    """`got` is an int64 tensor of one gap per kept weight whose running sum, minus 1, is each kept
    position (row-major): the definition of the gaps, the first minus -1."""
    positions = torch.nonzero(mask.flatten()).flatten()
    kept = positions.numel()
    g = tensor(got, what)
    if g.dim() != 1 or g.numel() != kept:
        hint = "; the first kept position has a gap too, the first minus −1" if g.numel() == kept - 1 else ""
        raise AssertionError(
            f"{what}: expected {kept} gaps (shape ({kept},)), one per kept weight, got shape {tuple(g.shape)}{hint}"
        )
    tensor(g, what, (kept,), "int64")
    if kept == 0:
        return
    if torch.equal(g, positions) and not torch.equal(g.cumsum(0) - 1, positions):
        raise AssertionError(f"{what}: got the kept positions {short(g.tolist())}, not the gaps between them")
    rebuilt = g.cumsum(0) - 1
    if not torch.equal(rebuilt, positions):
        if g[0] == positions[0] and torch.equal(rebuilt[1:] + 1, positions[1:]):
            raise AssertionError(
                f"{what}: the first gap is {int(g[0])}, the first kept position itself; it is the first minus −1, that is "
                f"{int(positions[0]) + 1}, so that every gap is at least 1 (off by one)"
            )
        i = int((rebuilt != positions).nonzero()[0])
        raise AssertionError(
            f"{what}: the gaps {short(g.tolist())} put kept weight {i} at position {int(rebuilt[i])}, but it is at "
            f"{int(positions[i])}: each gap is a kept position minus the previous one (row-major), the first minus −1"
        )


@pytest.mark.task("4.7")
def test_gaps_of_the_handout_example(comp):
    """For a 4×8 mask keeping positions 0, 11 and 31, are the gaps [1, 11, 20]?"""
    mask = torch.zeros(4, 8, dtype=torch.bool)
    mask.view(-1)[[0, 11, 31]] = True
    what = "gaps(4×8 mask keeping positions 0, 11, 31)"
    got = comp.gaps(mask)
    assert_gaps(got, mask, what)
    assert got.tolist() == [1, 11, 20], f"{what}: got {got.tolist()}, expected [1, 11, 20]"


@pytest.mark.task("4.7")
def test_gaps_give_back_the_positions(submission, comp):
    """Are the gaps, summed up, every kept position + 1 in row-major order, one int64 gap per kept weight, on 2-D, 4-D, full and empty masks?"""
    masks = gap_masks()
    outs = submission.batch([submission.pending_call(comp, "gaps", m) for m in masks.values()])
    for (name, mask), out in zip(masks.items(), outs):
        assert_gaps(out, mask, f"gaps({name})")


# -- layer_size ---------------------------------------------------------------------------------------


def checked_size(out, what: str) -> dict:
    """The driver's account of a LayerSize: integer parts, a known format, total their sum."""
    out = mapping(out, what)
    if out.get("type") != "LayerSize":
        raise AssertionError(f"{what}: expected the given LayerSize, got {out.get('type')}")
    size = {}
    for field in ("positions", "values", "codebook", "total"):
        value = out.get(field)
        if type(value) is torch.Tensor:
            raise AssertionError(f"{what}: {field} is a tensor ({short(value)}); bit counts are Python ints (int(...))")
        size[field] = integer(value, f"{what}: {field}")
    if out.get("format") not in FORMATS:
        raise AssertionError(f"{what}: format is {short(out.get('format'))}, expected one of {', '.join(map(repr, FORMATS))}")
    size["format"] = out["format"]
    return size


def positions_hint(got: dict, ref: dict, kept: int) -> str:
    """Why the positions' bits or format differ from the reference's, in terms of the three formats."""
    options, width = ref["options"], ref["width"]
    best = ref["format"]
    p = got["positions"]
    if p == 0 and ref["positions"] > 0:
        return "the positions are left out: a decoder needs to know where the kept weights are, at least a bitmask's worth"
    if p == options["bitmask"] and best != "bitmask" and options["bitmask"] != ref["positions"]:
        return f"that is the bitmask, but {best} cost {ref['positions']} bits: the positions are the smallest of the three"
    if p == kept * width and kept:
        return f"fixed-width gaps cost kept · w + 8: the 8 bits that store the width w = {width} are missing"
    if width > 1 and p == kept * (width - 1) + LENGTH_BITS:
        return (
            f"w = ⌈log₂(largest gap + 1)⌉ = {width}: the largest gap, {ref['largest gap']}, needs {width} bits, not {width - 1}"
        )
    for name in FORMATS:
        if p == options[name] and name != best and options[name] != ref["positions"]:
            return f"that is the cost of {name}, but {best} cost {ref['positions']} bits: the positions are the smallest of the three"
    if p == ref["positions"] and got["format"] != best:
        return f"{best} costs the same and comes first in the handout's list: on a tie, the earlier format"
    return (
        f"the three formats cost {options['bitmask']} (bitmask), {options['gaps']} (gaps at {width} bits + 8) and "
        f"{options['huffman gaps']} (Huffman-coded gaps with their table)"
    )


def values_hint(got: int, ref: dict) -> str:
    fixed, huff = ref["fixed values"], ref["huffman values"]
    if got == 0 and ref["values"]:
        return "the indices are not counted: every kept weight stores its codebook index"
    if got in (fixed, huff):
        return f"kept · bits = {fixed} and the Huffman-coded indices {huff}: the values are the smaller of the two"
    return f"the values are the smaller of kept · bits = {fixed} and the Huffman-coded indices with their table, {huff}"


def assert_layer_size(got: dict, ref: dict, mask: torch.Tensor, bits: int, entries: int | None, what: str) -> None:
    kept = int(mask.sum())
    head = f"{what} (mask {tuple(mask.shape)} keeping {kept}, {bits} bits" + (
        f", codebook_entries={entries})" if entries else ")"
    )
    if got["positions"] != ref["positions"] or got["format"] != ref["format"]:
        raise AssertionError(
            f"{head}: positions {got['positions']} bits as {got['format']!r}, expected {ref['positions']} as "
            f"{ref['format']!r}; {positions_hint(got, ref, kept)}"
        )
    if got["values"] != ref["values"]:
        raise AssertionError(f"{head}: values {got['values']} bits, expected {ref['values']}; {values_hint(got['values'], ref)}")
    if got["codebook"] != ref["codebook"]:
        n = entries if entries is not None else 2**bits
        hint = (
            f"with codebook_entries={entries}, the codebook holds {entries} numbers, not 2^bits"
            if entries is not None and got["codebook"] == 32 * 2**bits
            else f"{n} entries of 32 bits (float32)"
        )
        raise AssertionError(f"{head}: codebook {got['codebook']} bits, expected {ref['codebook']}: {hint}")
    if got["total"] != got["positions"] + got["values"] + got["codebook"]:
        raise AssertionError(f"{head}: total {got['total']} is not positions + values + codebook")


@pytest.mark.task("4.7")
def test_layer_size_of_the_handout_example(submission):
    """Does the handout's example (4×8 mask keeping 0, 11, 31; indices [0, 1, 1] at 2 bits) cost 23 (gaps) + 6 + 128 = 157 bits?"""
    mask, indices, bits, entries, _ = layer_cases()["handout_example"]
    what = "layer_size(the handout's example)"
    got = checked_size(submission.driver("layer_size", mask, indices, bits, entries), what)
    ref = {
        "positions": 23,
        "format": "gaps",
        "values": 6,
        "codebook": 128,
        "options": {"bitmask": 32, "gaps": 23, "huffman gaps": 47},
        "width": 5,
        "largest gap": 20,
        "fixed values": 6,
        "huffman values": 23,
    }
    assert_layer_size(got, ref, mask, bits, entries, what)
    assert got["total"] == 157, f"{what}: total {got['total']}, expected 157"


@pytest.mark.task("4.7")
def test_layer_size_exact(submission, snapshot):
    """Are layer_size's positions, format, values and codebook exact where each format wins, on a tie, with Huffman-coded values, codebook_entries=2, a conv weight, full and empty masks?"""
    cases = layer_cases()
    names = [n for n in cases if n != "handout_example"]
    outs = submission.batch([submission.pending_driver("layer_size", *cases[n][:4]) for n in names])
    for name, out in zip(names, outs):
        mask, _, bits, entries, about = cases[name]
        what = f"layer_size({about})"
        assert_layer_size(checked_size(out, what), snapshot["compress"]["layer_size"][name], mask, bits, entries, what)


# -- the experiment -----------------------------------------------------------------------------------


def weight_names(state: dict) -> list[str]:
    return [k for k in state if k.endswith("weight")]


@pytest.mark.task("4.7", weight=2)
@pytest.mark.seeded
@pytest.mark.uses(*EXPERIMENT_USES)
def test_deep_compress_prunes_and_shares(compressed, mnist):
    """After deep_compress, does each weight matrix hold at most 16 shared values, pruned globally to 92%?"""
    original, state, _ = compressed()
    sparsity = {}
    for name in weight_names(state):
        mask, _ = experiment.shared(state[name], name)
        sparsity[name] = 1 - float(mask.float().mean())
    zeros = sum(int((state[n] == 0).sum()) for n in sparsity)
    total = sum(state[n].numel() for n in sparsity)
    shown = ", ".join(f"{n} {100 * s:.1f}%" for n, s in sparsity.items())
    if zeros < 0.915 * total:
        raise AssertionError(
            f"after deep_compress {100 * zeros / total:.1f}% of the weights are 0 ({shown}); it prunes 92% of them with "
            "global_masks and keeps them 0 through both fine-tunings (apply_masks; the pruned weights rebuilt as 0)"
        )
    first, last = sparsity[weight_names(state)[0]], sparsity[weight_names(state)[-1]]
    if first < last + 0.1:
        raise AssertionError(
            f"the matrices are pruned to {shown}: global_masks ranks the three together, which leaves the first layer "
            "at about 93% and the last at about half; this looks pruned layer by layer"
        )
    assert_bar(original, state, mnist)


@pytest.mark.task("4.7", weight=2)
@pytest.mark.seeded
@pytest.mark.uses(*EXPERIMENT_USES)
def test_deep_compress_is_20x_smaller(compressed, mnist):
    """Is the compressed LeNet-300-100 at least 20× smaller than its float32 original (counted here, a bitmask and fixed-width indices: an upper bound)?"""
    original, state, _ = compressed()
    bound = experiment.bound_bits(state)
    ratio = experiment.PARAMETERS * 32 / bound
    if ratio < experiment.RATIO:
        raise AssertionError(
            f"the compressed network takes at most {bound:,} bits (per matrix a bitmask, ⌈log₂ k⌉ bits per kept weight for "
            f"its k values, k float32 values; biases 32 bits each): {ratio:.1f}× smaller than the float32 network's "
            f"{experiment.PARAMETERS * 32:,} bits, at least {experiment.RATIO:g}× is required"
        )
    assert_bar(original, state, mnist)


def assert_bar(original: dict, state: dict, mnist) -> None:
    """The experiment's whole bar on the validation digits (`experiment.assert_bar`)."""
    x, labels, split = mnist
    experiment.assert_bar(original, state, x[split == 1], labels[split == 1])


def accuracies(original: dict, state: dict, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """The float32 network's and the compressed network's accuracy on (x, y), both scored here."""
    return experiment.accuracy(build(experiment.SPEC, original), x, y), experiment.accuracy(build(experiment.SPEC, state), x, y)


def assert_accuracy_kept(original: dict, state: dict, x: torch.Tensor, y: torch.Tensor, split: str) -> None:
    before, after = accuracies(original, state, x, y)
    if after < before - experiment.POINTS - 1e-9:
        raise AssertionError(
            f"on the {len(y):,} {split} digits the compressed network scores {100 * after:.1f}%, "
            f"{100 * (before - after):.1f} points below the float32 network's {100 * before:.1f}% (at most "
            f"{100 * experiment.POINTS:g} point allowed); pruning 92% costs about 10 points until the masked fine-tuning "
            "(epochs[0] epochs of train at lr 5e-4, masks kept) recovers it, and 4-bit k-means sharing costs little"
        )


@pytest.mark.task("4.7", weight=2)
@pytest.mark.seeded
@pytest.mark.uses(*EXPERIMENT_USES)
def test_deep_compress_keeps_validation_accuracy(compressed, mnist):
    """Does the compressed network score within 1 point of its float32 original on the 1,000 validation digits?"""
    original, state, _ = compressed()
    x, labels, split = mnist
    assert_accuracy_kept(original, state, x[split == 1], labels[split == 1], "validation")
    assert_bar(original, state, mnist)
