"""Public tests for task 6.4 (squeeze.py): global magnitude pruning, k-means levels, compress, the
events of a matrix, the frequency table, and the file (pack, unpack, breakdown).

Your squeeze.py runs with the course's own arithmetic coder in place of your coder.py (its
quantize, Encoder and Decoder; task 6.2 grades yours), so this task does not depend on your coder.
Every verdict is made here: masks against the magnitudes; levels, events and files against the
reference's outputs on the same fixed cases, which `course snapshot capstone` stored
(grader/suites/capstone/_snapshots); the bytes pack returns are read here by the handout's layout and
their streams decoded with the course's coder. The weights are the grading side's
(model.random_state, or random pruned and shared matrices), in the "tiny" shape (32-wide, 2 layers)
and one a little larger."""

from __future__ import annotations

import pytest
import torch

from grader.assertions import raises, short
from grader.suites.capstone import model as M
from grader.suites.capstone import squeeze_checks as C

# -- global_masks --------------------------------------------------------------------------------------


@pytest.mark.task("6.4")
def test_global_masks_prune_the_smallest_magnitudes_of_all_tensors_together(submission, squeeze):
    """Does global_masks prune exactly round(sparsity · N) entries, the smallest |w| of all the tensors ranked together?"""
    cases = C.mask_cases()
    outs = submission.batch([submission.pending_call(squeeze, "global_masks", w, s) for w, s, _ in cases])
    for (w, s, about), out in zip(cases, outs):
        C.check_masks(out, w, s, f"global_masks({about})")


@pytest.mark.task("6.4")
def test_global_masks_refuses_a_bad_sparsity(squeeze):
    """Does global_masks raise ValueError for a sparsity below 0 or above 1, and for no tensors?"""
    w = {"a": torch.linspace(-1, 1, 16).view(4, 4)}
    squeeze.global_masks(w, 0.5)  # valid input first: the stub fails here, not as a pass
    raises("ValueError", squeeze.global_masks, w, 1.5, what="global_masks(sparsity 1.5)")
    raises("ValueError", squeeze.global_masks, w, -0.1, what="global_masks(sparsity -0.1)")
    raises("ValueError", squeeze.global_masks, {}, 0.5, what="global_masks(no tensors)")


# -- kmeans_levels -------------------------------------------------------------------------------------


@pytest.mark.task("6.4")
def test_kmeans_levels_follow_the_handout(submission, squeeze, snapshot):
    """Are kmeans_levels' levels the handout's k-means (linear start, nearest level, means) within float noise, each value at its nearest level?"""
    cases = C.kmeans_cases()
    outs = submission.batch([submission.pending_call(squeeze, "kmeans_levels", v, k, iters) for v, k, iters, _ in cases])
    for (v, k, iters, about), out, ref in zip(cases, outs, snapshot["squeeze"]["kmeans"]):
        C.check_kmeans(out, v, k, iters, C.KMeans.stored(ref), f"kmeans_levels({about})")


# -- compress ------------------------------------------------------------------------------------------


@pytest.mark.task("6.4")
def test_compress_prunes_globally_and_shares_levels(submission, squeeze, snapshot):
    """Does compress(model, 0.7, 3) prune the tiny model's matrices globally by magnitude and give each kept weight its k-means level, in place?"""
    for sparsity, bits, seed in C.COMPRESS_CASES:
        state = M.random_state(M.TINY, seed)
        out = submission.driver("squeeze_compress", M.TINY, state, sparsity, bits)
        stored = snapshot["squeeze"]["compress"][C.case_key(sparsity, bits, seed)]
        ref = {name: C.Shared.stored(entry) for name, entry in stored.items()}
        C.check_compressed(out, M.TINY, state, sparsity, bits, ref, f"compress(tiny model, {sparsity}, {bits})")


# -- events --------------------------------------------------------------------------------------------


@pytest.mark.task("6.4")
def test_to_events_follow_the_handout(submission, squeeze, snapshot):
    """Is each matrix's event list right: r·k + j for a kept weight after r pruned ones, the filler RUN·k for 16 pruned in a row, nothing for trailing ones?"""
    cases = C.event_cases()
    outs = submission.batch([submission.pending_call(squeeze, "to_events", torch.tensor(c), k) for c, k, _ in cases])
    for (_, k, about), out, want in zip(cases, outs, snapshot["squeeze"]["events"]):
        got = out.tolist() if isinstance(out, torch.Tensor) else out
        if not isinstance(got, list) or [int(e) for e in got] != want:
            raise AssertionError(
                f"to_events({about}): got {short(got, 160)}, expected {short(want, 160)}, as (run, level) pairs and F for "
                f"fillers: {C.describe_events(want, k)[:200]}; a kept weight after r < {C.RUN} pruned ones is r·k + j, a run of "
                "RUN pruned weights is the filler RUN·k (then the run starts again at 0), trailing pruned weights give nothing"
            )


