"""Public tests for hw5 task 5.5 (vit.py): random shifts, the warmup-cosine schedule, train_vit and
evaluate, and the ViT trained on the digits.

random_shift, warmup_cosine_factor, train_vit's schedule and weight decay, and evaluate are tested
on the course's own models (a linear classifier, in the worker's drivers), so that their verdicts do
not rest on the student's ViT. What comes back is judged here:
- random_shift: every image is matched against each whole-pixel shift of its input (noise images,
  so exactly one matches); all (2s + 1)^2 shifts must occur, about equally often (a chi-square bound
  that a uniform draw exceeds with probability below 1e-6).
- train_vit: with AdamW and a zero gradient, a parameter moves by its weight decay alone, p <- p (1 -
  lr_t wd); parameters beside the classifier that get zero gradients show which parameters decay and
  at which learning rate, step by step, against the handout's schedule computed here.
- the ViT trained on the digits: the student's ViT and train_vit in the worker, the accuracy computed
  here with the course's implementation on the 1,000 validation digits (training.py).
"""

from __future__ import annotations

import math

import pytest
import torch

from grader.assertions import close, mapping, number, short, tensor
from grader.suites.hw5 import training

SHIFT_CHI2 = 80.0  # chi-square with 24 degrees of freedom: P(> 80) < 1e-7 for a uniform draw


# -- random_shift ----------------------------------------------------------------------------------


