"""Capstone variants of train.py's task 6.1 (lr_at, get_batch, bits_per_char, param_groups, train),
for `course audit capstone`: realistic mistakes, one each, and other correct formulations. The tests
run the student's functions on the course's own models (CourseGPT), so these lose 6.1 alone."""

from grader.audit import Variant

WARMUP = "        return lr * (step + 1) / warmup\n"
U = "    u = (step - warmup) / (steps - warmup)\n"
COSINE = "    return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * u)) / 2\n"
STARTS = "    starts = torch.randint(len(ids) - context, (batch,), generator=generator)\n"
TARGETS = "    y = ids[starts[:, None] + offsets + 1]\n"
BITS = "    return nats / math.log(2) / len(ids)\n"
READING = (
    "    full = [p for p in pairs if len(p[1]) == model.context]\n"
    "    nats = 0.0\n"
    "    for i in range(0, len(full), batch):\n"
    "        x = torch.stack([p[0] for p in full[i : i + batch]]).to(device)\n"
    "        y = torch.stack([p[1] for p in full[i : i + batch]]).to(device)\n"
    '        nats += F.cross_entropy(model(x).flatten(0, 1).float(), y.flatten(), reduction="sum").item()\n'
    "    for x, y in pairs[len(full) :]:\n"
    '        nats += F.cross_entropy(model(x[None].to(device))[0].float(), y.to(device), reduction="sum").item()\n'
    "    return nats / math.log(2) / len(ids)\n"
)
LAST_WINDOW = (
    "    for x, y in pairs[len(full) :]:\n"
    '        nats += F.cross_entropy(model(x[None].to(device))[0].float(), y.to(device), reduction="sum").item()\n'
    "    return nats / math.log(2) / len(ids)\n"
)
GROUPS = (
    '        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},\n'
    '        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},\n'
)
SET_LR = '        for group in optimizer.param_groups:\n            group["lr"] = rate\n'
CLIP = '        nn.utils.clip_grad_norm_(model.parameters(), t["clip"])\n'
STEP = "        optimizer.step()\n"
ADAMW = '    optimizer = torch.optim.AdamW(param_groups(model, t["weight_decay"]), lr=t["lr"], betas=(0.9, 0.95))\n'
VALID = '            history["valid"].append((step + 1, bits_per_char(model, valid, device)))\n'

