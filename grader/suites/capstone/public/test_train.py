"""Public tests for task 6.1 (train.py): the schedule, the batches, bits per character, the parameter
groups and a short training run.

get_batch, bits_per_char and param_groups run on the course's own models (CourseGPT in the worker's
drivers, holding weights chosen here), and the training run trains CourseGPT in place of your
gpt.GPT, so that these tests grade train.py alone. What comes back is judged here:
- lr_at against the handout's formula;
- get_batch on the ids 0, 1, ..., n - 1, so that every row shows its start: rows are consecutive,
  y is x moved on by one, every start from 0 to n - context - 1 occurs, about equally often (a
  chi-square bound that a uniform draw exceeds with probability below 1e-6), drawn from `generator`;
- bits_per_char against the course's model computing the same reading in float64;
- the training run: the trained weights are scored here (model.py); what AdamW saw at each step
  (every group's learning rate and weight decay, its betas, the gradients' global norm) is compared
  with the formulas; history["valid"] with the figure computed here from the returned weights.
"""

from __future__ import annotations

import math

import pytest
import torch

from grader.assertions import close, mapping, number, sequence, short, tensor
from grader.errors import StudentError
from grader.suites.capstone import model, training

LN2 = math.log(2)

# -- lr_at -----------------------------------------------------------------------------------------

SCHEDULES = [(100, 1e-3, 1e-4, 10), (3000, 2e-3, 2e-4, 100), (50, 0.5, 0.0, 0), (7, 1.0, 0.1, 3), (150, 1e-2, 1e-3, 15)]