def shift(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """out[..., i, j] = images[..., i - dy, j - dx], 0 outside."""
    out = torch.zeros_like(images)
    H, W = images.shape[-2:]
    if abs(dy) >= H or abs(dx) >= W:
        return out
    out[..., max(dy, 0) : H + min(dy, 0), max(dx, 0) : W + min(dx, 0)] = images[
        ..., max(-dy, 0) : H - max(dy, 0), max(-dx, 0) : W - max(dx, 0)
    ]
    return out


def noise(n: int, c: int, h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.5 + 0.5 * torch.rand(n, c, h, w, generator=g)  # no zeros: a shifted-in zero is visible


def shifts_of(out: torch.Tensor, images: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Per image, the index in the (2s+1)^2 grid of the shift that made it (-1 where none did),
    either sign convention counted as one (the draw is symmetric)."""
    found = torch.full((len(images),), -1)
    side = 2 * max_shift + 1
    for a, dy in enumerate(range(-max_shift, max_shift + 1)):
        for b, dx in enumerate(range(-max_shift, max_shift + 1)):
            same = (out == shift(images, dy, dx)).flatten(1).all(1)
            found[same & (found < 0)] = a * side + b
    return found


def check_shifts(out, images: torch.Tensor, max_shift: int, what: str) -> torch.Tensor:
    out = tensor(out, what, tuple(images.shape), str(images.dtype).removeprefix("torch."))
    found = shifts_of(out, images, max_shift)
    if bool((found < 0).any()):
        b = int((found < 0).nonzero()[0])
        hint = ""
        if bool((out[b] == images[b]).all()):
            hint = ""
        elif torch.isclose(out[b].sum(), images[b].sum()) and not bool((out[b] == 0).any()):
            hint = "; its pixels are all there, moved around: a wrap-around (torch.roll) instead of zeros moved in"
        raise AssertionError(
            f"{what}: image {b} is not its input moved by a whole-pixel shift of at most {max_shift} with zeros moved in{hint}"
        )
    return found


@pytest.mark.task("5.5")
def test_random_shift_draws_every_shift_uniformly(submission):
    """Does random_shift move each of 5,000 images by its own shift (dy, dx), each from -2 to 2, all 25 equally likely, zeros moved in?"""
    images = noise(5000, 1, 6, 6, seed=55)
    found = check_shifts(submission.driver("shifted", images, 2, 1), images, 2, "random_shift(images, 2)")
    counts = torch.bincount(found, minlength=25).double()
    grid = counts.reshape(5, 5)
    if int((counts > 0).sum()) == 1:
        raise AssertionError("random_shift(images, 2): every image got the same shift; each image draws its own")
    missing = [(dy - 2, dx - 2) for dy in range(5) for dx in range(5) if grid[dy, dx] == 0]
    if missing:
        edge = all(2 in (abs(a), abs(b)) for a, b in missing)
        raise AssertionError(
            f"random_shift(images, 2): over 5,000 images the shifts {missing[:6]} never occurred"
            + ("; the shifts must reach ±max_shift (torch.randint's high end is exclusive: randint(-s, s + 1))" if edge else "")
        )
    expected = len(images) / 25
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    if chi2 > SHIFT_CHI2:
        raise AssertionError(
            f"random_shift(images, 2): the 25 shifts are not equally likely (counts {counts.long().tolist()}, "
            f"chi-square {chi2:.0f} with 24 degrees of freedom); dy and dx are each uniform on -2..2"
        )


@pytest.mark.task("5.5")
def test_random_shift_channels_seed_and_zero(submission):
    """Does random_shift move every channel of an image together, repeat itself for a generator of the same seed, and return the images unchanged when max_shift = 0?"""
    images = noise(300, 3, 5, 7, seed=56)
    out = submission.driver("shifted", images, 1, 2)
    out = tensor(out, "random_shift of (300, 3, 5, 7) images", (300, 3, 5, 7), "float32")
    check_shifts(out, images, 1, "random_shift of (300, 3, 5, 7) images, all channels together")
    again = submission.driver("shifted", images, 1, 2)
    if not torch.equal(tensor(again, "random_shift again"), out):
        raise AssertionError("random_shift with a generator seeded alike gave other shifts: draw them from `generator` only")
    other = tensor(submission.driver("shifted", images, 1, 3), "random_shift with seed 3")
    if torch.equal(other, out):
        raise AssertionError("random_shift gave the same shifts for generators of seeds 2 and 3: draw them from `generator`")
    same = tensor(submission.driver("shifted", images, 0, 2), "random_shift(images, 0)")
    if not torch.equal(same, images):
        raise AssertionError("random_shift(images, 0) changed the images; max_shift = 0 returns them unchanged")


# -- warmup_cosine_factor --------------------------------------------------------------------------


def factor(p: float, warmup: float, final: float) -> float:
    """The handout's schedule."""
    p = min(max(p, 0.0), 1.0)
    if p < warmup:
        return p / warmup
    q = (p - warmup) / (1 - warmup)
    return final + (1 - final) * (1 + math.cos(math.pi * q)) / 2


SCHEDULE_MISTAKES = {
    "the cosine starts at progress 0, not at the end of the warmup (q = p)": lambda p, w, f: (
        min(p, 1) / w if 0 <= p < w else f + (1 - f) * (1 + math.cos(math.pi * min(max(p, 0), 1))) / 2
    ),
    "the cosine ends at 0, not at `final`": lambda p, w, f: factor(p, w, 0.0),
    "progress is not clipped to [0, 1]": lambda p, w, f: (
        p / w if p < w else f + (1 - f) * (1 + math.cos(math.pi * (p - w) / (1 - w))) / 2
    ),
}


@pytest.mark.task("5.5")
def test_warmup_cosine_factor(submission, vit):
    """Is warmup_cosine_factor(p, warmup, final) p / warmup during the warmup, then final + (1 - final)(1 + cos(pi q)) / 2, with p clipped to [0, 1]?"""
    cases = [
        (p, w, f)
        for w, f in ((0.1, 0.0), (0.25, 0.01), (0.0, 0.2), (0.5, 0.1))
        for p in (-0.5, 0.0, 0.05, 0.1, 0.2, 0.25, 0.4, 0.5, 0.7, 0.95, 1.0, 1.5)
    ]
    got = submission.batch([submission.pending_call(vit, "warmup_cosine_factor", p, w, f) for p, w, f in cases])
    for (p, w, f), value in zip(cases, got):
        expected = factor(p, w, f)
        hints = [(lambda x, m=m, p=p, w=w, f=f: abs(x - m(p, w, f)) < 1e-9, name) for name, m in SCHEDULE_MISTAKES.items()]
        close(value, expected, f"warmup_cosine_factor({p:g}, warmup={w:g}, final={f:g})", tol=1e-9, rel=1e-9, hints=hints)


# -- train_vit on the course's linear classifier ---------------------------------------------------

PROBE_SETTINGS = {
    "epochs": 2,
    "batch_size": 100,
    "lr": 0.01,
    "weight_decay": 0.1,
    "warmup": 0.25,
    "final_lr": 0.1,
    "max_shift": 0,
}
PROBE_IMAGES = 600  # 6 batches of 100 per epoch: 12 steps


def linear_state(seed: int, scale: float = 0.01) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"1.weight": scale * torch.randn(10, 784, generator=g), "1.bias": torch.zeros(10)}


def expected_rates(settings: dict, steps: int) -> list[float]:
    """lr · warmup_cosine_factor(t / steps) at steps t = 0 .. steps - 1 (progress before the step)."""
    return [settings["lr"] * factor(t / steps, settings["warmup"], settings["final_lr"]) for t in range(steps)]


def check_history(history, steps: int, what: str) -> dict:
    history = mapping(history, f"{what}: the history")
    for key in ("loss", "lr", "steps", "epochs", "seconds"):
        if key not in history:
            raise AssertionError(f"{what}: the history has no {key!r}; it holds loss, lr, steps, epochs and seconds")
    if history["steps"] != steps:
        raise AssertionError(f"{what}: {short(history['steps'])} steps, expected {steps}")
    for key in ("loss", "lr"):
        if not isinstance(history[key], list) or len(history[key]) != steps:
            raise AssertionError(f"{what}: history[{key!r}] must list one number per step ({steps}), got {short(history[key])}")
    return history


@pytest.mark.task("5.5")
def test_train_vit_schedule_and_weight_decay(submission, mnist, seed):
    """Does train_vit step AdamW at lr · warmup_cosine_factor(steps / total) and decay the matrices only (not vectors, the class token or the position embeddings)?"""
    x, labels, split = mnist
    train = (split == 0).nonzero().flatten()[:PROBE_IMAGES]
    settings = {**PROBE_SETTINGS, "seed": seed}
    out = mapping(submission.driver("train_probed", linear_state(seed), x[train], labels[train], settings), "train_vit's run")
    what = "train_vit(model, 600 images, epochs=2, batch_size=100, lr=0.01, weight_decay=0.1, warmup=0.25, final_lr=0.1)"
    steps = 2 * 6
    history = check_history(out["history"], steps, what)
    rates = expected_rates(settings, steps)
    for t, (got, want) in enumerate(zip(history["lr"], rates)):
        after = settings["lr"] * factor((t + 1) / steps, settings["warmup"], settings["final_lr"])
        close(
            got,
            want,
            f"{what}: history['lr'][{t}], the learning rate of step {t}",
            tol=1e-12,
            rel=1e-9,
            hints=[
                (
                    lambda v, a=after: abs(v - a) < 1e-12,
                    "progress counted after the step; at step t it is t / total steps, so step 0 runs at lr · 0 in the warmup",
                ),
            ],
        )
    close(history["epochs"], 2.0, f"{what}: history['epochs']", tol=1e-9)
    if out["training"] is not False:
        raise AssertionError(f"{what}: the model was left in training mode; train_vit leaves it in eval mode")
    probes = out["probes"]
    decayed = math.prod(1 - r * settings["weight_decay"] for r in rates)
    constant = (1 - settings["lr"] * settings["weight_decay"]) ** steps
    matrix = float(tensor(probes["probe_matrix"], "the probe matrix", (4, 4)).mean())
    if abs(matrix - decayed) > 1e-5:
        if abs(matrix - 1) < 1e-7:
            hint = "the matrices did not decay: AdamW's weight_decay belongs to the group of matrices"
        elif abs(matrix - constant) < 1e-5:
            hint = "they decayed at the constant lr: set every group's lr to lr · warmup_cosine_factor(p) before each step"
        else:
            hint = "AdamW decays a parameter by lr_t · weight_decay of itself per step, decoupled from the gradient"
        raise AssertionError(
            f"{what}: a 4×4 parameter with zero gradients ends at {matrix:.7f}, expected ∏(1 − lr_t · wd) = {decayed:.7f}; {hint}"
        )
    for name, say in (
        ("probe_vector", "a vector (biases and LayerNorm gains) decayed"),
        ("cls_token", "the class token decayed"),
        ("pos_embed", "the position embeddings decayed"),
    ):
        value = tensor(probes[name], f"the probe {name}")
        if (value - 1).abs().max() > 1e-6:
            raise AssertionError(
                f"{what}: {say} (a parameter with zero gradients moved from 1 to {float(value.mean()):.7f}); weight decay "
                "applies to matrices only, not to 1-D parameters or to parameters named cls_token or pos_embed"
            )
    before = linear_state(seed)["1.weight"]
    if torch.equal(tensor(out["net"]["1.weight"], "the classifier's weight after training"), before):
        raise AssertionError(f"{what}: the classifier's weights did not change: no optimizer step reached them")


@pytest.mark.task("5.5")
def test_train_vit_budget_whichever_first(submission, mnist, seed):
    """Does train_vit stop at whichever budget is spent first: one epoch (6 steps) of a 100-second budget, and half a second of a 10,000-epoch one?"""
    x, labels, split = mnist
    train = (split == 0).nonzero().flatten()[:PROBE_IMAGES]
    base = {**PROBE_SETTINGS, "seed": seed}
    out = submission.driver("train_probed", linear_state(seed), x[train], labels[train], {**base, "epochs": 1, "seconds": 100.0})
    check_history(mapping(out, "train_vit's run")["history"], 6, "train_vit(..., epochs=1, seconds=100)")
    out = submission.driver(
        "train_probed", linear_state(seed), x[train], labels[train], {**base, "epochs": 10_000, "seconds": 0.5}
    )
    history = mapping(mapping(out, "train_vit's run")["history"], "train_vit(..., epochs=10000, seconds=0.5): the history")
    spent = number(history.get("seconds"), "train_vit(..., epochs=10000, seconds=0.5): history['seconds']")
    steps = history.get("steps")
    if not (isinstance(steps, int) and 0 < steps < 60_000) or spent > 3.0:
        raise AssertionError(
            f"train_vit(..., epochs=10000, seconds=0.5) ran {short(steps)} steps in {spent:.2f} s; it must stop when "
            "elapsed / seconds reaches 1"
        )
    rates = history.get("lr")
    if not isinstance(rates, list) or not rates:
        raise AssertionError("train_vit(..., seconds=0.5): history['lr'] must list the learning rate of every step")
    last = number(rates[-1], "the last step's learning rate")
    if last > base["lr"] * (base["final_lr"] + 0.2):
        raise AssertionError(
            f"train_vit(..., seconds=0.5): the last step ran at lr {last:.3g}; with the budget in seconds the schedule stretches "
            f"over it, ending near lr · final_lr = {base['lr'] * base['final_lr']:.3g}"
        )


# -- evaluate --------------------------------------------------------------------------------------


def fitted_classifier(x: torch.Tensor, labels: torch.Tensor) -> dict:
    """A linear classifier of the digits by ridge regression to one-hot targets (about 85% right)."""
    a = torch.cat([x.flatten(1).double(), torch.ones(len(x), 1, dtype=torch.float64)], 1)
    target = torch.nn.functional.one_hot(labels, 10).double()
    w = torch.linalg.solve(a.T @ a + 1.0 * torch.eye(a.shape[1], dtype=torch.float64), a.T @ target)
    return {"1.weight": w[:-1].T.float().contiguous(), "1.bias": w[-1].float()}


@pytest.mark.task("5.5")
def test_evaluate_is_the_fraction_right(submission, mnist):
    """Is evaluate(model, x, y) the fraction of the 1,000 validation digits the model gets right, whatever the batch size?"""
    x, labels, split = mnist
    train, val = split == 0, split == 1
    state = fitted_classifier(x[train], labels[train])
    with torch.no_grad():
        predictions = torch.nn.functional.linear(x[val].flatten(1), state["1.weight"], state["1.bias"]).argmax(1)
    right = predictions == labels[val]
    expected = float(right.double().mean())
    per_batch = float(torch.stack([r.double().mean() for r in right.split(300)]).mean())
    for batch in (None, 300):
        what = "evaluate(model, 1,000 validation digits" + (")" if batch is None else ", batch_size=300)")
        got = submission.driver("evaluated", state, x[val], labels[val], batch)
        close(
            got,
            expected,
            what,
            tol=2e-3,
            rel=0,
            hints=[
                (lambda v: abs(v - 100 * expected) < 0.3, "a percentage; evaluate returns a fraction in [0, 1]"),
                (lambda v: abs(v - int(right.sum())) < 2.5, "the number right; evaluate returns the fraction"),
                (
                    lambda v, batch=batch: batch is not None and abs(v - per_batch) < 1e-9,
                    "the mean of the batches' accuracies, which weighs the short last batch too much",
                ),
            ],
        )


# -- the ViT trained on the digits -----------------------------------------------------------------


@pytest.mark.task("5.5")
@pytest.mark.seeded
@pytest.mark.uses(
    "ViT", "EncoderBlock", "PatchEmbedding", "MultiHeadAttention", "train_vit", "random_shift", "warmup_cosine_factor"
)
def test_vit_learns_the_digits(trained_vit, mnist):
    """Trained by your train_vit for 10 epochs (ViT(dim=64, depth=2, heads=4), batches of 64, lr 3e-3), does your ViT get at least 80% of the 1,000 validation digits right?"""
    x, labels, split = mnist
    state, history, whose = trained_vit()
    check_history(history, training.STEPS, "train_vit(ViT(dim=64, depth=2, heads=4), 3,000 digits, epochs=10, batch_size=64)")
    accuracy = training.score(state, x[split == 1], labels[split == 1])
    if accuracy < training.VALIDATION_BAR:
        raise AssertionError(
            f"after 10 epochs of your train_vit, {whose} gets {100 * accuracy:.1f}% of the validation digits right"
            + (" (your ViT's forward is not the handout's: task 5.4)" if whose != "your ViT" else "")
            + f"; the reference gets 85-94% over 100 seeds, and the bar is {100 * training.VALIDATION_BAR:g}%"
        )
