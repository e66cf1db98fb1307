# -- task 6.4: squeeze.py --------------------------------------------------------------------------
# The student's squeeze.py runs with the course's own entropy coder in place of the student's
# coder.py (squeeze_course_coder: an rANS coder, not the handout's arithmetic coder, which these
# drivers, shipped with the course, must not give away), so that task 6.4 grades the compression and
# not task 6.2's coder:
# the grading side decodes the streams pack writes with the same course coder, and builds the files
# it gives unpack with it. Student code can replace anything here, so nothing returned is trusted.
# ruff: noqa: F821 - student_gpt and state_of are 00_common.py's, in the joined module
# mypy: disable-error-code="name-defined,attr-defined"

import bisect
import importlib
import itertools

import torch

squeeze_L = 1 << 31  # the state of the course's coder stays in [L, 256 L) between symbols
squeeze_STATE_BYTES = 5


def squeeze_quantize(probs, bits: int = 16) -> list:
    """The course's quantize (not the handout's rule; any valid table serves here): each frequency
    max(1, round(p 2**bits)), then the excess or shortfall taken from or given to the largest."""
    p = torch.as_tensor(probs, dtype=torch.float64).flatten()
    V, M = len(p), 1 << int(bits)
    if not V or V > M or bool((p < 0).any()) or not 0.99 <= float(p.sum()) <= 1.01:
        raise ValueError(f"quantize: need {V} probabilities >= 0 summing to 1 with 2**bits >= {V}")
    freqs = [max(1, round(x)) for x in (p / p.sum() * M).tolist()]
    order = sorted(range(V), key=lambda i: -freqs[i])
    diff, i = M - sum(freqs), 0
    while diff:
        j = order[i % V]
        step = 1 if diff > 0 else -1
        if freqs[j] + step >= 1:
            freqs[j] += step
            diff -= step
        i += 1
    return freqs


def squeeze_cumulative(freqs) -> tuple[list, int]:
    key = [int(f) for f in freqs]
    total = sum(key)
    if min(key) < 0 or total < 1 or total > 1 << 16 or total & (total - 1):
        raise ValueError("the course's coder takes frequencies >= 0 whose total is a power of two up to 2**16 (coder.quantize's)")
    return [0, *itertools.accumulate(key)], total


class squeeze_Encoder:  # noqa: N801 - the part's prefix
    """The course's coder, an rANS coder (Duda 2013), not the handout's: encode(symbol, freqs) for
    each symbol, then finish() codes them all, last first, into bytes."""

    def __init__(self) -> None:
        self.symbols: list = []
        self.last: tuple = (None, None)

    def encode(self, symbol: int, freqs) -> None:
        if freqs is not self.last[0]:
            self.last = (freqs, squeeze_cumulative(freqs))
        cum, total = self.last[1]
        symbol = int(symbol)
        if not 0 <= symbol < len(cum) - 1 or cum[symbol + 1] == cum[symbol]:
            raise ValueError(f"symbol {symbol} has no frequency in a table of {len(cum) - 1} symbols: it cannot be coded")
        self.symbols.append((cum[symbol], cum[symbol + 1] - cum[symbol], total))

    def finish(self) -> bytes:
        x, out = squeeze_L, bytearray()
        for start, f, total in reversed(self.symbols):
            limit = ((squeeze_L // total) << 8) * f
            while x >= limit:
                out.append(x & 255)
                x >>= 8
            x = (x // f) * total + x % f + start
        return x.to_bytes(squeeze_STATE_BYTES, "big") + bytes(reversed(out))


class squeeze_Decoder:  # noqa: N801
    """The decoder of squeeze_Encoder's streams: decode(freqs) once per symbol, in order."""

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        self.x = int.from_bytes(self.data[:squeeze_STATE_BYTES].ljust(squeeze_STATE_BYTES, b"\0"), "big")
        self.pos = squeeze_STATE_BYTES
        self.last: tuple = (None, None)

    def decode(self, freqs) -> int:
        if freqs is not self.last[0]:
            self.last = (freqs, squeeze_cumulative(freqs))
        cum, total = self.last[1]
        slot = self.x % total
        symbol = bisect.bisect_right(cum, slot) - 1
        self.x = (cum[symbol + 1] - cum[symbol]) * (self.x // total) + slot - cum[symbol]
        while self.x < squeeze_L:
            byte = self.data[self.pos] if self.pos < len(self.data) else 0
            self.pos += 1
            self.x = (self.x << 8) | byte
        return symbol


squeeze_CODER = {"quantize": squeeze_quantize, "Encoder": squeeze_Encoder, "Decoder": squeeze_Decoder}


class squeeze_course_coder:  # noqa: N801
    """`with squeeze_course_coder() as sq:` the student's squeeze module, its coder.quantize, Encoder
    and Decoder (and the names squeeze took from coder with `from coder import ...`) replaced by the
    course's for the block, restored after it."""

    def __enter__(self):
        self.squeeze = importlib.import_module("squeeze")
        coder = importlib.import_module("coder")
        self.saved = []
        for name, ours in squeeze_CODER.items():
            theirs = getattr(coder, name, None)
            for holder in (coder, self.squeeze):
                if holder is coder or (theirs is not None and getattr(holder, name, None) is theirs):
                    self.saved.append((holder, name, holder.__dict__.get(name, squeeze_course_coder)))
                    setattr(holder, name, ours)
        return self.squeeze

    def __exit__(self, *exc):
        for holder, name, value in reversed(self.saved):
            if value is squeeze_course_coder:
                delattr(holder, name)
            else:
                setattr(holder, name, value)
        return False


def squeeze_calls(name: str, cases: list) -> list:
    """squeeze.<name>(*args) for each args of `cases`, with the course's coder: the raw outputs."""
    with squeeze_course_coder() as sq:
        return [getattr(sq, name)(*args) for args in cases]


def squeeze_compress(config: dict, state: dict, sparsity: float, bits: int) -> dict:
    """squeeze.compress on the student's GPT holding `state`: whether it returned that model, and
    the model's state afterwards."""
    model = student_gpt(config, state)
    returned = importlib.import_module("squeeze").compress(model, sparsity, bits)
    return {"same": returned is model, "state": state_of(model)}


def squeeze_pack(config: dict, states: list) -> list:
    """squeeze.pack of the student's GPT holding each of `states`, with the course's coder: the bytes."""
    with squeeze_course_coder() as sq:
        return [sq.pack(student_gpt(config, state)) for state in states]


def squeeze_unpack(files: list) -> list:
    """squeeze.unpack of each file's bytes, with the course's coder: the model's type, config,
    whether it is in training mode, and its state (floats as they are)."""
    out = []
    with squeeze_course_coder() as sq:
        for data in files:
            model = sq.unpack(bytes(data))
            out.append(
                {
                    "type": type(model).__name__,
                    "config": getattr(model, "config", None),
                    "training": getattr(model, "training", None),
                    "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
                }
            )
    return out


def squeeze_finetune(config: dict, state: dict, ids, sparsity: float, bits: int, steps: int, batch: int, seed: int) -> dict:
    """squeeze.finetune of the student's GPT holding `state` on the text `ids`, one thread: the
    returned model's state."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = student_gpt(config, state)
        out = importlib.import_module("squeeze").finetune(
            model, torch.as_tensor(ids), sparsity, bits, steps, batch=batch, seed=seed
        )
        return state_of(out)
    finally:
        torch.set_num_threads(threads)