_WRONG = [
    Variant(
        "warmup_off_by_one",
        "train.py",
        WARMUP,
        "        return lr * step / warmup\n",
        ("6.1",),
        says="the warmup is one step late",
    ),
    Variant(
        "cosine_ends_at_zero",
        "train.py",
        COSINE,
        "    return lr * (1 + math.cos(math.pi * u)) / 2\n",
        ("6.1",),
        says="the cosine ends at 0, not at min_lr",
    ),
    Variant("cosine_from_step_zero", "train.py", U, "    u = step / steps\n", ("6.1",), says="the cosine starts at step 0"),
    Variant(
        "cosine_reaches_min_lr_at_the_last_step",
        "train.py",
        U,
        "    u = (step - warmup) / max(steps - warmup - 1, 1)\n",
        ("6.1",),
        says="steps - warmup - 1",
    ),
    Variant(
        "targets_not_shifted",
        "train.py",
        TARGETS,
        "    y = ids[starts[:, None] + offsets]\n",
        ("6.1",),
        says="y is x, not shifted by one",
    ),
    Variant(
        "last_start_never_drawn",
        "train.py",
        STARTS,
        STARTS.replace("len(ids) - context", "len(ids) - context - 1"),
        ("6.1",),
        says="was never drawn",
    ),
    Variant(
        "start_past_the_end",
        "train.py",
        STARTS,
        STARTS.replace("len(ids) - context", "len(ids) - context + 1"),
        ("6.1",),
        says="a start past len(ids) - context - 1",
    ),
    Variant(
        "starts_from_the_global_generator",
        "train.py",
        STARTS,
        "    starts = torch.randint(len(ids) - context, (batch,))\n",
        ("6.1",),
        says="draw the starts from `generator`",
    ),
    Variant("bits_in_nats", "train.py", BITS, "    return nats / len(ids)\n", ("6.1",), says="in nats, not bits"),
    Variant(
        "bits_mean_over_windows",
        "train.py",
        READING,
        "    means = [\n"
        "        F.cross_entropy(model(x[None].to(device))[0].float(), y.to(device)).item() / math.log(2) for x, y in pairs\n"
        "    ]\n"
        "    return sum(means) / len(means)\n",
        ("6.1",),
        says="the mean over windows, not over characters",
    ),
    Variant(
        "bits_last_window_left_out",
        "train.py",
        LAST_WINDOW,
        "    return nats / math.log(2) / (len(full) * model.context)\n",
        ("6.1",),
        says="the last, shorter window is left out",
    ),
    Variant(
        "decay_on_everything",
        "train.py",
        GROUPS,
        '        {"params": params, "weight_decay": weight_decay},\n',
        ("6.1",),
        says="LayerNorm's gains and biases decay",
    ),
    Variant(
        "decay_on_linear_weights_only",
        "train.py",
        GROUPS,
        '        {"params": [p for m in model.modules() if isinstance(m, nn.Linear) for p in [m.weight]], "weight_decay": weight_decay},\n'
        '        {"params": [p for m in model.modules() if not isinstance(m, nn.Linear) for p in m.parameters(recurse=False)],\n'
        '         "weight_decay": 0.0},\n',
        ("6.1",),
        says="the embeddings do not decay",
    ),
    Variant("schedule_not_applied", "train.py", SET_LR, "", ("6.1",), says="it stayed at lr"),
    Variant(
        "schedule_set_after_the_step",
        "train.py",
        SET_LR + "        x, y = get_batch(",
        "        x, y = get_batch(",
        ("6.1",),
        says="the previous step's rate",
        also=(("train.py", STEP, STEP + SET_LR),),
    ),
    Variant("no_clipping", "train.py", CLIP, "", ("6.1",), says="the gradients are not clipped"),
    Variant("clipped_after_the_step", "train.py", CLIP + STEP, STEP + CLIP, ("6.1",), says="the gradients are not clipped"),
    Variant(
        "adam_not_adamw",
        "train.py",
        ADAMW,
        ADAMW.replace("torch.optim.AdamW", "torch.optim.Adam"),
        ("6.1",),
        says="not torch.optim.AdamW",
    ),
    Variant("default_betas", "train.py", ADAMW, ADAMW.replace(", betas=(0.9, 0.95)", ""), ("6.1",), says="AdamW's betas"),
    Variant(
        "valid_on_the_training_text",
        "train.py",
        VALID,
        VALID.replace("bits_per_char(model, valid, device)", "bits_per_char(model, ids, device)"),
        ("6.1",),
        says="the rate on the training text",
    ),
    Variant(
        "loss_history_in_bits",
        "train.py",
        '        history["loss"].append(loss.item())\n',
        '        history["loss"].append(loss.item() / math.log(2))\n',
        ("6.1",),
        says="it looks like bits",
    ),
]

_CORRECT = [
    Variant("cosine_as_half_angle", "train.py", COSINE, "    return min_lr + (lr - min_lr) * math.cos(math.pi * u / 2) ** 2\n"),
    Variant(
        "batch_stacked_from_slices",
        "train.py",
        "    offsets = torch.arange(context)\n    x = ids[starts[:, None] + offsets]\n" + TARGETS,
        "    x = torch.stack([ids[s : s + context] for s in starts.tolist()])\n"
        "    y = torch.stack([ids[s + 1 : s + context + 1] for s in starts.tolist()])\n",
    ),
    Variant(
        "bits_window_by_window_with_log_softmax",
        "train.py",
        READING,
        "    bits = 0.0\n"
        "    for x, y in pairs:\n"
        "        lp = model(x[None].to(device))[0].float().log_softmax(-1)\n"
        "        bits -= lp.gather(1, y[:, None].to(device)).sum().item() / math.log(2)\n"
        "    return bits / len(ids)\n",
    ),
    Variant(
        "groups_by_name_and_dimension",
        "train.py",
        GROUPS,
        '        {"params": [p for n, p in model.named_parameters() if p.dim() >= 2], "weight_decay": weight_decay},\n'
        '        {"params": [p for n, p in model.named_parameters() if p.dim() < 2], "weight_decay": 0.0},\n',
    ),
]


# The default audit grades these (each is a whole submission graded); the others are audited by
# `course audit capstone --extra`, every one measured to lose 6.1 alone, naming its mistake.
WRONG = [
    v
    for v in _WRONG
    if v.name
    in [
        "warmup_off_by_one",
        "cosine_ends_at_zero",
        "targets_not_shifted",
        "last_start_never_drawn",
        "bits_in_nats",
        "bits_mean_over_windows",
        "decay_on_everything",
        "no_clipping",
        "valid_on_the_training_text",
    ]
]
EXTRA_WRONG = [v for v in _WRONG if v not in WRONG]
CORRECT = [v for v in _CORRECT if v.name in ["cosine_as_half_angle", "bits_window_by_window_with_log_softmax"]]
EXTRA_CORRECT = [v for v in _CORRECT if v not in CORRECT]