@pytest.mark.task("6.4")
def test_from_events_undo_to_events(submission, squeeze, snapshot):
    """Does from_events(events, n, k) give back the codes, -1 wherever no event puts a kept weight?"""
    cases, stored = C.event_cases(), snapshot["squeeze"]["events"]
    outs = submission.batch(
        [submission.pending_call(squeeze, "from_events", e, len(c), k) for (c, k, _), e in zip(cases, stored)]
    )
    for (codes, k, about), out, events in zip(cases, outs, stored):
        what = f"from_events(the events of {about}: {C.describe_events(events, k)[:120]})"
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (len(codes),):
            raise AssertionError(f"{what}: expected an int64 tensor of shape ({len(codes)},), got {short(out)}")
        if out.tolist() != codes:
            i = next(i for i, (a, b) in enumerate(zip(out.tolist(), codes)) if a != b)
            raise AssertionError(
                f"{what}: entry {i} is {out.tolist()[i]}, expected {codes[i]} (got {short(out.tolist(), 120)}); a symbol s < RUN·k "
                f"is a run r = s // k of pruned weights, then a kept weight of level j = s % k; RUN·k is {C.RUN} pruned weights"
            )


# -- table ---------------------------------------------------------------------------------------------


@pytest.mark.task("6.4")
def test_table_codes_the_events_near_their_entropy(submission):
    """Is table(events, k) RUN·k + 1 frequencies, each >= 1, summing to 2^16, that code the events within the quantization's bound of their entropy?"""
    g = torch.Generator().manual_seed(670)
    cases = []
    for k, n in ((8, 3000), (1, 200), (16, 500), (3, 40)):
        p = torch.rand(C.RUN * k + 1, generator=g) ** 4
        p[torch.rand(len(p), generator=g) < 0.3] = 0  # symbols that never occur
        p[0] = max(float(p[0]), 0.1)
        cases.append((torch.multinomial(p / p.sum(), n, replacement=True, generator=g).tolist(), k))
    cases.append(([], 2))
    outs = submission.driver("squeeze_calls", "table", cases)
    for (events, k), out in zip(cases, outs):
        what = f"table({len(events)} events, k = {k})"
        got = out.tolist() if isinstance(out, torch.Tensor) else out
        if not isinstance(got, (list, tuple)) or len(got) != C.RUN * k + 1 or not all(isinstance(f, int) for f in got):
            raise AssertionError(f"{what}: expected a list of RUN·k + 1 = {C.RUN * k + 1} ints, got {short(got)}")
        C.check_table(list(got), events, k, what)
        if sum(got) != 2**C.TABLE_BITS:
            raise AssertionError(f"{what}: the frequencies sum to {sum(got)}, not 2^16 = 65536: coder.quantize(probs, 16)")


# -- the file ------------------------------------------------------------------------------------------

FILE_CASES = C.FILE_CASES


def about(shape: str, seed: int) -> str:
    config = C.SHAPES[shape]
    return f"a {config['d_model']}-wide {config['n_layer']}-layer model of pruned and shared matrices (seed {seed})"


@pytest.mark.task("6.4", weight=2)
def test_pack_writes_the_handout_file(submission, snapshot):
    """Is pack's file the handout's layout, each matrix's levels, table and coded events right, decoding to exactly the model's weights (and the same bytes twice)?"""
    for i, (shape, seed) in enumerate(FILE_CASES):
        config, state = C.SHAPES[shape], C.case_state(shape, seed)
        files = submission.driver("squeeze_pack", config, [state, state] if i == 0 else [state])
        what = f"pack({about(shape, seed)})"
        C.check_pack(files[0], config, state, C.stored_file(snapshot, shape, seed), what)
        if len(files) > 1 and files[1] != files[0]:
            raise AssertionError(f"{what}: a second pack of the same model gave other bytes; pack is deterministic")


