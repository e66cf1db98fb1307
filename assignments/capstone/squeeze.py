"""Capstone, part 3 (task 6.4): squeeze the trained model into one small file, and load it back.

Deep Compression's pipeline (Han, Mao & Dally 2016), on gpt.GPT's weight matrices (every state-dict
entry with two dimensions: both embeddings, qkv, proj, fc, out, head); the LayerNorm gains and biases,
0.3% of the parameters, stay float32:

1. Global magnitude pruning. All matrices' entries are ranked together by |w|, and exactly
   n_pruned = round(sparsity * N) of the N entries, the smallest, are set to 0 (pruned); any
   tie-break among equal |w| is accepted. One threshold for the whole model: a matrix of small
   weights loses more of them than one of large weights.
2. Weight sharing. In each matrix, the kept weights (and only those: the pruned zeros are not
   weights to share) are clustered by k-means into k = 2^bits levels; each kept weight becomes the
   level of its cluster. After this a matrix holds at most k distinct nonzero values, its codebook.
3. Entropy coding. Each matrix, read in row-major order, is a list of events: a kept weight, with
   the number of pruned weights since the previous kept weight (its run r) and its level's index j
   in the codebook (sorted ascending), is the symbol r * k + j, for r from 0 to RUN - 1; a run of
   RUN pruned weights that is not yet followed by a kept weight is the filler symbol RUN * k (so a
   run of 37 before a kept weight is two fillers, then r = 5). The pruned weights after the last
   kept weight are not coded. Alphabet: RUN * k + 1 symbols. The events are coded with your
   arithmetic coder (coder.py) under one static frequency table per matrix: the events' counts
   divided by their number, coder.quantize(probs, 16) (every symbol >= 1, total 2^16), stored in
   the file. Coding symbol s costs -log2(f_s / 2^16) bits, so the indices and the positions of
   the kept weights together cost about the events' empirical entropy.

A fine-tuning run (finetune) recovers what the first two steps cost: the sparsity raised gradually
(Zhu & Gupta 2017: s_t = s (1 - (1 - t / T)^3)), the pruned weights held at 0, then quantization-
aware training of the kept weights, all against the float model's own predictions (distillation,
Hinton et al. 2015).

The file (pack; every number little-endian), its size len(data) with nothing left out:

    header      b"SQZ1", then d_model, n_layer, n_head, context, vocab as uint16      (14 bytes)
    then every entry of gpt.GPT(**config).state_dict(), in that order (its shape from the config):
      a vector  its values as float32                                                 (dense)
      a matrix  k as uint8, then its k levels as float32, ascending                   (codebooks)
                the first RUN * k frequencies of its table as uint16; the last
                is 2^16 minus their sum                                               (tables)
                the number of events and the stream's length in bytes, uint32 each,
                then the stream: coder.Encoder's output for the events                (streams)

breakdown(data) gives the bytes of each of the five parts; they sum to len(data).

    python squeeze.py model.pt --out model.sqz             # about 10 minutes on 2 CPU cores
    python squeeze.py model.pt --out model.sqz --steps 0   # no fine-tuning: prune and share only

Invalid input raises ValueError with a message saying what is wrong.
"""

from __future__ import annotations

import argparse
import copy
import math
import struct
import time
from pathlib import Path

import coder
import torch
from gpt import GPT, encode, load
from torch.nn import functional as F

MAGIC = b"SQZ1"
RUN = 16  # the longest run of pruned weights before a kept weight that one symbol carries is RUN - 1
MAX_BITS = 4  # at most 2^4 = 16 levels per matrix
TABLE_BITS = 16  # frequency tables sum to 2^16
CONFIG_KEYS = ("d_model", "n_layer", "n_head", "context", "vocab")
PARTS = ("header", "dense", "codebooks", "tables", "streams")


def matrices(state: dict) -> list[str]:
    """The names of the weight matrices (entries with two dimensions) of a state dict, in its order."""
    return [name for name, t in state.items() if t.dim() == 2]


