"""hw5 figures: the grading time of `course check hw5` on the reference (goal <= 30 s on 2 cores),
the reference's full training run (goal: >= 97% of the held-out test digits in <= 90 s on 2 cores)
with the CNN baseline beside it under the same budget, a seed sweep of task 5.5's grading run behind
its bars, and, where CUDA is present, the same runs on the GPU against the CPU.

    python benchmarks/bench_hw5.py [--no-suite] [--no-full] [--seeds N] [--jobs J] [--device cuda] [--csv FILE]

(i) `course check hw5 --solution` and `--path <copy>` (public), each a fresh process.
(ii) The full run: solutions/hw5's ViT(**FULL) trained by its train_vit for FULL_SECONDS of wall
    time on the training digits (RECIPE), two intra-op threads, then scored on the validation and
    test digits; the SmallCNN of `course plot hw5` trained by the same train_vit for the same
    seconds, beside it. Both also on --device when given (the budget there in the epochs the CPU
    run reached, so the two runs take the same steps: their accuracies must agree within
    AGREE_POINTS).
(iii) The sweep: for seeds 0..N-1, task 5.5's test exactly (ViT(**training.CONFIG) built under the
    seed, train_vit(..., **training.SETTINGS, seed=seed)), one thread per process; prints the
    accuracy's min, percentiles and max on the validation and test digits and the share of seeds
    above the bars (goal: every seed, with a margin).
Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import csv
import functools
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SOLUTIONS = ROOT / "solutions" / "hw5"
CHECK_TARGET_S = 30.0
FULL = {"dim": 96, "depth": 3, "heads": 4}  # the reference's full run: 7x7 patches
RECIPE = {"batch_size": 128, "lr": 1e-3}  # train_vit's other arguments at their defaults (±2-pixel shifts, ...)
FULL_SECONDS = 85.0  # of training; with the scoring, the run stays under 90 s
FULL_TARGET = 0.97
AGREE_POINTS = 1.0  # CPU and GPU runs of the same steps: accuracy within this many points
PERCENTILES = (1, 5, 50, 95)
SLOWEST = 8


def start_process(threads: int = 1) -> None:
    torch.set_num_threads(threads)
    for path in (str(ROOT), str(SOLUTIONS)):
        if path not in sys.path:
            sys.path.insert(0, path)


@functools.lru_cache(maxsize=1)
def digits() -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    from grader.data import mnist_split

    return {s: mnist_split(s) for s in (0, 1, 2)}


# -- (i) course check hw5 ----------------------------------------------------------------------------


def suite(repeat: int) -> None:
    from bench_check import suite_report  # benchmarks/ is this script's folder, on sys.path

    suite_report("hw5", repeat, CHECK_TARGET_S, SLOWEST)


# -- (ii) the full run, and the CNN beside it ----------------------------------------------------------


def accuracy(net: torch.nn.Module, split: int, device: str) -> float:
    x, y = digits()[split]
    with torch.no_grad():
        net.to(device).eval()
        predicted = torch.cat([net(c.to(device)).argmax(1).cpu() for c in x.split(500)])
    return float((predicted == y).double().mean())


def full_run(kind: str, device: str, seconds: float | None, epochs: float | None, seed: int = 0) -> dict:
    start_process(threads=2)
    import vit  # solutions/hw5/vit.py

    from grader.worker.drivers.hw5 import SmallCNN

    torch.manual_seed(seed)
    net = vit.ViT(**FULL) if kind == "ViT" else SmallCNN()
    x, y = digits()[0]
    if device == "cuda":
        torch.cuda.synchronize()
    history = vit.train_vit(net, x, y, epochs=epochs, seconds=seconds, seed=seed, device=device, **RECIPE)
    row = {
        "model": kind,
        "device": device,
        "parameters": sum(p.numel() for p in net.parameters()),
        "train_s": history["seconds"],
        "steps": history["steps"],
        "epochs": history["epochs"],
    }
    t0 = time.perf_counter()
    row["valid"], row["test"] = accuracy(net, 1, device), accuracy(net, 2, device)
    row["score_s"] = time.perf_counter() - t0
    return row


def show(r: dict) -> None:
    print(
        f"  {r['model']:<4} {r['device']:<5} {r['parameters']:7,d} parameters: {r['steps']} steps ({r['epochs']:.1f} epochs) "
        f"in {r['train_s']:.1f} s + {r['score_s']:.1f} s scoring; validation {r['valid']:.1%}, test {r['test']:.1%}",
        flush=True,
    )


def full(device: str | None) -> list[dict]:
    print(f"\nthe full run: ViT({FULL}) and the CNN, {FULL_SECONDS:g} s of training each on the CPU (2 threads), {RECIPE}")
    rows = []
    for kind in ("ViT", "CNN"):
        r = full_run(kind, "cpu", FULL_SECONDS, None)
        show(r)
        rows.append(r)
    vit_row = rows[0]
    total = vit_row["train_s"] + vit_row["score_s"]
    print(
        f"  goal: ViT >= {FULL_TARGET:.0%} of the test digits in <= 90 s: {vit_row['test']:.1%} in {total:.1f} s, "
        f"{'met' if vit_row['test'] >= FULL_TARGET and total <= 90 else 'NOT MET'}"
    )
    if device and device != "cpu":
        print(f"\nthe same steps on {device} (the budget in the epochs each CPU run reached):")
        for r in list(rows):
            g = full_run(r["model"], device, None, r["epochs"])
            show(g)
            rows.append(g)
            gap = 100 * abs(g["test"] - r["test"])
            print(
                f"    {r['model']} CPU vs {device}: test {r['test']:.1%} vs {g['test']:.1%}, {gap:.1f} points apart "
                f"(tolerance {AGREE_POINTS:g}): {'agree' if gap <= AGREE_POINTS else 'DISAGREE'}; "
                f"{r['train_s'] / g['train_s']:.1f}x faster"
            )
    return rows


# -- (iii) the sweep of task 5.5's grading run ---------------------------------------------------------


def one_seed(seed: int, device: str = "cpu") -> dict:
    start_process()
    import vit  # solutions/hw5/vit.py

    from grader.suites.hw5 import training

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = vit.ViT(**training.CONFIG)
    x, y = digits()[0]
    history = vit.train_vit(net, x, y, **training.SETTINGS, seed=seed, device=device)
    net.cpu().eval()
    with torch.no_grad():
        valid, test = (training.accuracy(net(digits()[s][0]), digits()[s][1]) for s in (1, 2))
    return {"seed": seed, "device": device, "train_s": history["seconds"], "valid": valid, "test": test}


def summary(values: list[float], fmt: str) -> str:
    a = np.asarray(values, dtype=float)
    cells = [f"min {a.min():{fmt}}"] + [f"p{p} {np.percentile(a, p):{fmt}}" for p in PERCENTILES] + [f"max {a.max():{fmt}}"]
    return ", ".join(cells)


def sweep(seeds: int, jobs: int) -> list[dict]:
    from grader.suites.hw5 import training

    start = time.perf_counter()
    rows = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(one_seed, s) for s in range(seeds)]
        for done, future in enumerate(as_completed(futures), 1):
            r = future.result()
            rows.append(r)
            print(
                f"[{done:3d}/{seeds}] seed {r['seed']:3d}: validation {r['valid']:.3f}, test {r['test']:.3f}, "
                f"{r['train_s']:.1f} s",
                flush=True,
            )
    rows.sort(key=lambda r: r["seed"])
    n = len(rows)
    print(
        f"\ntask 5.5's run over {n} seeds (0..{n - 1}): ViT({training.CONFIG}), {training.SETTINGS}, "
        f"{jobs} process(es) of one thread, {time.perf_counter() - start:.0f} s "
        f"({np.mean([r['train_s'] for r in rows]):.1f} s of training per seed)"
    )
    for name, label, bar in (("valid", "validation", training.VALIDATION_BAR), ("test", "test", training.TEST_BAR)):
        values = [r[name] for r in rows]
        print(f"  {label + ' accuracy:':<21}{summary(values, '.3f')}")
        print(
            f"  {'':<21}above the bar {bar:.0%}: {sum(v >= bar for v in values)} of {n}; "
            f"margin at the worst seed {100 * (min(values) - bar):.1f} points"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-suite", action="store_true", help="skip timing course check hw5")
    parser.add_argument("--no-full", action="store_true", help="skip the full run and the CNN")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each course check (best is kept)")
    parser.add_argument("--seeds", type=int, default=0, help="seeds of task 5.5's run to sweep (0: none)")
    parser.add_argument("--jobs", type=int, default=2, help="processes for the sweep")
    parser.add_argument("--device", default=None, help="also run the full run there (cuda)")
    parser.add_argument("--csv", type=Path, default=None, help="write every run's row here")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch.cuda.is_available() is False here")
    rows: list[dict] = []
    if not args.no_suite:
        suite(args.repeat)
    if not args.no_full:
        rows += full(args.device)
    if args.seeds:
        rows += sweep(args.seeds, args.jobs)
    if args.csv and rows:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        with args.csv.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
