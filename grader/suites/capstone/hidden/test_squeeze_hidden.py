"""Hidden tests for task 6.4 (squeeze.py): global pruning with ties, long runs and bad events, files
of other mixes of densities and levels (nothing kept, everything kept, 16 levels, a kept weight in
the last entry) written by pack and read by unpack, a file whose table has a frequency of 0, and
k-means on the kept weights of a trained matrix (the reference's cpu model)."""

from __future__ import annotations

import pytest
import torch

from grader.assertions import raises
from grader.paths import course_root
from grader.suites.capstone import model as M
from grader.suites.capstone import squeeze_checks as C
from grader.suites.capstone.hidden import squeeze_reference as R

REFERENCE_CHECKPOINT = course_root() / "solutions" / "capstone" / "model.pt"  # the reference's float32 cpu model


def tie_cases() -> list[tuple[dict[str, torch.Tensor], float, str]]:
    """The count's boundary inside a group of equal |w|: exact zeros (weights pruned before) and
    opposite values; any tie-break is right, the count must be exact."""
    g = torch.Generator().manual_seed(700)
    a = torch.randn(10, 10, generator=g)
    a.view(-1)[:40] = 0.0
    b = torch.randn(6, 5, generator=g)
    b.view(-1)[:12] = 0.0
    c = torch.tensor([[0.5, -0.5, 0.5, -0.5], [0.25, -0.25, 1.0, -1.0]])
    return [
        ({"a": a, "b": b}, 0.3, "52 exact zeros among 130 entries, sparsity 0.3 (39 pruned: zeros only)"),
        ({"a": a, "b": b}, 0.5, "52 exact zeros among 130 entries, sparsity 0.5 (65 pruned)"),
        ({"c": c, "a": a}, 0.45, "entries of equal magnitude and opposite signs, sparsity 0.45"),
        (
            {"one": torch.tensor([[3.0]]), "row": torch.randn(1, 9, generator=g)},
            0.62,
            "a (1, 1) and a (1, 9) tensor, sparsity 0.62",
        ),
    ]


@pytest.mark.task("6.4")
def test_global_masks_with_ties_and_zeros(submission, squeeze):
    """Is the count exact when the boundary falls among equal |w| (earlier zeros, opposite signs), any tie-break accepted?"""
    cases = tie_cases()
    outs = submission.batch([submission.pending_call(squeeze, "global_masks", w, s) for w, s, _ in cases])
    for (w, s, about), out in zip(cases, outs):
        C.check_masks(out, w, s, f"global_masks({about})")


@pytest.mark.task("6.4")
def test_events_on_long_random_matrices(submission, squeeze):
    """Do to_events and from_events agree with the handout on long random matrices with runs of every length?"""
    g = torch.Generator().manual_seed(710)
    cases = []
    for n, density, k in ((3000, 0.04, 8), (2000, 0.3, 3), (1500, 0.7, 16), (999, 0.01, 1)):
        kept = torch.rand(n, generator=g) < density
        cases.append((torch.where(kept, torch.randint(k, (n,), generator=g), torch.tensor(-1)).tolist(), k))
    pending = [submission.pending_call(squeeze, "to_events", torch.tensor(c), k) for c, k in cases]
    pending += [submission.pending_call(squeeze, "from_events", R.reference_events(c, k), len(c), k) for c, k in cases]
    outs = submission.batch(pending)
    for i, (codes, k) in enumerate(cases):
        what = f"random matrix {i + 1} ({len(codes)} entries, {sum(c >= 0 for c in codes)} kept, k = {k})"
        events = outs[i].tolist() if isinstance(outs[i], torch.Tensor) else outs[i]
        if not isinstance(events, list) or [int(e) for e in events] != R.reference_events(codes, k):
            raise AssertionError(f"to_events({what}) differs from the handout's events")
        back = outs[len(cases) + i]
        if not isinstance(back, torch.Tensor) or back.tolist() != codes:
            raise AssertionError(f"from_events(the events of {what}) does not give back its codes")


