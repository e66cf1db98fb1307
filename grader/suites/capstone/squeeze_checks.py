"""Task 6.4 on the grading side: the checks that judge what the student's squeeze.py returns (masks,
levels, events, files, models), each failure message naming the mistake.

The student's squeeze.py runs with the course's arithmetic coder (the drivers' squeeze_CODER), so the
streams in the files pack writes are decoded here with the same coder: task 6.4 never depends on the
student's coder (task 6.2). Masks, the file's layout and tables are judged by their properties;
k-means levels, events and files are compared with the reference's, which the public suite reads from
`course snapshot capstone` (see snapshots.py) and the hidden suite computes
(hidden/squeeze_reference.py). Nothing here imports the solutions, so public suites may use it.
"""

from __future__ import annotations

import base64
import functools
import math
import struct
from dataclasses import dataclass, field

import torch

from grader.assertions import short
from grader.suites.capstone import model as M
from grader.worker.drivers.capstone.squeeze import squeeze_Decoder as Decoder

MAGIC = b"SQZ1"
RUN = 16
MAX_LEVELS = 16
TABLE_BITS = 16
CONFIG_KEYS = ("d_model", "n_layer", "n_head", "context", "vocab")
PARTS = ("header", "dense", "codebooks", "tables", "streams")
PART_RULES = {
    "header": "b'SQZ1' and five uint16, 14 bytes",
    "dense": "4 bytes per LayerNorm value",
    "codebooks": "per matrix 1 + 4k: k as uint8 and its k levels as float32",
    "tables": "per matrix 2·RUN·k: the first RUN·k frequencies as uint16, the last implied",
    "streams": "per matrix 8 + the stream's length: the event count and the length as uint32, then the stream",
}
SMALL = {"d_model": 48, "n_layer": 2, "n_head": 2, "context": 48, "vocab": len(M.VOCAB)}
SHAPES = {"tiny": M.TINY, "small": SMALL}


def matrix_names(config: dict) -> list[str]:
    return [n for n, s in M.shapes(config).items() if len(s) == 2]


# -- 1. global magnitude pruning -------------------------------------------------------------------


def pruned_count(sparsity: float, total: int) -> int:
    return round(sparsity * total)


def check_masks(got, weights: dict[str, torch.Tensor], sparsity: float, what: str) -> dict[str, torch.Tensor]:
    """The student's global_masks answer, judged: one bool mask per tensor of its shape, exactly
    round(sparsity N) False, and every pruned |w| <= every kept |w| across all the tensors."""
    if not isinstance(got, dict) or set(got) != set(weights):
        keys = sorted(got) if isinstance(got, dict) else type(got).__name__
        raise AssertionError(f"{what}: expected a dict with the keys {sorted(weights)}, got {short(keys)}")
    masks = {}
    for name, w in weights.items():
        m = got[name]
        if not isinstance(m, torch.Tensor) or m.dtype != torch.bool or m.shape != w.shape:
            desc = f"{m.dtype} {tuple(m.shape)}" if isinstance(m, torch.Tensor) else type(m).__name__
            raise AssertionError(f"{what}: the mask of {name} should be a bool tensor of shape {tuple(w.shape)}, got {desc}")
        masks[name] = m
    total = sum(w.numel() for w in weights.values())
    want = pruned_count(sparsity, total)
    pruned = sum(int((~m).sum()) for m in masks.values())
    per_layer = sum(pruned_count(sparsity, w.numel()) for w in weights.values())
    if pruned != want:
        hint = ""
        if pruned == math.floor(sparsity * total) or pruned == sum(math.floor(sparsity * w.numel()) for w in weights.values()):
            hint = f"; {'off by one: ' if abs(pruned - want) == 1 else ''}int() truncates, the count is round(sparsity · N)"
        elif abs(pruned - want) == 1:
            hint = "; off by one"
        elif pruned == per_layer:
            hint = "; that is round(sparsity · n) of each tensor on its own: pruning is global, one ranking of all N entries together"
        raise AssertionError(
            f"{what}: {pruned} of the {total} entries pruned, expected round({sparsity} · {total}) = {want}{hint}"
        )
    kept_min = min((float(w[m].abs().min()) for w, m in zip(weights.values(), masks.values()) if m.any()), default=math.inf)
    pruned_max = max(
        (float(w[~m].abs().max()) for w, m in zip(weights.values(), masks.values()) if (~m).any()), default=-math.inf
    )
    if pruned_max > kept_min:
        signed = all(
            (not m.any() or not (~m).any()) or float(w[~m].max()) <= float(w[m].min())
            for w, m in zip(weights.values(), masks.values())
        )
        layers = [n for n, w in weights.items() if int((~masks[n]).sum()) == pruned_count(sparsity, w.numel())]
        if signed and any(bool((w < 0).any() & masks[n].any()) for n, w in weights.items()):
            hint = "the smallest signed values were pruned (large negative weights among them): rank by magnitude |w|"
        elif len(layers) == len(weights):
            hint = "each tensor was pruned on its own to the sparsity: pruning is global, one ranking of all N entries together"
        else:
            hint = "the pruned entries are the round(sparsity · N) smallest |w| of all the tensors together"
        raise AssertionError(f"{what}: a pruned entry has |w| = {pruned_max:.6g} but a kept one |w| = {kept_min:.6g}; {hint}")
    return masks