def global_masks(weights: dict[str, torch.Tensor], sparsity: float) -> dict[str, torch.Tensor]:
    """Task 6.4. Global magnitude pruning: {name: bool mask of its tensor's shape, True = kept}.

    Every entry of every tensor is ranked together by |w|: the round(sparsity * N) smallest of the N
    entries are pruned (False), all others kept, whatever the tensors' sizes (Python's round).
    Any tie-break among equal |w| is accepted; the count is exact.
    """
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0 <= sparsity <= 1:
        raise ValueError(f"sparsity must be a number from 0 to 1, got {sparsity!r}")
    if not weights:
        raise ValueError("no tensors to prune")
    # HINT: torch.cat of every |w| flattened, one argsort, then split the mask back (torch.split with the sizes).
    raise NotImplementedError("Task 6.4: global_masks is not implemented yet")


def kmeans_levels(values: torch.Tensor, k: int, iters: int = 30) -> tuple[torch.Tensor, torch.Tensor]:
    """Task 6.4. Weight sharing of `values` (1-D, the kept weights of one matrix) in k levels, k-means
    as hw4's kmeans_share: the k levels start evenly spaced from min to max (torch.linspace, both
    included); each value takes the index of its nearest level (at a tie, the lower index); then
    `iters` times, or until no index changes, every level moves to the mean of its values (a level
    with none stays) and the indices are taken again. Returns (levels float32 (k,), indices int64
    (n,)), each value's index that of its nearest level among the returned ones.
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 2**MAX_BITS:
        raise ValueError(f"k must be an integer from 1 to {2**MAX_BITS}, got {k!r}")
    if values.dim() != 1 or values.numel() == 0:
        raise ValueError(f"values must be a non-empty 1-D tensor, got shape {tuple(values.shape)}")
    # HINT: (values[:, None] - levels[None, :]).abs().argmin(dim=1) gives every nearest level at once.
    raise NotImplementedError("Task 6.4: kmeans_levels is not implemented yet")


@torch.no_grad()
def compress(model: GPT, sparsity: float = 0.7, bits: int = 3) -> GPT:
    """Task 6.4. Steps 1 and 2 in place, and the model returned: global_masks over all the model's
    matrices at `sparsity`; in each matrix the pruned entries set to 0 and the kept ones replaced by
    their level from kmeans_levels(its kept weights, 2^bits). Vectors (LayerNorm) are left as they are.
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= MAX_BITS:
        raise ValueError(f"bits must be an integer from 1 to {MAX_BITS}, got {bits!r}")
    # HINT: model.state_dict() shares its tensors with the model: changing them in place changes the model.
    raise NotImplementedError("Task 6.4: compress is not implemented yet")


def to_events(codes: torch.Tensor, k: int) -> list[int]:
    """Task 6.4. The events of one matrix (module docstring, step 3) as a list of symbols:
    `codes` (n,) int64 in row-major order, -1 for a pruned weight, else the kept weight's level
    index 0 .. k - 1. A kept weight after r pruned ones (r < RUN) is r * k + j; RUN pruned
    weights in a row not yet followed by a kept one are the filler RUN * k; trailing pruned
    weights give nothing.
    """
    raise NotImplementedError("Task 6.4: to_events is not implemented yet")


def from_events(events: list[int], n: int, k: int) -> torch.Tensor:
    """Task 6.4. The codes (n,) int64 back from a matrix's events (to_events undone): -1 for every
    weight no event puts a kept weight on. ValueError if an event is outside 0 .. RUN * k or puts
    a kept weight past position n - 1."""
    raise NotImplementedError("Task 6.4: from_events is not implemented yet")


def table(events: list[int], k: int) -> list[int]:
    """Task 6.4. The static frequency table of a matrix's events: coder.quantize of their counts
    divided by their number (RUN * k + 1 symbols; every frequency >= 1, total 2^16), as a list of
    ints. No events: every symbol equally likely."""
    raise NotImplementedError("Task 6.4: table is not implemented yet")


