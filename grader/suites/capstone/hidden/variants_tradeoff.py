"""Capstone variants of tradeoff.py's task 6.5 (baseline_bits, ideal_bits, rate, adjusted_rate,
crossover_length, size_curve, stage_rows), for `course audit capstone`: realistic mistakes, one
each, and other correct formulations. Plain arithmetic on numbers the tests choose: they lose 6.5 alone."""

from grader.audit import Variant

GZIP = '        "gzip": 8 * len(gzip.compress(data, compresslevel=9)),\n'
XZ = '        "xz": 8 * len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)),\n'
BASELINES = "    return {\n" + GZIP + '        "bz2": 8 * len(bz2.compress(data, compresslevel=9)),\n' + XZ + "    }\n"
IDEAL = "    return float(-picked.sum() / math.log(2))\n"
ADJUSTED = "    return (8 * model_bytes + code_bits) / n_chars\n"
SAVED = "    saved = baseline_bpc - model_bpc  # bits per character the model saves\n"
CROSSOVER = "    return 8 * model_bytes / saved\n"
RATIO = '"ratio": first_bytes / size'

_WRONG = [
    Variant("ideal_bits_in_nats", "tradeoff.py", IDEAL, "    return float(-picked.sum())\n", ("6.5",), says="in nats, not bits"),
    Variant(
        "adjusted_rate_model_in_bytes",
        "tradeoff.py",
        ADJUSTED,
        "    return (model_bytes + code_bits) / n_chars\n",
        ("6.5",),
        says="the model's size is in bytes",
    ),
    Variant(
        "crossover_model_bits_not_bytes",
        "tradeoff.py",
        CROSSOVER,
        "    return model_bytes / saved\n",
        ("6.5",),
        says="the model's size is in bytes",
    ),
    Variant(
        "crossover_wrong_sign",
        "tradeoff.py",
        SAVED,
        "    saved = model_bpc - baseline_bpc\n",
        ("6.5",),
        says="it saves baseline_bpc - model_bpc",
    ),
    Variant(
        "xz_at_its_default_preset",
        "tradeoff.py",
        XZ,
        '        "xz": 8 * len(lzma.compress(data)),\n',
        ("6.5",),
        says="default preset",
    ),
    Variant(
        "gzip_as_zlib",
        "tradeoff.py",
        GZIP,
        '        "gzip": 8 * len(__import__("zlib").compress(data, 9)),\n',
        ("6.5",),
        says="zlib's stream",
    ),
    Variant(
        "baselines_in_bytes",
        "tradeoff.py",
        BASELINES,
        "    return {\n"
        '        "gzip": len(gzip.compress(data, compresslevel=9)),\n'
        '        "bz2": len(bz2.compress(data, compresslevel=9)),\n'
        '        "xz": len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)),\n'
        "    }\n",
        ("6.5",),
        says="the size in bytes, not bits",
    ),
    Variant("ratio_inverted", "tradeoff.py", RATIO, '"ratio": size / first_bytes', ("6.5",), says="inverted"),
    Variant(
        "increase_in_percent",
        "tradeoff.py",
        '"increase": bpc / first_bpc - 1',
        '"increase": 100 * (bpc / first_bpc - 1)',
        ("6.5",),
        says="a percentage",
    ),
]

_CORRECT = [
    Variant(
        "baselines_by_compressor_objects",
        "tradeoff.py",
        BASELINES,
        "    import io\n"
        "\n"
        "    buffer = io.BytesIO()\n"
        '    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9, mtime=0) as f:\n'
        "        f.write(data)\n"
        "    b, x = bz2.BZ2Compressor(9), lzma.LZMACompressor(preset=9 | lzma.PRESET_EXTREME)\n"
        "    return {\n"
        '        "gzip": 8 * len(buffer.getvalue()),\n'
        '        "bz2": 8 * len(b.compress(data) + b.flush()),\n'
        '        "xz": 8 * len(x.compress(data) + x.flush()),\n'
        "    }\n",
    ),
    Variant(
        "ideal_bits_by_indexing_in_float32",
        "tradeoff.py",
        "    picked = log_probs.double().gather(1, targets.long()[:, None])\n" + IDEAL,
        "    picked = log_probs[torch.arange(len(targets)), targets.long()]\n"
        "    return -picked.sum().item() * math.log2(math.e)\n",
    ),
    Variant(
        "crossover_compared_first",
        "tradeoff.py",
        SAVED + "    if saved <= 0:\n        return math.inf\n" + CROSSOVER,
        "    if model_bpc >= baseline_bpc:\n        return float('inf')\n"
        "    return model_bytes * 8.0 / (baseline_bpc - model_bpc)\n",
    ),
]


# The default audit grades these (each is a whole submission graded); the others are audited by
# `course audit capstone --extra`, every one measured to lose 6.5 alone, naming its mistake.
WRONG = [
    v
    for v in _WRONG
    if v.name
    in [
        "ideal_bits_in_nats",
        "adjusted_rate_model_in_bytes",
        "crossover_model_bits_not_bytes",
        "xz_at_its_default_preset",
        "crossover_wrong_sign",
    ]
]
EXTRA_WRONG = [v for v in _WRONG if v not in WRONG]
CORRECT = [v for v in _CORRECT if v.name in ["baselines_by_compressor_objects"]]
EXTRA_CORRECT = [v for v in _CORRECT if v not in CORRECT]