@pytest.mark.task("6.4")
def test_pack_refuses_an_uncompressed_model(submission):
    """Does pack raise ValueError for a model whose matrices hold more than 16 distinct nonzero values?"""
    raises(
        "ValueError", submission.driver, "squeeze_pack", M.TINY, [M.random_state(M.TINY, 3)], what="pack(the float tiny model)"
    )


@pytest.mark.task("6.4", weight=2)
def test_unpack_reads_the_handout_file(submission, snapshot):
    """Does unpack rebuild, from the reference's files in the handout's layout, a gpt.GPT in eval mode holding exactly the stored weights?"""
    outs = submission.driver("squeeze_unpack", [C.stored_file(snapshot, shape, seed) for shape, seed in FILE_CASES])
    for (shape, seed), out in zip(FILE_CASES, outs):
        C.check_unpacked(out, C.SHAPES[shape], C.case_state(shape, seed), f"unpack(the file of {about(shape, seed)})")


@pytest.mark.task("6.4")
def test_unpack_refuses_a_broken_file(submission, snapshot):
    """Does unpack raise ValueError for a file with another start, one cut short, and one with a byte too many?"""
    data = C.stored_file(snapshot, *FILE_CASES[0])
    submission.driver("squeeze_unpack", [data])  # valid input first: the stub fails here, not as a pass
    for bad, about_it in (
        (b"GPT2" + data[4:], "another start"),
        (data[: len(data) // 2], "cut in half"),
        (data + b"\0", "a byte too many"),
    ):
        raises("ValueError", submission.driver, "squeeze_unpack", [bad], what=f"unpack(a file with {about_it})")


@pytest.mark.task("6.4")
def test_breakdown_counts_every_byte(submission, squeeze, snapshot):
    """Does breakdown give each part's bytes (header, dense, codebooks, tables, streams) as read from the file, summing to its length?"""
    files = [C.stored_file(snapshot, shape, seed) for shape, seed in FILE_CASES]
    outs = submission.batch([submission.pending_call(squeeze, "breakdown", data) for data in files])
    for data, out in zip(files, outs):
        want = C.parse(data).parts
        what = f"breakdown(a file of {len(data):,} bytes)"
        if not isinstance(out, dict) or set(out) != set(C.PARTS):
            raise AssertionError(f"{what}: expected a dict with the keys {', '.join(C.PARTS)}, got {short(out)}")
        for part in C.PARTS:
            if out[part] != want[part]:
                raise AssertionError(
                    f"{what}: {part} {short(out[part])} bytes, expected {want[part]:,} ({C.PART_RULES[part]}); the parts sum to "
                    f"{sum(v for v in out.values() if isinstance(v, int)):,}, the file has {len(data):,}"
                )


# -- finetune ------------------------------------------------------------------------------------------

FINETUNE_GAIN = 0.15  # bits per character below compress alone; the reference gains 0.31 to 0.72 (40 random tiny models)


@pytest.mark.task("6.4", weight=2)
def test_finetune_keeps_the_compression_and_learns(submission, public_text, snapshot):
    """After finetune(a random tiny model, 20 steps on the public text), is it pruned to exactly 70% with at most 8 levels per matrix, and coding the text better than compress alone?"""
    f = C.FINETUNE
    state = M.random_state(M.TINY, f["seed"])
    ids = M.ids_of(public_text[: C.TUNE_CHARS + C.CHECK_CHARS])
    out = submission.driver(
        "squeeze_finetune", M.TINY, state, ids[: C.TUNE_CHARS], f["sparsity"], f["bits"], f["steps"], f["batch"], f["seed"]
    )
    what = f"finetune(random tiny model, sparsity {f['sparsity']}, bits {f['bits']}, {f['steps']} steps, batch {f['batch']})"
    got = M.check_state(out, M.TINY, f"{what}: the returned model's state")
    C.check_structure(got, M.TINY, f["sparsity"], f["bits"], what)
    valid = ids[C.TUNE_CHARS :]
    tuned = M.bits_per_char(got, M.TINY, valid)
    alone = snapshot["squeeze"]["finetune_alone"]  # the reference's compress of the same model, scored on the same text
    if tuned > alone - FINETUNE_GAIN:
        raise AssertionError(
            f"{what}: {tuned:.3f} bits per character on the {C.CHECK_CHARS:,} characters after those it trained on, compress alone "
            f"gives {alone:.3f}; {f['steps']} steps of fine-tuning should gain at least {FINETUNE_GAIN} (the reference gains about 0.5)"
        )