def codes_of(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(levels, codes) of a pruned and shared matrix: its distinct nonzero values ascending (float32),
    and each entry's index among them, -1 where it is 0, row-major. ValueError beyond 2^MAX_BITS levels."""
    w = weight.detach().float().flatten().cpu()
    if not bool(torch.isfinite(w).all()):
        raise ValueError("a weight is NaN or infinite")
    kept = w != 0
    levels = torch.unique(w[kept])  # sorted ascending
    if len(levels) > 2**MAX_BITS:
        raise ValueError(
            f"a matrix holds {len(levels)} distinct nonzero values, more than {2**MAX_BITS}: compress the model first"
        )
    codes = torch.full(w.shape, -1, dtype=torch.int64)
    codes[kept] = torch.searchsorted(levels, w[kept])
    return levels, codes


def pack(model: GPT) -> bytes:
    """Task 6.4. The file of a compressed model (module docstring): every matrix must hold at most
    2^MAX_BITS distinct nonzero values (compress, finetune). Deterministic: the same model gives the
    same bytes, and unpack(pack(model)) holds exactly the model's float32 weights."""
    config = model.config
    if set(config) != set(CONFIG_KEYS) or not all(0 < int(config[key]) < 2**16 for key in CONFIG_KEYS):
        raise ValueError(f"model.config must hold {', '.join(CONFIG_KEYS)}, each from 1 to 65535; got {config}")
    # HINT: struct.pack("<5H", ...), "<B", "<I", f"<{n}f" and f"<{n}H" write the numbers; bytes join them.
    raise NotImplementedError("Task 6.4: pack is not implemented yet")


class Reader:
    """Reads pack's numbers in order from `data`; ValueError when the file ends early."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = bytes(data), 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"the file ends at byte {len(self.data)}, before the {n} bytes expected at byte {self.pos}")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def numbers(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def read_header(reader: Reader) -> GPT:
    """The model the header describes (its weights not yet read)."""
    if reader.take(4) != MAGIC:
        raise ValueError(f"not a squeezed model: the file does not start with {MAGIC!r}")
    return GPT(**dict(zip(CONFIG_KEYS, reader.numbers("5H"))))


def read_table(reader: Reader, k: int) -> list[int]:
    """A matrix's frequency table, the last frequency 2^16 minus the others; ValueError unless all >= 1."""
    stored = list(reader.numbers(f"{RUN * k}H"))
    freqs = stored + [2**TABLE_BITS - sum(stored)]
    if min(freqs) < 1:
        raise ValueError("a frequency table has a symbol of frequency 0 or sums past 2^16")
    return freqs


def unpack(data: bytes) -> GPT:
    """Task 6.4. The model of pack's file, in eval mode: gpt.GPT(**config) holding exactly the stored
    weights (each matrix's levels where its events put kept weights, 0 elsewhere). ValueError if the
    file does not follow the layout (too short, too long, a bad table or event)."""
    # HINT: Reader(data) and read_header, read_table (given) read the file in order; then
    # HINT: coder.Decoder(stream).decode(freqs) once per event, and from_events places them.
    raise NotImplementedError("Task 6.4: unpack is not implemented yet")


def breakdown(data: bytes) -> dict[str, int]:
    """Task 6.4. The bytes of each part of pack's file (module docstring), read from the file itself:
    {"header", "dense", "codebooks", "tables", "streams"}, summing to len(data). A matrix counts
    1 + 4k bytes of codebook (k and its levels), 2 RUN k of table, 8 + its stream's length of
    streams (the two counts and the stream)."""
    raise NotImplementedError("Task 6.4: breakdown is not implemented yet")


# -- the fine-tuning recipe: how model.sqz was made --------------------------------------------------


def batches(ids: torch.Tensor, batch: int, context: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """B windows of C + 1 consecutive characters at uniform starts: (inputs, targets), each (B, C)."""
    starts = torch.randint(len(ids) - context, (batch,), generator=generator)
    rows = ids[starts[:, None] + torch.arange(context + 1)]
    return rows[:, :-1], rows[:, 1:]


def sparsity_at(step: int, ramp: int, sparsity: float) -> float:
    """Zhu & Gupta's gradual schedule: s (1 - (1 - step / ramp)^3) until `ramp`, then s."""
    return sparsity * (1 - (1 - min(step, ramp) / ramp) ** 3) if ramp > 0 else sparsity


def finetune(
    model: GPT,
    ids: torch.Tensor,
    sparsity: float = 0.7,
    bits: int = 3,
    steps: int = 1500,
    batch: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    device: str = "cpu",
    log=None,
) -> GPT:
    """Task 6.4. The model compressed, fine-tuned on the text `ids` against its float32 self, and
    returned on the CPU in eval mode, ready for pack (at most 2^bits levels per matrix, exactly
    round(sparsity * N) of the N matrix entries 0). steps = 0: compress(model, sparsity, bits) only.

    The recipe: a frozen copy of the model is the teacher; the loss is the mean of the cross-entropy
    of the targets and the KL divergence from the teacher's next-character distribution; AdamW
    (no weight decay), the learning rate cosine-decayed from lr to lr / 10.
    - Pruning (the first half of the steps): every 10 steps over the first 60% of that half (T
      steps), the masks become global_masks(current weights, s_t), s_t = sparsity_at(t, T, sparsity)
      (Zhu & Gupta's schedule); after every step the pruned weights are set back to 0.
    - Quantization-aware training (the second half): the forward uses every kept weight replaced by
      its nearest level, the levels refitted by kmeans_levels every 25 steps, the gradient passed
      straight through to the float weights (straight-through estimator); at the end every matrix
      takes the shared values its forward used.
    `log(step, loss)`, if given, is called every 50 steps.
    """
    if steps < 0 or batch < 1:
        raise ValueError(f"steps must be >= 0 and batch >= 1, got {steps} and {batch}")
    model = model.to(device).float()
    if steps == 0:
        return compress(model, sparsity, bits).cpu().eval()
    # HINT: torch.func.functional_call(model, {name: weight used in the forward, ...}, (x,)) runs the
    # HINT: model with other weights; w + (q - w).detach() is q forward, the identity backward.
    raise NotImplementedError("Task 6.4: finetune is not implemented yet")


# -- the table of sizes -----------------------------------------------------------------------------


def stage_bytes(model: GPT, bits: int = 3) -> dict[str, int]:
    """The model's size in bytes at each stage of the pipeline, for the handout's table; vectors are
    float32 at every stage. "float32": 4 bytes a parameter; "pruned": each matrix as a bitmask of its
    entries (one bit each) and its nonzero entries as float32; "shared": the bitmask, a `bits`-bit
    index per nonzero entry and the matrix's distinct nonzero values as float32; "coded": len(pack(model))
    (needs a compressed model)."""
    state = model.state_dict()
    dense = 4 * sum(t.numel() for t in state.values() if t.dim() != 2)
    mats = [state[n] for n in matrices(state)]
    mask = sum(math.ceil(t.numel() / 8) for t in mats)
    kept = [int((t != 0).sum()) for t in mats]
    sizes = {
        "float32": 4 * sum(t.numel() for t in state.values()),
        "pruned": dense + mask + 4 * sum(kept),
        "shared": dense + mask + sum(math.ceil(n * bits / 8) + 4 * len(torch.unique(t[t != 0])) for n, t in zip(kept, mats)),
    }
    try:
        sizes["coded"] = len(pack(model))
    except ValueError:
        pass
    return sizes


def main(argv: list[str] | None = None) -> None:
    """Compress a float32 checkpoint (gpt.save) into a squeezed file; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=Path, default=Path("model.sqz"))
    p.add_argument("--steps", type=int, default=1500, help="fine-tuning steps (0: compress only)")
    p.add_argument("--sparsity", type=float, default=0.7)
    p.add_argument("--bits", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument(
        "--data", type=Path, help="the folder of train.txt and more_plays.txt (default: the course's datasets/shakespeare)"
    )
    p.add_argument("--valid", type=Path, help="a text to report bits per character on")
    a = p.parse_args(argv)
    model = load(a.checkpoint)
    data = a.data or Path(__file__).resolve().parents[2] / "datasets" / "shakespeare"
    ids = encode((data / "train.txt").read_text() + (data / "more_plays.txt").read_text())
    valid = encode(a.valid.read_text()) if a.valid else None
    if valid is not None:
        from train import bits_per_char  # task 6.1's rate, for the report (imported here: pack needs no train.py)
    before = bits_per_char(model, valid) if valid is not None else None
    start = time.perf_counter()
    squeezed = finetune(
        model, ids, a.sparsity, a.bits, a.steps, seed=a.seed, device=a.device, log=lambda s, x: print(f"step {s}: loss {x:.3f}")
    )
    seconds = time.perf_counter() - start
    packed = pack(squeezed)
    a.out.write_bytes(packed)
    file = a.checkpoint.stat().st_size
    print(
        f"{a.out}: {len(packed):,} bytes, {file / len(packed):.1f}x smaller than {a.checkpoint} ({file:,} bytes); fine-tuning {seconds:.0f} s"
    )
    print("parts: " + ", ".join(f"{k} {v:,}" for k, v in breakdown(packed).items()))
    if valid is not None:
        after = bits_per_char(unpack(packed), valid)
        print(f"{a.valid.name}: {before:.4f} -> {after:.4f} bits per character (+{100 * (after / before - 1):.2f}%)")


if __name__ == "__main__":
    main()