def mask_cases(seed: int = 640) -> list[tuple[dict[str, torch.Tensor], float, str]]:
    """Tensors of different scales (so that one global threshold prunes them unequally), with large
    negative weights, at sparsities where round and int() differ."""
    g = torch.Generator().manual_seed(seed)

    def t(*shape, scale=1.0):
        return torch.randn(*shape, generator=g) * scale

    three = {"a": t(10, 10, scale=0.1), "b": t(20, 5, scale=1.0), "c": t(3, 7, scale=0.3)}
    shifted = {"w": t(8, 9) - 0.8, "v": t(5, 6, scale=0.2)}  # mostly negative: signed ranking differs
    one = {"only": t(7, 13)}
    return [
        (three, 0.7, "three tensors of scales 0.1, 1 and 0.3 (221 entries), sparsity 0.7"),
        (three, 0.29, "the same tensors, sparsity 0.29 (64.09 entries: 64 pruned)"),
        (shifted, 0.55, "two tensors of mostly negative entries (102 entries), sparsity 0.55"),
        (one, 0.45, "one (7, 13) tensor, sparsity 0.45 (40.95: 41 pruned)"),
        (one, 0.0, "one tensor, sparsity 0"),
        (three, 1.0, "three tensors, sparsity 1"),
        (
            {"x": t(100, 3, scale=0.05), "y": t(3, 100, scale=2.0)},
            0.5,
            "a (100, 3) tensor of scale 0.05 and a (3, 100) of scale 2",
        ),
    ]


# -- 2. k-means levels -----------------------------------------------------------------------------


# Levels agree with the course's run within LEVEL_TOLERANCE of the values' range (float32 sums in
# another order). Where float noise moved a value lying on a midpoint to the other level, the runs
# part: then a converged answer is accepted if it is a k-means fixed point (every value at its
# nearest level, every level the mean of its values) within LOOSE_TOLERANCE of the course's levels.
LEVEL_TOLERANCE = 1e-5
LOOSE_TOLERANCE = 1e-2


@dataclass
class KMeans:
    """The reference's k-means run on some values: its levels, and whether it stopped because no
    index changed (before or at its last round)."""

    levels: torch.Tensor
    converged: bool

    @classmethod
    def stored(cls, entry: dict) -> KMeans:
        return cls(torch.tensor(entry["levels"], dtype=torch.float32), bool(entry["converged"]))


