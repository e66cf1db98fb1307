"""hw5 variants of vit.py's task 5.5 (random_shift, warmup_cosine_factor, train_vit, evaluate), for
`course audit hw5`: realistic mistakes, one each, and other correct formulations. The tests of
train_vit and evaluate run on the course's linear classifier, so these lose 5.5 alone."""

from grader.audit import Variant

DRAW = "    dy, dx = torch.randint(-s, s + 1, (2, B), generator=generator).to(images.device)\n"
RATE = "            rate = lr * warmup_cosine_factor(progress, warmup, final_lr)\n"
SET_RATE = '            for group in optimizer.param_groups:\n                group["lr"] = rate\n'
DECAY_FILTER = '        if p.requires_grad and p.dim() >= 2 and "pos_embed" not in n and "cls_token" not in n\n'
COSINE = "    return final + (1 - final) * (1 + math.cos(math.pi * q)) / 2\n"

WRONG = [
    Variant(
        "shift_range_misses_the_top",
        "vit.py",
        DRAW,
        DRAW.replace("s + 1", "s"),
        ("5.5",),
        says="randint(-s, s + 1)",
    ),
    Variant(
        "shift_one_for_the_batch",
        "vit.py",
        DRAW,
        "    dy, dx = torch.randint(-s, s + 1, (2, 1), generator=generator).expand(2, B).to(images.device)\n",
        ("5.5",),
        says="every image got the same shift",
    ),
    Variant(
        "cosine_ends_at_zero",
        "vit.py",
        COSINE,
        "    return (1 + math.cos(math.pi * q)) / 2\n",
        ("5.5",),
        says="the cosine ends at 0",
    ),
    Variant(
        "cosine_from_progress_zero",
        "vit.py",
        "    q = (progress - warmup) / (1 - warmup) if warmup < 1 else 1.0\n",
        "    q = progress\n",
        ("5.5",),
        says="the cosine starts at progress 0",
    ),
    Variant(
        "schedule_not_applied",
        "vit.py",
        SET_RATE,
        "",
        ("5.5",),
        says="decayed at the constant lr",
    ),
    Variant(
        "decay_on_tokens_and_positions",
        "vit.py",
        DECAY_FILTER,
        "        if p.requires_grad and p.dim() >= 2\n",
        ("5.5",),
        says="the class token decayed",
    ),
    Variant(
        "decay_on_vectors",
        "vit.py",
        DECAY_FILTER,
        '        if p.requires_grad and "pos_embed" not in n and "cls_token" not in n\n',
        ("5.5",),
        says="a vector (biases and LayerNorm gains) decayed",
    ),
    Variant(
        "progress_after_the_step",
        "vit.py",
        RATE,
        "            done = (step + 1) / total_steps if total_steps is not None else progress\n"
        "            rate = lr * warmup_cosine_factor(done, warmup, final_lr)\n",
        ("5.5",),
        says="progress counted after the step",
    ),
    Variant(
        "left_in_training_mode",
        "vit.py",
        "    model.eval()\n    history.update(",
        "    history.update(",
        ("5.5",),
        says="left in training mode",
    ),
    Variant(
        "evaluate_in_percent",
        "vit.py",
        "    return float((predict(model, x, batch_size, device) == y.cpu()).float().mean())\n",
        "    return 100 * float((predict(model, x, batch_size, device) == y.cpu()).float().mean())\n",
        ("5.5",),
        says="a percentage",
    ),
]

CORRECT = [
    Variant(
        "shift_image_by_image",
        "vit.py",
        "    padded = F.pad(images, (s, s, s, s))\n",
        "    out = torch.zeros_like(images)\n"
        "    for b in range(B):\n"
        "        y0, x0 = int(dy[b]), int(dx[b])\n"
        "        if abs(y0) >= H or abs(x0) >= W:\n"
        "            continue  # moved out entirely: zeros\n"
        "        out[b, :, max(y0, 0) : H + min(y0, 0), max(x0, 0) : W + min(x0, 0)] = images[\n"
        "            b, :, max(-y0, 0) : H - max(y0, 0), max(-x0, 0) : W - max(x0, 0)\n"
        "        ]\n"
        "    return out\n"
        "    padded = F.pad(images, (s, s, s, s))\n",
    ),
    Variant(
        "cosine_as_half_angle",
        "vit.py",
        COSINE,
        "    return final + (1 - final) * math.cos(math.pi * q / 2) ** 2\n",
    ),
]