def schedule_cases(schedules) -> list[tuple[int, int, float, float, int]]:
    """(step, steps, lr, min_lr, warmup) at the warmup's edges, in the cosine and at its end."""
    cases = []
    for steps, lr, min_lr, warmup in schedules:
        points = {0, 1, warmup - 1, warmup, warmup + 1, (warmup + steps) // 2, steps - 2, steps - 1}
        cases += [(s, steps, lr, min_lr, warmup) for s in sorted(points) if 0 <= s < steps]
    return cases


def cosine(step, steps, lr, min_lr, warmup, u=None, low=None):
    u = (step - warmup) / (steps - warmup) if u is None else u
    low = min_lr if low is None else low
    return low + (lr - low) * (1 + math.cos(math.pi * u)) / 2


SCHEDULE_MISTAKES = {
    "the warmup is one step late: step 0 runs at lr (step + 1) / warmup = lr / warmup, not 0": lambda s, n, lr, m, w: (
        lr * s / w if s < w else training.lr_at(s, n, lr, m, w)
    ),
    "the cosine ends at 0, not at min_lr": lambda s, n, lr, m, w: training.lr_at(s, n, lr, 0.0, w),
    "the cosine starts at step 0, not at the end of the warmup (u = (step - warmup) / (steps - warmup))": lambda s, n, lr, m, w: (
        training.lr_at(s, n, lr, m, w) if s < w else cosine(s, n, lr, m, w, u=s / n)
    ),
    "u is divided by steps - warmup - 1; the handout's u = (step - warmup) / (steps - warmup) stays below 1": lambda s, n, lr, m, w: (
        training.lr_at(s, n, lr, m, w) if s < w else cosine(s, n, lr, m, w, u=(s - w) / (n - w - 1))
    ),
    "the cosine's amplitude is lr - min_lr (it runs from lr down to min_lr)": lambda s, n, lr, m, w: (
        training.lr_at(s, n, lr, m, w) if s < w else m + lr * (1 + math.cos(math.pi * (s - w) / (n - w))) / 2
    ),
}


def schedule_hints(case):
    return [(lambda v, f=f: abs(v - f(*case)) <= 1e-12 + 1e-9 * abs(f(*case)), name) for name, f in SCHEDULE_MISTAKES.items()]


def check_lr_at(submission, train, cases) -> None:
    got = submission.batch([submission.pending_call(train, "lr_at", *case) for case in cases])
    for case, value in zip(cases, got):
        step, steps, lr, min_lr, warmup = case
        close(
            value,
            training.lr_at(*case),
            f"lr_at({step}, steps={steps}, lr={lr:g}, min_lr={min_lr:g}, warmup={warmup})",
            tol=1e-12,
            rel=1e-9,
            hints=schedule_hints(case),
        )


@pytest.mark.task("6.1")
def test_lr_at_warms_up_then_follows_the_cosine(submission, train):
    """Is lr_at(step, ...) lr (step + 1) / warmup during the warmup, then min_lr + (lr - min_lr)(1 + cos(pi u)) / 2 with u = (step - warmup) / (steps - warmup)?"""
    check_lr_at(submission, train, schedule_cases(SCHEDULES))


# -- get_batch -------------------------------------------------------------------------------------

N_IDS, CONTEXT, DRAWS = 50, 8, 4200  # 42 starts (0 .. 41), about 100 draws each
STARTS_CHI2 = 100.0  # chi-square with 41 degrees of freedom: P(> 100) < 1e-6 for a uniform draw


def batch_of(submission, ids: torch.Tensor, batch: int, context: int, seed: int, global_seed: int = 0):
    """get_batch's (x, y) on `ids`, checked as two (batch, context) int64 tensors."""
    what = f"get_batch({len(ids)} ids, batch={batch}, context={context})"
    try:
        out = submission.driver("train_batch", ids, batch, context, seed, global_seed)
    except StudentError as e:
        if e.is_a("IndexError") or e.is_a("RuntimeError"):
            raise AssertionError(
                f"{what} raised {e}; a start past len(ids) - context - 1 = {len(ids) - context - 1} leaves the last "
                "target past the end (torch.randint's high end is exclusive: randint(len(ids) - context, ...))"
            ) from None
        raise
    if type(out) not in (tuple, list) or len(out) != 2:
        raise AssertionError(f"{what} returned {short(out)}, not (x, y)")
    x = tensor(out[0], f"{what}: x", (batch, context), "int64")
    y = tensor(out[1], f"{what}: y", (batch, context), "int64")
    return x, y


def starts_of(x: torch.Tensor, y: torch.Tensor, n: int, context: int, what: str) -> torch.Tensor:
    """The start of each row of a batch of the ids 0 .. n - 1, after checking the rows."""
    steps = torch.arange(context)
    start = x[:, :1]
    if not bool((x == start + steps).all()):
        b = int((x != start + steps).any(1).nonzero()[0])
        raise AssertionError(f"{what}: row {b} of x is {x[b].tolist()}, not {context} consecutive characters of ids")
    if not bool((y == x + 1).all()):
        b = int((y != x + 1).any(1).nonzero()[0])
        if bool((y == x).all()):
            hint = "y is x, not shifted by one: each position's target is the next character"
        elif bool((y == x + 2).all()):
            hint = "y is shifted by two"
        elif bool((y == x - 1).all()):
            hint = "y is shifted the wrong way: y = ids[s + 1 : s + context + 1]"
        else:
            hint = "y = ids[s + 1 : s + context + 1] for x = ids[s : s + context]"
        raise AssertionError(f"{what}: row {b} is x = {x[b].tolist()}, y = {y[b].tolist()}; {hint}")
    starts = x[:, 0]
    low, high = int(starts.min()), int(starts.max())
    if low < 0 or high > n - context - 1:
        raise AssertionError(
            f"{what}: a row starts at {low if low < 0 else high}, outside 0 .. len(ids) - context - 1 = {n - context - 1}"
        )
    return starts


@pytest.mark.task("6.1")
def test_get_batch_rows_are_windows_and_their_next_characters(submission):
    """Does get_batch return x (batch, context) of consecutive ids and y = x moved on by one character, every start within 0 .. len(ids) - context - 1?"""
    ids = torch.arange(N_IDS)
    x, y = batch_of(submission, ids, 64, CONTEXT, seed=1)
    starts_of(x, y, N_IDS, CONTEXT, f"get_batch({N_IDS} ids, batch=64, context={CONTEXT})")


@pytest.mark.task("6.1")
def test_get_batch_draws_every_start_uniformly(submission):
    """Over 4,200 rows from 50 ids with context 8, does get_batch draw each of the 42 starts 0 .. 41 (the last one too) about equally often?"""
    ids = torch.arange(N_IDS)
    what = f"get_batch({N_IDS} ids, batch={DRAWS}, context={CONTEXT})"
    x, y = batch_of(submission, ids, DRAWS, CONTEXT, seed=2)
    starts = starts_of(x, y, N_IDS, CONTEXT, what)
    k = N_IDS - CONTEXT
    counts = torch.bincount(starts, minlength=k).double()
    if int((counts > 0).sum()) == 1:
        raise AssertionError(f"{what}: every row has the same start; each row draws its own")
    if counts[k - 1] == 0:
        raise AssertionError(
            f"{what}: the last start, len(ids) - context - 1 = {k - 1}, was never drawn (torch.randint's high end is "
            "exclusive: randint(len(ids) - context, ...) draws 0 .. len(ids) - context - 1)"
        )
    if missing := [i for i in range(k) if counts[i] == 0]:
        raise AssertionError(f"{what}: the starts {missing[:8]} were never drawn")
    expected = DRAWS / k
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    if chi2 > STARTS_CHI2:
        raise AssertionError(
            f"{what}: the {k} starts are not equally likely (counts {counts.long().tolist()}, chi-square {chi2:.0f} with "
            f"{k - 1} degrees of freedom); each is drawn uniformly"
        )


@pytest.mark.task("6.1")
def test_get_batch_draws_from_the_generator(submission):
    """Does get_batch draw from `generator` alone: the same batch for generators of the same seed whatever torch's global seed, another for another seed?"""
    ids = torch.arange(N_IDS)
    first = batch_of(submission, ids, 32, CONTEXT, seed=3, global_seed=10)
    again = batch_of(submission, ids, 32, CONTEXT, seed=3, global_seed=11)
    if not torch.equal(first[0], again[0]):
        raise AssertionError(
            "get_batch gave other batches for two generators of seed 3 after torch.manual_seed(10) and torch.manual_seed(11): "
            "draw the starts from `generator` (torch.randint(..., generator=generator)), not torch's global generator"
        )
    other = batch_of(submission, ids, 32, CONTEXT, seed=4, global_seed=10)
    if torch.equal(first[0], other[0]):
        raise AssertionError("get_batch gave the same batch for generators of seeds 3 and 4: draw the starts from `generator`")


# -- bits_per_char ---------------------------------------------------------------------------------


def bpc_mistakes(state: dict, config: dict, ids: torch.Tensor) -> dict[str, float]:
    """What bits_per_char's common mistakes give on `ids`."""
    bits = -model.log2_probs(state, config, ids)
    n, c = len(ids), config["context"]
    per_window = torch.stack([w.mean() for w in bits.split(c)])
    full = bits[: n - n % c] if n % c and n > c else bits
    right = float(bits.mean())
    return {
        "in nats, not bits: divide the cross-entropy by ln 2": right * LN2,
        "the mean over windows, not over characters: the short last window weighs as much as a full one": float(
            per_window.mean()
        ),
        "the last, shorter window is left out: every character is predicted once": float(full.mean()),
        "the sum over the text, not the mean per character": float(bits.sum()),
    }


def check_bits_per_char(submission, config: dict, state: dict, ids: torch.Tensor, batch: int | None, where: str) -> None:
    what = f"bits_per_char({where}{'' if batch is None else f', batch={batch}'})"
    expected = model.bits_per_char(state, config, ids)
    got = submission.driver("train_bits", {k: v for k, v in config.items()}, state, ids.to(torch.uint8), batch)
    hints = [(lambda v, x=x: abs(v - x) <= 1e-4 + 1e-5 * abs(x), h) for h, x in bpc_mistakes(state, config, ids).items()]
    close(got, expected, what, tol=1e-4, rel=1e-5, hints=hints)


@pytest.mark.task("6.1")
def test_bits_per_char_reads_every_character_once(submission, public_text):
    """Is bits_per_char -(1/n) sum log2 p over the n characters, read in gpt.windows (the short last window too), whatever the batch, on a model with weights chosen here?"""
    state = model.random_state(training.SHAPE, seed=61)
    for start, n, batch in ((1000, 69, None), (1000, 69, 2), (5000, 1013, None), (5000, 1013, 7)):
        ids = model.ids_of(public_text[start : start + n])
        where = f"the tiny model, {n} characters of train.txt = {n // 32} windows of 32 and one of {n % 32}"
        check_bits_per_char(submission, training.SHAPE, state, ids, batch, where)


# -- param_groups ----------------------------------------------------------------------------------


def check_groups(groups, shapes: dict[str, tuple[int, ...]], weight_decay: float, what: str) -> None:
    """Every parameter in exactly one group; the groups of the matrices (dim >= 2) decay by
    weight_decay, the others by 0."""
    groups = sequence(groups, what, max_length=len(shapes))
    seen: list[str] = []
    decays: set[str] = set()
    for i, g in enumerate(groups):
        g = mapping(g, f"{what}: group {i}")
        if "weight_decay" not in g.get("keys", ()):
            raise AssertionError(f"{what}: group {i} has no 'weight_decay'; each group states its own (AdamW's default is 0.01)")
        wd = number(g["weight_decay"], f"{what}: group {i}'s weight_decay")
        names = sequence(g["names"], f"{what}: group {i}'s parameters", of=str)
        if "?" in names:
            raise AssertionError(f"{what}: group {i} holds a tensor that is not one of the model's parameters")
        if wd not in (0.0, weight_decay):
            raise AssertionError(f"{what}: group {i}'s weight_decay is {wd:g}; the groups decay by {weight_decay:g} or by 0")
        seen += names
        if wd:
            decays |= set(names)
    if twice := sorted({n for n in seen if seen.count(n) > 1}):
        raise AssertionError(f"{what}: {short(twice)} are in more than one group")
    if missing := [n for n in shapes if n not in seen]:
        raise AssertionError(f"{what}: {short(missing)} are in no group; every parameter is in one")
    matrices = {n for n, s in shapes.items() if len(s) >= 2}
    if decays == matrices:
        return
    wrong_decay, wrong_keep = sorted(decays - matrices), sorted(matrices - decays)
    if not decays:
        hint = "nothing decays: the matrices' group takes weight_decay"
    elif not wrong_keep and all("ln" in n.split(".")[-2] for n in wrong_decay if "." in n):
        hint = "LayerNorm's gains and biases decay; only parameters with two or more dimensions do"
    elif not wrong_keep:
        hint = "vectors (biases, LayerNorm's gains and biases) decay; only parameters with two or more dimensions do"
    elif set(wrong_keep) <= {n for n in matrices if n.endswith("tok.weight") or n.endswith("pos.weight") or "mbedding" in n}:
        hint = "the embeddings do not decay; they have two dimensions, and every parameter with two or more decays"
    else:
        hint = "the parameters with two or more dimensions decay, the others do not"
    raise AssertionError(
        f"{what}: decaying {short(wrong_decay) if wrong_decay else 'nothing extra'}, not decaying "
        f"{short(wrong_keep) if wrong_keep else 'nothing missing'}; {hint}"
    )


@pytest.mark.task("6.1")
def test_param_groups_decay_the_matrices_only(submission):
    """Does param_groups(model, 0.1) put every parameter of the tiny GPT in one group, the matrices and embeddings (dim >= 2) with weight_decay 0.1, LayerNorm's gains and biases with 0?"""
    groups = submission.driver("train_groups", training.TINY_MODEL, 0.1)
    check_groups(groups, model.shapes(training.SHAPE), 0.1, "param_groups(tiny GPT, 0.1)")


# -- the training run ------------------------------------------------------------------------------


@pytest.fixture
def run(submission, seed_of, public_text):
    return training.trained(submission, seed_of, public_text)


@pytest.mark.task("6.1")
@pytest.mark.seeded
def test_train_learns_the_text(run):
    """Trained by your train (the tiny GPT, 150 steps of 16 windows of the public text's first 200,000 characters), does the model code the public text's last 20,000 characters in at most 4.45 bits per character?"""
    bpc = run.bpc("valid", run.valid_ids)
    if bpc > training.VALID_BAR:
        raise AssertionError(
            f"after {training.WHAT}, the model codes the last {training.VALID_CHARS:,} characters of train.txt in {bpc:.3f} "
            f"bits per character (computed here from the returned weights); the reference gets 3.93-4.30 over 200 seeds, and "
            f"the bar is {training.VALID_BAR}; a model that learned nothing codes at log2 96 = 6.58"
        )


@pytest.mark.task("6.1")
def test_train_steps_adamw_on_the_schedule(run):
    """At each step of that run, does AdamW (betas 0.9, 0.95) step at lr_at(step, ...) in every group, decaying the matrices by weight_decay and nothing else, and does the history list each step's lr and loss (in nats)?"""
    steps = training.optimizer_steps(run)
    budget = training.BUDGET
    rates = [training.lr_at(t, budget["steps"], budget["lr"], budget["min_lr"], budget["warmup"]) for t in range(budget["steps"])]
    got = [sequence(step["lr"], f"step {t}'s learning rates", of=float) for t, step in enumerate(steps)]

    def near(a: list[float], b: list[float]) -> bool:
        return all(abs(x - y) <= 1e-12 + 1e-9 * abs(y) for x, y in zip(a, b))

    first_lrs = [g[0] if g else math.nan for g in got]
    if all(abs(v - budget["lr"]) < 1e-15 for v in first_lrs):
        hint = f"it stayed at lr = {budget['lr']:g}: set every group's lr to lr_at(step, ...) before each step"
    elif near(first_lrs[1:], rates[:-1]):
        hint = "each step ran at the previous step's rate: set the learning rate before the step, not after"
    elif near(first_lrs[:-1], rates[1:]):
        hint = "each step ran at the next step's rate: step t runs at lr_at(t, ...), from t = 0"
    else:
        hint = "every group's lr is lr_at(step, steps, lr, min_lr, warmup) at each step"
    for t, lrs in enumerate(got):
        for value in lrs:
            if abs(value - rates[t]) > 1e-12 + 1e-9 * rates[t]:
                raise AssertionError(
                    f"{training.WHAT}: AdamW's step {t} ran at lr {value:.6g}, expected lr_at({t}, ...) = {rates[t]:.6g}; {hint}"
                )
    first = steps[0]
    shapes = model.shapes(training.SHAPE)
    names = sequence(first.get("names"), "the parameters of AdamW's groups")
    decays_of = sequence(first.get("weight_decay"), "the weight decay of AdamW's groups", length=len(names), of=float)
    for i, (group, wd) in enumerate(zip(names, decays_of)):
        decays = {len(shapes.get(n, ())) >= 2 for n in group}
        if "?" in group or len(decays) > 1 or wd != (budget["weight_decay"] if decays == {True} else 0.0):
            raise AssertionError(
                f"{training.WHAT}: AdamW's group {i} holds {short(group)} with weight_decay {wd:g}; train's optimizer takes "
                f"param_groups(model, {budget['weight_decay']:g}): the matrices decay by weight_decay, the others by 0"
            )
    if sorted(n for g in names for n in g) != sorted(shapes):
        raise AssertionError(
            f"{training.WHAT}: AdamW's groups hold {sum(map(len, names))} parameters, not the model's {len(shapes)}"
        )
    for betas in sequence(first.get("betas"), "the betas of AdamW's groups", length=len(names)):
        if [round(b, 12) for b in betas] != [0.9, 0.95]:
            raise AssertionError(f"{training.WHAT}: AdamW's betas are {short(betas)}, expected (0.9, 0.95)")
    history = training.history_of(run)
    for t, (got, want) in enumerate(zip(history["lr"], rates)):
        close(got, want, f"{training.WHAT}: history['lr'][{t}]", tol=1e-12, rel=1e-9)
    losses = [number(v, f"{training.WHAT}: history['loss']") for v in history["loss"]]
    if not all(math.isfinite(v) for v in losses):
        raise AssertionError(f"{training.WHAT}: history['loss'] holds NaN or infinite values")
    if abs(losses[0] - math.log(96)) > 0.1:
        hint = "; it looks like bits: the loss is the cross-entropy in nats" if abs(losses[0] - math.log2(96)) < 0.15 else ""
        raise AssertionError(
            f"{training.WHAT}: history['loss'][0] is {losses[0]:.4f}; a new model's mean cross-entropy is near ln 96 = 4.564 nats{hint}"
        )


@pytest.mark.task("6.1")
def test_train_clips_the_gradients(run):
    """In that run (clip 0.1, below every step's gradient norm), does every AdamW step see gradients of global norm at most 0.1?"""
    clip = training.BUDGET["clip"]
    for t, step in enumerate(training.optimizer_steps(run)):
        norm = number(step.get("grad_norm"), f"step {t}'s gradient norm")
        if not norm <= clip * (1 + 1e-3) + 1e-7:
            raise AssertionError(
                f"{training.WHAT}: AdamW's step {t} ran on gradients of global norm {norm:.4g}, above clip = {clip:g}; the "
                "gradients are not clipped: torch.nn.utils.clip_grad_norm_(model.parameters(), clip) after backward, before the step"
            )


@pytest.mark.task("6.1")
def test_train_reports_bits_per_char_on_valid(run):
    """In that run (every = 75), does history['valid'] hold (75, bpc) and (150, bpc), the last the returned model's bits per character on `valid`?"""
    history = training.history_of(run)
    entries = []
    for i, entry in enumerate(history["valid"]):
        pair = sequence(entry, f"{training.WHAT}: history['valid'][{i}]", length=2)
        entries.append((pair[0], number(pair[1], f"{training.WHAT}: history['valid'][{i}]'s bits per character")))
    got_steps = [s for s, _ in entries]
    if not entries or got_steps[-1] != training.BUDGET["steps"] or training.EVERY not in got_steps:
        raise AssertionError(
            f"{training.WHAT} with every = {training.EVERY}: history['valid'] lists the steps {short(got_steps)}; expected "
            f"{training.EVERY} and {training.BUDGET['steps']} (every `every` steps and after the last)"
        )
    expected = run.bpc("valid", run.valid_ids)
    close(
        entries[-1][1],
        expected,
        f"{training.WHAT}: the last entry of history['valid'], the bits per character on `valid` (computed here from the returned weights)",
        tol=1e-4,
        rel=1e-5,
        hints=[
            (
                lambda v: abs(v - run.bpc("train", run.train_ids)) < 1e-4,
                "it is the rate on the training text: evaluate on `valid`",
            ),
            (lambda v: abs(v - expected * LN2) < 1e-4, "it is in nats, not bits"),
        ],
    )