def kmeans_verdict(values: torch.Tensor, levels: torch.Tensor, indices: torch.Tensor, k: int, iters: int, ref: KMeans) -> str:
    """ "" if (levels, indices) are the handout's k-means of `values` (the comment above), given the
    reference's run `ref`, else why not. Where `ref` holds only the levels some value took (compress),
    `levels` are those the student's values took."""
    want, converged = ref.levels, ref.converged
    spread = float(values.max() - values.min()) or 1.0
    gaps = (values[:, None] - levels[None, :]).abs()
    mine = gaps.gather(1, indices[:, None])[:, 0]
    far = mine > gaps.min(dim=1).values + LEVEL_TOLERANCE * spread
    if bool(far.any()):
        i = int(far.nonzero()[0])
        j = int(gaps[i].argmin())
        return (
            f"value {float(values[i]):.6g} has index {int(indices[i])} (level {float(levels[indices[i]]):.6g}), but level {j} "
            f"({float(levels[j]):.6g}) is nearer: each value takes its nearest level"
        )
    same = len(levels) == len(want)
    if same and torch.allclose(levels, want, rtol=0, atol=LEVEL_TOLERANCE * spread):
        return ""
    counts = torch.bincount(indices, minlength=len(levels))
    means = torch.zeros(len(levels), dtype=torch.float64).index_add_(0, indices, values.double()) / counts.clamp(min=1)
    fixed = bool(((levels.double() - means).abs()[counts > 0] <= LEVEL_TOLERANCE * spread).all())
    if converged and fixed and same and torch.allclose(levels, want, rtol=0, atol=LOOSE_TOLERANCE * spread):
        return ""
    start = torch.linspace(float(values.min()), float(values.max()), k)
    if len(levels) == k and torch.allclose(levels, start, rtol=0, atol=LEVEL_TOLERANCE * spread):
        hint = "these are the starting levels: each round moves every level to the mean of its values"
    else:
        hint = (
            "k-means as the handout's: levels start at torch.linspace(min, max, k), each value takes its nearest "
            f"level, each level moves to the mean of its values (an empty level stays), {iters} rounds or until no index changes"
        )
    return f"levels {short(levels.tolist())}, expected {short(want.tolist())}; {hint}"


