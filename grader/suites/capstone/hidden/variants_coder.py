"""Capstone variants of coder.py (tasks 6.2 and 6.3), for `course audit capstone`: realistic mistakes,
one each, and other correct formulations.

compress_text and decompress_text are built on the student's own quantize, Encoder and Decoder, so a
coder mistake that shows on 6.3's texts costs 6.3 too, and one that leaves the student's own
model.sqz unreadable by the student's own unpack costs 6.6 (the audit packs the model.sqz of each
variant on pack's path with its own code: variants.remake_artifacts); each `loses` is what the
variant was measured to lose over the whole suite. 6.3's texts are fixed (not seeded), so those verdicts do not change
with the seeds; they include a character the graders' weights give probability 0 (a frequency of 0
fails there too) and short texts of many bit counts (a termination or padding mistake fails there).
"""

from grader.audit import Variant

QUANTIZE = (
    "    V, M = len(p), 1 << bits\n"
    "    w = np.floor(p * float(1 << (62 - bits))).astype(np.int64)\n"
    "    q, rem = np.divmod(w * (M - V), int(w.sum()))\n"
    "    f = 1 + q\n"
    '    order = np.argsort(-rem, kind="stable")  # the largest remainders first, ties by index\n'
    "    f[order[: M - int(f.sum())]] += 1\n"
    "    return f.tolist()\n"
)
ENCODER_E3 = (
    "            elif self.low >= QUARTER and self.high < HALF + QUARTER:  # E3\n"
    "                self.pending += 1\n"
    "                self.low, self.high = self.low - QUARTER, self.high - QUARTER\n"
)
DECODER_E3 = (
    "            elif self.low >= QUARTER and self.high < HALF + QUARTER:  # E3\n"
    "                self.low, self.high, self.value = self.low - QUARTER, self.high - QUARTER, self.value - QUARTER\n"
)
ENCODER_NARROW = (
    "        c_lo, total = sum(f[:symbol]), sum(f)\n"
    "        r = self.high - self.low + 1\n"
    "        self.high = self.low + r * (c_lo + f[symbol]) // total - 1\n"
    "        self.low = self.low + r * c_lo // total\n"
)
DECODER_FIND = (
    "        cum = list(accumulate(f))\n"
    "        total = cum[-1]\n"
    "        r = self.high - self.low + 1\n"
    "        c = ((self.value - self.low + 1) * total - 1) // r\n"
    "        symbol = bisect_right(cum, c)\n"
    "        c_lo = cum[symbol] - f[symbol]\n"
    "        self.high = self.low + r * cum[symbol] // total - 1\n"
    "        self.low = self.low + r * c_lo // total\n"
)
TERMINATION = "            self.send(1)  # the point 1/2 of the final interval; the pending 0s that follow are dropped below\n"
SEND = "        self.bits += [bit] + [1 - bit] * self.pending\n"
CEIL = "        n_bytes = -(-len(self.bits) // 8)  # ceil\n"
COMPRESS_STEP = "            logits, cache = model.step(torch.tensor([x]), cache)\n            encoder.encode(c, next_frequencies(logits[0]))\n"
COMPRESS_RESET = (
    "            if i % model.context == 0:\n                cache = None\n            x = gpt.START if i == 0 else ids[i - 1]\n"
)
DECOMPRESS_RESET = (
    "            if i % model.context == 0:\n                cache = None\n            x = gpt.START if i == 0 else ids[-1]\n"
)
HEADER_OUT = '    return len(ids).to_bytes(HEADER_BYTES, "big") + encoder.finish()\n'
HEADER_IN = '    n = int.from_bytes(data[:HEADER_BYTES], "big")\n'

