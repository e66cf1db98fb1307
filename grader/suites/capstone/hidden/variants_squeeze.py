"""Capstone variants of squeeze.py (task 6.4), for `course audit capstone`: realistic mistakes, one
each, and other correct formulations.

squeeze.py's tests run it with the course's coder and weights chosen by the graders, and task 6.6
grades the submitted model.sqz through the student's unpack: in an audit, the reference's file, or
for a variant on pack's path the file its own pack writes of the reference's compressed model
(variants.remake_artifacts). A mistake that leaves that file unreadable by its own unpack costs 6.6
too (from_events not advancing past a kept weight; a run of RUN before the filler, which its
from_events reads otherwise; a table that is not stored, or has a frequency of 0), while unpack left
in training mode does not (6.6 calls eval() itself)."""

from grader.audit import Variant

FLAT = "    flat = torch.cat([w.detach().abs().flatten() for w in weights.values()])\n"
COUNT = "    pruned = round(sparsity * flat.numel())\n"
GLOBAL_BODY = (
    FLAT
    + COUNT
    + "    order = torch.argsort(flat, stable=True)\n"
    + "    keep = torch.ones(flat.numel(), dtype=torch.bool, device=flat.device)\n"
    + "    keep[order[:pruned]] = False\n"
    + "    parts = keep.split([w.numel() for w in weights.values()])\n"
    + "    return {name: part.view(w.shape) for (name, w), part in zip(weights.items(), parts)}\n"
)
PER_LAYER_BODY = (
    "    out = {}\n"
    "    for name, w in weights.items():\n"
    "        flat = w.detach().abs().flatten()\n"
    "        keep = torch.ones(flat.numel(), dtype=torch.bool, device=flat.device)\n"
    "        keep[torch.argsort(flat, stable=True)[: round(sparsity * flat.numel())]] = False\n"
    "        out[name] = keep.view(w.shape)\n"
    "    return out\n"
)
LEVELS = "            levels, indices = kmeans_levels(w[mask], 2**bits)\n"
MEANS = "        levels = torch.where(counts > 0, sums / counts.clamp(min=1), levels)\n"
NEAREST_AGAIN = "        new = (w[:, None] - levels[None, :]).abs().argmin(dim=1)\n"
FILLER = "            if run == RUN:\n"
PLACE = "        codes[pos] = level\n        pos += 1\n"
PROBS = "    probs = counts / counts.sum() if events else torch.full((size,), 1 / size, dtype=torch.float64)\n"
QUANTIZED = "    return [int(f) for f in coder.quantize(probs, TABLE_BITS)]\n"
TABLE_WRITTEN = '            struct.pack(f"<{RUN * k}H", *freqs[:-1]),\n'
CODEBOOK_COUNTED = '        reader.take(4 * k)\n        parts["codebooks"] += reader.pos - start\n'
STREAM_START = '        start = reader.pos\n        _, length = reader.numbers("II")\n'
EVAL = "    model.load_state_dict(state)\n    return model.eval()\n"
WRITE_BACK = "    with torch.no_grad():\n        for n in names:\n            params[n].copy_(shared(n))\n"

WRONG = [
    Variant("masks_by_signed_value", "squeeze.py", FLAT, FLAT.replace(".abs()", ""), ("6.4",), says="rank by magnitude |w|"),
    Variant("masks_per_layer", "squeeze.py", GLOBAL_BODY, PER_LAYER_BODY, ("6.4",), says="one ranking of all N entries"),
    Variant("mask_count_truncated", "squeeze.py", COUNT, COUNT.replace("round(", "int("), ("6.4",), says="int() truncates"),
    Variant(
        "mask_keeps_one_too_many",
        "squeeze.py",
        "    keep[order[:pruned]] = False\n",
        "    keep[order[: pruned - 1]] = False\n",
        ("6.4",),
        says="off by one",
    ),
    Variant(
        "levels_fitted_with_the_pruned_zeros",
        "squeeze.py",
        LEVELS,
        "            levels, _ = kmeans_levels(w.flatten(), 2**bits)\n"
        "            indices = (w[mask][:, None] - levels[None, :]).abs().argmin(dim=1)\n",
        ("6.4",),
        says="pruned zeros included",
    ),
    Variant("kmeans_levels_never_move", "squeeze.py", MEANS, "", ("6.4",), says="the starting levels"),
    Variant(
        "run_reaches_RUN_before_the_filler",
        "squeeze.py",
        FILLER,
        "            if run > RUN:\n",
        ("6.4", "6.6"),
        says="a run of RUN pruned weights is the filler",
    ),
    Variant(
        "from_events_position_not_advanced",
        "squeeze.py",
        PLACE,
        "        codes[pos] = level\n",
        ("6.4", "6.6"),
        says="a symbol s < RUN·k is a run r = s // k",
    ),
    Variant(
        "table_rounded_without_quantize",
        "squeeze.py",
        QUANTIZED,
        "    return [round(float(p) * 2**TABLE_BITS) for p in probs]\n",
        ("6.4", "6.6"),
        says="of frequency 0",
    ),
    Variant("table_not_stored", "squeeze.py", TABLE_WRITTEN, "", ("6.4", "6.6"), says="holds no frequency tables"),
    Variant(
        "breakdown_without_codebooks",
        "squeeze.py",
        CODEBOOK_COUNTED,
        '        reader.take(4 * k)\n        parts["codebooks"] += 1\n',
        ("6.4",),
        says="per matrix 1 + 4k",
    ),
    Variant(
        "breakdown_streams_without_their_counts",
        "squeeze.py",
        STREAM_START,
        '        _, length = reader.numbers("II")\n        start = reader.pos\n',
        ("6.4",),
        says="the event count and the length as uint32",
    ),
    Variant(
        "unpack_left_in_training_mode",
        "squeeze.py",
        EVAL,
        "    model.load_state_dict(state)\n    return model\n",
        ("6.4",),
        says="eval mode",
    ),
    Variant("finetune_float_weights_not_written_back", "squeeze.py", WRITE_BACK, "", ("6.4",), says="distinct nonzero values"),
]

CORRECT = [
    Variant(
        "masks_keep_the_largest_sorted_descending",
        "squeeze.py",
        "    order = torch.argsort(flat, stable=True)\n"
        "    keep = torch.ones(flat.numel(), dtype=torch.bool, device=flat.device)\n"
        "    keep[order[:pruned]] = False\n",
        "    order = torch.argsort(flat, descending=True, stable=True)\n"
        "    keep = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)\n"
        "    keep[order[: flat.numel() - pruned]] = True\n",
    ),
    Variant(
        "kmeans_nearest_by_midpoints",
        "squeeze.py",
        NEAREST_AGAIN,
        "        new = torch.bucketize(w, (levels[1:] + levels[:-1]) / 2)\n",
    ),
    Variant(
        "kmeans_means_level_by_level",
        "squeeze.py",
        MEANS,
        "        levels = torch.stack([w[indices == j].mean() if bool((indices == j).any()) else levels[j] for j in range(k)])\n",
    ),
    Variant(
        "table_from_float32_probabilities",
        "squeeze.py",
        PROBS,
        "    probs = counts.float() / counts.sum().float() if events else torch.full((size,), 1 / size)\n",
    ),
    Variant(
        "from_events_with_a_while_loop",
        "squeeze.py",
        "    pos = 0\n    for e in events:\n        if not 0 <= e <= RUN * k:\n",
        "    pos, i = 0, 0\n    while i < len(events):\n        e = events[i]\n        i += 1\n        if not 0 <= e <= RUN * k:\n",
    ),
]