def check_kmeans(got, values: torch.Tensor, k: int, iters: int, ref: KMeans, what: str) -> None:
    """kmeans_levels' answer: shapes, range, and kmeans_verdict against the reference's run `ref`."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise AssertionError(f"{what}: expected (levels, indices), got {short(got)}")
    levels, indices = got
    if not isinstance(levels, torch.Tensor) or tuple(levels.shape) != (k,) or not levels.is_floating_point():
        raise AssertionError(f"{what}: levels should be a float tensor of shape ({k},), got {short(levels)}")
    if not isinstance(indices, torch.Tensor) or tuple(indices.shape) != tuple(values.shape) or indices.dtype != torch.int64:
        raise AssertionError(f"{what}: indices should be an int64 tensor of shape {tuple(values.shape)}, got {short(indices)}")
    if int(indices.min()) < 0 or int(indices.max()) >= k:
        raise AssertionError(f"{what}: indices must be from 0 to {k - 1}, got {int(indices.min())} .. {int(indices.max())}")
    if not bool(torch.isfinite(levels).all()):
        raise AssertionError(f"{what}: levels hold NaN or infinite values")
    why = kmeans_verdict(values.float(), levels.float(), indices, k, iters, ref)
    if why:
        raise AssertionError(f"{what}: {why}")


def kmeans_cases(seed: int = 650) -> list[tuple[torch.Tensor, int, int, str]]:
    g = torch.Generator().manual_seed(seed)
    kept = torch.randn(3000, generator=g) * 0.1
    kept = kept[kept.abs() > 0.08]  # what pruning leaves: two lobes, no weight near 0
    return [
        (kept, 8, 60, f"{len(kept)} kept weights of a pruned matrix (two lobes, |w| > 0.08), k = 8, iters = 60"),
        (torch.rand(500, generator=g) ** 3, 4, 30, "500 skewed values in [0, 1), k = 4"),
        (torch.randn(40, generator=g), 16, 30, "40 normal values, k = 16"),
        (torch.tensor([0.3, 0.3, 0.3]), 2, 30, "three equal values, k = 2"),
        (torch.randn(200, generator=g), 8, 1, "200 normal values, k = 8, iters = 1"),
    ]


# -- 3. events -------------------------------------------------------------------------------------


def describe_events(events: list[int], k: int) -> str:
    """Events as (run, level) pairs and F for fillers, for messages."""
    return " ".join("F" if e == RUN * k else f"({e // k},{e % k})" for e in events)


def event_cases(seed: int = 660) -> list[tuple[list[int], int, str]]:
    """(codes, k, about): runs of 15, 16, 17, 32 and 37, leading and trailing pruned weights,
    nothing pruned, everything pruned, k = 1, 3 and 16."""
    g = torch.Generator().manual_seed(seed)

    def kept(n, k):
        return torch.randint(k, (n,), generator=g).tolist()

    cases = [
        ([2, -1, 0, 1], 3, "[2, -1, 0, 1], k = 3"),
        ([-1] * 15 + [1], 2, "15 pruned, then level 1, k = 2"),
        ([-1] * 16 + [1], 2, "16 pruned, then level 1, k = 2 (a run of RUN: a filler, then run 0)"),
        ([-1] * 17 + [0] + [-1] * 32 + [1], 2, "17 pruned, level 0, 32 pruned, level 1, k = 2"),
        ([0, 1] + [-1] * 37 + [2], 3, "levels 0, 1, then 37 pruned, level 2, k = 3"),
        ([1, -1, -1, -1], 2, "level 1, then 3 trailing pruned weights, k = 2"),
        ([0] + [-1] * 40, 1, "level 0, then 40 trailing pruned weights, k = 1"),
        ([-1] * 20, 1, "20 pruned weights and nothing kept, k = 1"),
        (kept(30, 16), 16, "30 kept weights, none pruned, k = 16"),
    ]
    for i, (n, density, k) in enumerate([(400, 0.3, 8), (300, 0.05, 4), (257, 0.9, 16)]):
        codes = torch.where(torch.rand(n, generator=g) < density, torch.randint(k, (n,), generator=g), torch.tensor(-1)).tolist()
        cases.append((codes, k, f"random codes {i + 1}: {n} weights, {int(100 * density)}% kept, k = {k}"))
    return cases


# -- 4. the file -----------------------------------------------------------------------------------


def codes_of(w: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    """(levels ascending, codes row-major with -1 for zeros) of a pruned and shared matrix."""
    flat = w.flatten().float()
    kept = flat != 0
    levels = torch.unique(flat[kept])
    codes = torch.full(flat.shape, -1, dtype=torch.int64)
    codes[kept] = torch.searchsorted(levels, flat[kept])
    return levels, codes.tolist()


@dataclass
class Matrix:
    levels: list[float]
    freqs: list[int]
    count: int
    stream: bytes


@dataclass
class Parsed:
    """A file read by the handout's layout: the config, vectors, matrices and each part's bytes."""

    config: dict
    vectors: dict[str, torch.Tensor] = field(default_factory=dict)
    matrices: dict[str, Matrix] = field(default_factory=dict)
    parts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))


class Layout(Exception):
    """The file does not follow the layout; args[0] says where."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int, where: str) -> bytes:
        if self.pos + n > len(self.data):
            raise Layout(f"the file ends at byte {len(self.data)}, inside {where} (byte {self.pos}, {n} bytes expected)")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def numbers(self, fmt: str, where: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), where))