WRONG = [
    Variant(
        "quantize_rounds_without_a_floor_of_one",
        "coder.py",
        QUANTIZE,
        "    M = 1 << bits\n"
        "    f = np.round(p * M).astype(np.int64)  # the nearest count\n"
        "    f[np.argmax(f)] += M - int(f.sum())  # the sum made exact on the likeliest symbol\n"
        "    return f.tolist()\n",
        ("6.2", "6.3", "6.6"),
        says="frequency 0 (or less) for symbols",
    ),
    Variant(
        "no_underflow_e3",
        "coder.py",
        ENCODER_E3,
        "",
        ("6.2",),
        says="underflow (E3, pending bits) is not handled",
        also=(("coder.py", DECODER_E3, ""),),
    ),
    Variant(
        "float_cumulative_probabilities",
        "coder.py",
        ENCODER_NARROW,
        "        cdf = np.cumsum([0.0] + f) / sum(f)  # the cumulative probabilities\n"
        "        r = self.high - self.low + 1\n"
        "        self.high = self.low + int(r * cdf[symbol + 1]) - 1\n"
        "        self.low = self.low + int(r * cdf[symbol])\n",
        ("6.2", "6.3"),
        says="floating-point cumulative probabilities",
        also=(
            (
                "coder.py",
                DECODER_FIND,
                "        cdf = np.cumsum([0.0] + f) / sum(f)\n"
                "        r = self.high - self.low + 1\n"
                '        symbol = min(int(np.searchsorted(cdf, (self.value - self.low) / r, side="right")) - 1, len(f) - 1)\n'
                "        self.high = self.low + int(r * cdf[symbol + 1]) - 1\n"
                "        self.low = self.low + int(r * cdf[symbol])\n",
            ),
        ),
    ),
    Variant(
        "termination_one_bit_short",
        "coder.py",
        TERMINATION,
        "            self.send(0 if self.low < QUARTER else 1)  # WNC's done_encoding, without its pending += 1\n",
        ("6.2", "6.3"),
        says="the termination is too short",
    ),
    Variant(
        "padding_drops_the_last_partial_byte",
        "coder.py",
        CEIL,
        "        n_bytes = len(self.bits) // 8\n",
        ("6.2", "6.3", "6.6"),
        says="padding miscounted",
    ),
    Variant(
        "pending_bits_not_inverted",
        "coder.py",
        SEND,
        "        self.bits += [bit] + [bit] * self.pending\n",
        ("6.2", "6.3", "6.6"),
        says="E3 is not mirrored exactly",
    ),
    Variant(
        "decoder_e3_forgets_value",
        "coder.py",
        DECODER_E3,
        "            elif self.low >= QUARTER and self.high < HALF + QUARTER:  # E3\n"
        "                self.low, self.high = self.low - QUARTER, self.high - QUARTER\n",
        ("6.2", "6.3", "6.6"),
        says="E3 is not mirrored exactly",
    ),
    Variant(
        "encoder_uses_the_full_forward",
        "coder.py",
        COMPRESS_STEP,
        "            if i % model.context == 0:  # one forward per window: faster than a step per character\n"
        "                end = min(i + model.context, len(ids))\n"
        "                rows = model(torch.tensor([[gpt.START if j == 0 else ids[j - 1] for j in range(i, end)]]))[0]\n"
        "            encoder.encode(c, next_frequencies(rows[i % model.context]))\n",
        ("6.3",),
        says="a forward over a whole window rounds differently",
    ),
    Variant(
        "cache_never_reset",
        "coder.py",
        COMPRESS_RESET,
        "            x = gpt.START if i == 0 else ids[i - 1]\n",
        ("6.3",),
        says="past the context",
        also=(("coder.py", DECOMPRESS_RESET, "            x = gpt.START if i == 0 else ids[-1]\n"),),
    ),
    Variant(
        "header_little_endian",
        "coder.py",
        HEADER_OUT,
        '    return len(ids).to_bytes(HEADER_BYTES, "little") + encoder.finish()\n',
        ("6.3",),
        says="big-endian",
        also=(("coder.py", HEADER_IN, '    n = int.from_bytes(data[:HEADER_BYTES], "little")\n'),),
    ),
    Variant(
        "header_counts_the_stream_bytes",
        "coder.py",
        HEADER_OUT,
        '    stream = encoder.finish()\n    return len(stream).to_bytes(HEADER_BYTES, "big") + stream\n',
        ("6.3",),
        says="not the number of characters",
    ),
]

CORRECT = [
    Variant(
        "quantize_in_python_ints",
        "coder.py",
        QUANTIZE,
        "    V, M, S = len(p), 1 << bits, 62 - bits\n"
        "    w = [int(x * 2.0**S) for x in p.tolist()]  # exact, and >= 0: int() is floor\n"
        "    W = sum(w)\n"
        "    f = [1 + wi * (M - V) // W for wi in w]\n"
        "    ranked = sorted(range(V), key=lambda i: (-(w[i] * (M - V) % W), i))\n"
        "    for i in ranked[: M - sum(f)]:\n"
        "        f[i] += 1\n"
        "    return f\n",
    ),
    Variant(
        "quantize_in_torch",
        "coder.py",
        QUANTIZE,
        "    V, M = len(p), 1 << bits\n"
        "    w = torch.floor(torch.from_numpy(p) * 2.0 ** (62 - bits)).long()\n"
        "    total = (w * (M - V)).div(w.sum(), rounding_mode='floor')\n"
        "    rem = w * (M - V) - total * w.sum()\n"
        "    f = 1 + total\n"
        "    order = torch.sort(-rem, stable=True).indices\n"
        "    f[order[: M - int(f.sum())]] += 1\n"
        "    return f.tolist()\n",
    ),
    Variant(
        "decoder_linear_search",
        "coder.py",
        "        symbol = bisect_right(cum, c)\n",
        "        symbol = 0\n        while cum[symbol] <= c:  # the first symbol whose share ends above c\n            symbol += 1\n",
    ),
    Variant(
        "registers_of_48_bits",
        "coder.py",
        "PRECISION = 32  # bits of low and high\n",
        "PRECISION = 48  # bits of low and high\n",
    ),
    Variant(
        "wnc_termination",
        "coder.py",
        TERMINATION,
        "            self.pending += 1  # WNC's done_encoding: two bits, 01 or 10, the second followed by the pending ones\n"
        "            self.send(0 if self.low < QUARTER else 1)\n",
    ),
    Variant(
        "softmax_in_float64",
        "coder.py",
        '    return quantize(torch.softmax(logits.detach().to("cpu", torch.float32), dim=-1))\n',
        '    return quantize(torch.softmax(logits.detach().to("cpu", torch.float64), dim=-1))\n',
    ),
]