@pytest.mark.task("6.4")
def test_from_events_refuses_bad_events(squeeze):
    """Does from_events raise ValueError for a symbol outside 0 .. RUN·k and for events that run past the matrix?"""
    squeeze.from_events([3, 0], 4, 2)  # valid input first: the stub fails here, not as a pass
    raises("ValueError", squeeze.from_events, [0, 2 * C.RUN + 1], 40, 2, what="from_events([0, 33], n = 40, k = 2)")
    raises("ValueError", squeeze.from_events, [2 * C.RUN, 2 * C.RUN, 17], 40, 2, what="from_events([F, F, (8,1)], n = 40, k = 2)")
    raises("ValueError", squeeze.from_events, [7, 7], 6, 2, what="from_events([(3,1), (3,1)], n = 6, k = 2)")


def mixed_plan(config: dict) -> dict[str, tuple[float, int]]:
    """(density, levels) per matrix: nothing pruned with 16 levels, nothing kept, 5% kept with one level."""
    plan = {}
    for n in C.matrix_names(config):
        if n.endswith(("proj.weight", "pos.weight")):
            plan[n] = (1.0, 16)
        elif n.endswith(("qkv.weight", "out.weight")):
            plan[n] = (0.0, 8)
        elif n.endswith("fc.weight"):
            plan[n] = (0.05, 1)
        else:
            plan[n] = (0.3, 2 if n == "tok.weight" else 3)
    return plan


def last_entry_state(config: dict) -> dict[str, torch.Tensor]:
    """Every matrix keeping its last entry only (a run of n - 1 pruned weights, then one kept)."""
    state = C.compressed_state(config, 720)
    for n in C.matrix_names(config):
        w = torch.zeros_like(state[n])
        w.view(-1)[-1] = -0.125
        state[n] = w
    return state


@pytest.mark.task("6.4")
def test_pack_and_unpack_on_other_mixes(submission):
    """Do pack and unpack handle matrices with nothing pruned and 16 levels, nothing kept, one level, and a single kept weight at the end?"""
    config = M.TINY
    states = [C.compressed_state(config, 730, mixed_plan(config)), last_entry_state(config)]
    names = ["nothing pruned and 16 levels, nothing kept, one level", "a single kept weight, the last entry"]
    packed = submission.driver("squeeze_pack", config, states)
    for data, state, name in zip(packed, states, names):
        C.check_pack(data, config, state, R.build(config, state), f"pack(a tiny model, matrices with {name})")
    outs = submission.driver("squeeze_unpack", [R.build(config, s) for s in states])
    for out, state, name in zip(outs, states, names):
        C.check_unpacked(out, config, state, f"unpack(a file of a tiny model, matrices with {name})")


@pytest.mark.task("6.4")
def test_unpack_refuses_a_table_with_a_zero(submission):
    """Does unpack raise ValueError for a file whose frequency table gives a symbol frequency 0?"""
    state = C.compressed_state(M.TINY, 740, {n: (0.3, 2) for n in C.matrix_names(M.TINY)})
    data = bytearray(R.build(M.TINY, state))
    table = C.parse(bytes(data)).parts["header"] + 1 + 4 * 2  # tok.weight comes first: k, its 2 levels, its table
    first = int.from_bytes(data[table : table + 2], "little")
    data[table : table + 2] = (0).to_bytes(2, "little")
    data[table + 2 : table + 4] = (int.from_bytes(data[table + 2 : table + 4], "little") + first).to_bytes(2, "little")
    raises(
        "ValueError",
        submission.driver,
        "squeeze_unpack",
        [bytes(data)],
        what="unpack(a file whose first table has a frequency 0)",
    )


@pytest.mark.task("6.4")
def test_kmeans_levels_on_a_trained_matrix(submission, squeeze):
    """On the kept weights of a trained matrix (the reference's cpu model, 70% pruned), are kmeans_levels' 8 levels the handout's k-means?"""
    saved = torch.load(REFERENCE_CHECKPOINT, map_location="cpu", weights_only=True)
    w = saved["state"]["blocks.2.fc.weight"].float().flatten()
    kept = w[w.abs() > w.abs().quantile(0.7)]
    C.check_kmeans(
        squeeze.kmeans_levels(kept, 8),
        kept,
        8,
        30,
        R.kmeans_expected(kept, 8),
        f"kmeans_levels(the {len(kept):,} kept weights of a trained fc matrix, k = 8)",
    )