def parse(data: bytes, skip: tuple[str, ...] = ()) -> Parsed:
    """`data` read by the handout's layout (Layout naming where it is not), the parts in `skip` taken
    as absent (to name what a file lacks)."""
    r = _Reader(bytes(data))
    if r.take(4, "the magic bytes") != MAGIC:
        raise Layout(f"the file starts with {bytes(data[:4])!r}, not {MAGIC!r}")
    values = r.numbers("5H", "the header's config")
    config = dict(zip(CONFIG_KEYS, values))
    if not all(values) or config["d_model"] % config["n_head"] or config["vocab"] != len(M.VOCAB):
        raise Layout(f"the header's config {config} is not a gpt.GPT over the 96-symbol VOCAB")
    out = Parsed(config)
    out.parts["header"] = r.pos
    for name, shape in M.shapes(config).items():
        n = math.prod(shape)
        if len(shape) != 2:
            if "dense" not in skip:
                out.vectors[name] = torch.tensor(r.numbers(f"{n}f", f"{name} (float32)"), dtype=torch.float32)
                out.parts["dense"] += 4 * n
            continue
        start = r.pos
        (k,) = r.numbers("B", f"{name}'s number of levels")
        if k > MAX_LEVELS:
            raise Layout(f"{name}: {k} levels, more than {MAX_LEVELS}")
        levels = [] if "levels" in skip else list(r.numbers(f"{k}f", f"{name}'s levels"))
        out.parts["codebooks"] += r.pos - start
        freqs: list[int] = []
        if "tables" not in skip:
            whole = "whole tables" in skip  # a diagnosis: every frequency stored, the last too
            stored = list(r.numbers(f"{RUN * k + whole}H", f"{name}'s frequency table"))
            freqs = stored if whole else stored + [2**TABLE_BITS - sum(stored)]
            out.parts["tables"] += 2 * (RUN * k + whole)
        start = r.pos
        count, length = (0, 0) if "counts" in skip else r.numbers("II", f"{name}'s event count and stream length")
        if count > n:
            raise Layout(f"{name}: {count} events for a matrix of {n} entries")
        stream = r.take(length, f"{name}'s stream")
        out.parts["streams"] += r.pos - start
        out.matrices[name] = Matrix(levels, freqs, count, stream)
    if r.pos != len(r.data):
        raise Layout(f"{len(r.data) - r.pos} bytes are left after the last tensor")
    return out


ABSENT = {
    "tables": "the file holds no frequency tables: a decoder cannot decode the events without the table the encoder used",
    "levels": "the file holds no codebook levels, only their number: the weights cannot be rebuilt",
    "counts": "the streams come without their event count and length (uint32 each): a decoder cannot tell where one ends",
    "dense": "the LayerNorm vectors are missing: every tensor is in the file",
    "whole tables": "each table holds all RUN·k + 1 frequencies: the file stores the first RUN·k, the last is 2^16 minus their sum",
}


def read(data, what: str) -> Parsed:
    """`data` parsed, or AssertionError saying how it departs from the layout."""
    if not isinstance(data, bytes):
        raise AssertionError(f"{what}: pack should return bytes, got {short(data)}")
    try:
        return parse(data)
    except Layout as e:
        for part, why in ABSENT.items():
            try:
                parse(data, (part,))
            except Layout:
                continue
            raise AssertionError(f"{what}: the file does not follow the layout: {why}") from None
        raise AssertionError(f"{what}: the file does not follow the handout's layout: {e.args[0]}") from None


def check_table(freqs: list[int], events: list[int], k: int, where: str) -> None:
    """A valid table (RUN k + 1 frequencies >= 1 summing to 2^16) that codes the events within the
    quantization's bound of their empirical entropy."""
    if min(freqs) < 1:
        s = freqs.index(min(freqs))
        kind = "summing past 2^16 (the last, implied, is negative)" if s == len(freqs) - 1 and freqs[s] < 0 else "of frequency 0"
        raise AssertionError(
            f"{where}: symbol {s} of the table is {kind}: every symbol needs a frequency >= 1 and the table sums to 2^16 "
            "(coder.quantize of the counts divided by their number), or an event the encoder meets cannot be coded"
        )
    if not events:
        return
    counts = torch.bincount(torch.tensor(events), minlength=len(freqs)).double()
    n = len(events)
    entropy = float(-(counts[counts > 0] * (counts[counts > 0] / n).log2()).sum())
    cost = float(-(counts * (torch.tensor(freqs, dtype=torch.float64) / 2**TABLE_BITS).log2()).sum())
    bound = entropy + n * -math.log2(1 - len(freqs) / 2**TABLE_BITS) + 1
    if cost > bound:
        raise AssertionError(
            f"{where}: the table codes the {n} events in {cost:.0f} bits, but their empirical entropy is {entropy:.0f} bits "
            f"(at most {bound:.0f} with 16-bit frequencies): the table is coder.quantize(counts / {n}, 16) of these events' counts"
        )


STREAM_SLACK_BITS = 64  # the course coder's stream: its 5-byte final state (rANS) and a byte of rounding, over the ideal


def stream_events(m: Matrix) -> list[int]:
    """A matrix's events, its stream decoded with the course's coder and its own table."""
    decoder = Decoder(m.stream)
    return [decoder.decode(m.freqs) for _ in range(m.count)]


def check_pack(data, config: dict, state: dict[str, torch.Tensor], reference: bytes, what: str) -> Parsed:
    """pack's bytes for `state`, against the reference's file of it: the layout; the vectors as they
    are; each matrix's levels (its distinct nonzero values ascending), event count and table as the
    handout says; its stream decoded here with the course's coder and the file's own table giving
    exactly the reference's events, in at most their ideal length under that table + STREAM_SLACK_BITS."""
    p = read(data, what)
    expected = parse(reference)
    if p.config != {k: config[k] for k in CONFIG_KEYS}:
        raise AssertionError(f"{what}: the header's config is {p.config}, expected {config}")
    for name, t in state.items():
        if name in p.vectors and not torch.equal(p.vectors[name], t.flatten().float()):
            raise AssertionError(f"{what}: the stored {name} differs from the model's: vectors are stored as they are, float32")
    for name, m in p.matrices.items():
        levels, codes = codes_of(state[name])
        k = len(levels)
        where = f"{what}, {name}"
        if len(m.levels) != k or not torch.equal(torch.tensor(m.levels, dtype=torch.float32), levels):
            raise AssertionError(
                f"{where}: levels {short(m.levels)}, expected the matrix's {k} distinct nonzero values ascending, "
                f"{short(levels.tolist())}"
            )
        events = stream_events(expected.matrices[name])
        if m.count != len(events):
            raise AssertionError(
                f"{where}: the file says {m.count} events, the matrix has {len(events)} (a kept weight after r < {RUN} pruned ones "
                f"is one event, each run of {RUN} pruned ones not yet followed by a kept one a filler, trailing pruned weights none)"
            )
        check_table(m.freqs, events, k, where)
        decoder = Decoder(m.stream)
        for i, e in enumerate(events):
            got = decoder.decode(m.freqs)
            if got != e:
                raise AssertionError(
                    f"{where}: the stream decodes, with the file's table, to symbol {got} at event {i}, but the matrix's event {i} "
                    f"is {e} ({describe_events([e], k)}): the events in row-major order, symbol r·k + j or the filler RUN·k, each "
                    "encoded with the same table, then finish()"
                )
        ideal = sum(-math.log2(m.freqs[e] / 2**TABLE_BITS) for e in events)
        if 8 * len(m.stream) > ideal + STREAM_SLACK_BITS:
            raise AssertionError(
                f"{where}: the stream has {len(m.stream)} bytes, but its events cost {ideal:.0f} bits under the file's table: "
                "one coder.Encoder for the matrix's events, then finish() once"
            )
    return p


def compressed_state(config: dict, seed: int, plan: dict[str, tuple[float, int]] | None = None) -> dict[str, torch.Tensor]:
    """A state of `config` whose matrices are pruned and shared: random weights, and for each matrix
    (density, k) from `plan` (default: a mix, a matrix with nothing kept, one with nothing pruned,
    k from 1 to 16), its kept entries drawn at density then given one of k random levels with skewed
    frequencies."""
    g = torch.Generator().manual_seed(seed)
    state = M.random_state(config, seed)
    mix = [(0.3, 8), (0.1, 4), (0.6, 16), (1.0, 3), (0.0, 8), (0.25, 1), (0.02, 2), (0.45, 8)]
    for i, name in enumerate(matrix_names(config)):
        density, k = plan[name] if plan and name in plan else mix[(i + seed) % len(mix)]
        shape = state[name].shape
        levels = torch.sort(torch.randn(k, generator=g) * 0.1).values
        levels = torch.where(levels == 0, torch.tensor(0.05), levels)
        weights = torch.rand(k, generator=g) ** 2 + 0.01
        codes = torch.multinomial(weights / weights.sum(), shape.numel(), replacement=True, generator=g)
        kept = torch.rand(shape.numel(), generator=g) < density
        state[name] = torch.where(kept, levels[codes], torch.tensor(0.0)).view(shape)
    return state


def check_unpacked(out, config: dict, state: dict[str, torch.Tensor], what: str) -> None:
    """unpack's answer (the driver's account) for a file of `state`: a GPT of the config, in eval
    mode, holding exactly `state`."""
    if not isinstance(out, dict) or out.get("type") != "GPT":
        raise AssertionError(
            f"{what}: unpack should return a gpt.GPT, got {short(out.get('type') if isinstance(out, dict) else out)}"
        )
    if out.get("config") != config:
        raise AssertionError(f"{what}: the model's config is {short(out.get('config'))}, expected the header's {config}")
    got = M.check_state(out.get("state"), config, f"{what}: the model's state")
    for name, t in state.items():
        if not torch.equal(got[name], t.float()):
            diff = (got[name] - t.float()).abs()
            shape = M.shapes(config)[name]
            hint = ""
            if len(shape) == 2:
                moved = int((got[name] != 0).sum()) == int((t != 0).sum()) and not torch.equal(got[name] != 0, t != 0)
                hint = (
                    "; the kept weights are in other places: a symbol r·k + j is r pruned weights, then level j "
                    f"(r = s // k, j = s % k), the filler RUN·k stands for {RUN} pruned weights"
                    if moved
                    else "; each kept weight is its level, every other entry 0"
                )
            raise AssertionError(
                f"{what}: {name} differs from the stored one in {int((diff > 0).sum())} entries (up to {float(diff.max()):.3g}){hint}"
            )
    if out.get("training") is not False:
        raise AssertionError(f"{what}: the model is in training mode; unpack returns it in eval mode (model.eval())")


# -- 5. compress and finetune, judged ------------------------------------------------------------


@dataclass
class Shared:
    """The reference's compress of one matrix: the levels its kept weights took (k-means on them),
    and the levels k-means gives the whole matrix, pruned zeros included (to name that mistake)."""

    used: KMeans
    whole: torch.Tensor

    @classmethod
    def stored(cls, entry: dict) -> Shared:
        return cls(KMeans.stored(entry), torch.tensor(entry["whole"], dtype=torch.float32))


def check_compressed(out, config: dict, state: dict, sparsity: float, bits: int, ref: dict[str, Shared], what: str) -> None:
    """compress's answer: the model returned and changed in place; its matrices pruned by global
    magnitude, each kept weight the level k-means gives it among its matrix's kept weights (`ref`,
    the reference's, per matrix); vectors untouched."""
    if not isinstance(out, dict) or out.get("same") is not True:
        raise AssertionError(f"{what}: compress changes the model in place and returns it (the same object)")
    got = M.check_state(out.get("state"), config, f"{what}: the model's state")
    names = matrix_names(config)
    for name, t in state.items():
        if name not in names and not torch.equal(got[name], t):
            raise AssertionError(f"{what}: {name} changed; compress leaves the vectors (LayerNorm) as they are")
    masks = check_masks({n: got[n] != 0 for n in names}, {n: state[n] for n in names}, sparsity, f"{what}: the zeros after it")
    for name in names:
        kept = state[name][masks[name]]
        if kept.numel() == 0:
            continue
        values = got[name][masks[name]]
        levels = torch.unique(values)
        if len(levels) > 2**bits:
            raise AssertionError(
                f"{what}: {name} holds {len(levels)} distinct nonzero values, more than 2^{bits} = {2**bits} levels"
            )
        # the levels the kept weights took, and each one's index among them: k-means' used levels
        why = kmeans_verdict(kept, levels, torch.searchsorted(levels, values), 2**bits, 30, ref[name].used)
        if why:
            everything = ref[name].whole
            nearest = everything[(kept[:, None] - everything[None, :]).abs().argmin(dim=1)]
            spread = float(kept.max() - kept.min()) or 1.0
            hint = (
                "these are levels fitted on the whole matrix, pruned zeros included: fit them on the kept weights only"
                if torch.allclose(values, nearest, rtol=0, atol=LEVEL_TOLERANCE * spread)
                else f"each kept weight becomes its level from kmeans_levels(the matrix's kept weights, 2^bits): {why}"
            )
            raise AssertionError(f"{what}: {name}'s kept weights are not their k-means levels; {hint}")


def check_structure(state: dict, config: dict, sparsity: float, bits: int, what: str) -> None:
    """Exactly round(sparsity · N) of the matrices' N entries 0, at most 2^bits distinct nonzero values in each."""
    names = matrix_names(config)
    total = sum(state[n].numel() for n in names)
    zeros = sum(int((state[n] == 0).sum()) for n in names)
    if zeros != pruned_count(sparsity, total):
        raise AssertionError(
            f"{what}: {zeros} of the {total} matrix entries are 0, expected exactly round({sparsity} · {total}) = "
            f"{pruned_count(sparsity, total)}: the pruned weights stay 0 and the kept ones take nonzero levels"
        )
    for n in names:
        distinct = len(torch.unique(state[n][state[n] != 0]))
        if distinct > 2**bits:
            raise AssertionError(
                f"{what}: {n} holds {distinct} distinct nonzero values, more than 2^{bits} = {2**bits}: at the end every "
                "matrix takes the shared values its forward used (ready for pack)"
            )


@functools.cache
def case_state(shape: str, seed: int) -> dict[str, torch.Tensor]:
    """compressed_state of SHAPES[shape] (cached: several tests read the same models)."""
    return compressed_state(SHAPES[shape], seed)


COMPRESS_CASES = ((0.7, 3, 1), (0.5, 2, 2))  # (sparsity, bits, seed of the random tiny model)
FILE_CASES = (("tiny", 680), ("small", 682))  # case_state: a mix of densities and 1 to 16 levels
FINETUNE = {"sparsity": 0.7, "bits": 3, "steps": 20, "batch": 8, "seed": 690}  # finetune's public case, on a random tiny model
TUNE_CHARS, CHECK_CHARS = 100_000, 8_000  # it trains on the public text's first characters, is scored on the next


def case_key(*parts) -> str:
    """A snapshot's key for a case: its parameters joined."""
    return ",".join(str(p) for p in parts)


def stored_file(snapshot: dict, shape: str, seed: int) -> bytes:
    """The reference's file of case_state(shape, seed), as `course snapshot capstone` stored it."""
    return base64.b64decode(snapshot["squeeze"]["files"][case_key(shape, seed)])
