"""hw4 figures: the grading time of `course check hw4` on the reference (public + hidden, and the
public suite alone, each a fresh process; goal <= 20 s on 2 cores) with its slowest tests, and a
seed sweep of task 4.7's experiment behind its bar (>= 20x smaller by the honest count, within
1 point of the float32 network's accuracy; goal: the reference meets it for >= 99% of seeds).

    python benchmarks/bench_hw4.py [--no-suite] [--seeds N] [--jobs J] [--csv FILE]

The sweep does what task 4.7's test does, in-process and with the reference: for seeds 0..N-1,
LeNet-300-100 trained on the training digits by `grader.suites.hw4.experiment.trained(seed, ...)`,
then `deep_compress(model, x, y, seed=seed)` of solutions/hw4/compress.py (with its defaults:
sparsity 0.92, 4 bits, 20 + 5 epochs), on one intra-op thread per process, as in the worker. For
each seed it records

- the honest ratio: 32 x 266,610 bits over the reference's `layer_size` recount on the weights
  deep_compress left (mask = w != 0, codebook = their distinct values, one index per kept weight,
  row-major), plus 32 bits per bias;
- the bound ratio: the same over `experiment.bound_bits` (bitmask + ceil(log2 k)-bit indices + k
  float32 centroids per matrix: what the grading side can count without the student's code);
- the accuracy drop, float32 minus compressed, on the 1,000 validation and the 1,000 test digits
  (in points; 1 point = 10 digits);

and prints min, percentiles and max of each and the share of seeds that meet the bar (ratio >= 20
and drop <= 1 point), on validation and on test digits. --jobs runs seeds in that many processes.
Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import csv
import functools
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SOLUTIONS = ROOT / "solutions" / "hw4"
CHECK_TARGET_S = 20.0  # course check hw4 on 2 cores
SLOWEST = 8
PERCENTILES = (1, 5, 50, 95)


# -- (i) course check hw4 ------------------------------------------------------------------------


def suite(repeat: int) -> None:
    from bench_check import suite_report  # benchmarks/ is this script's folder, on sys.path

    suite_report("hw4", repeat, CHECK_TARGET_S, SLOWEST)


# -- (ii) the seed sweep of task 4.7 -------------------------------------------------------------


def start_process() -> None:
    """In each sweep process: one intra-op thread (as the worker), and the reference modules
    importable by name (compress.deep_compress imports prune and quantize)."""
    torch.set_num_threads(1)
    for path in (str(ROOT), str(SOLUTIONS)):
        if path not in sys.path:
            sys.path.insert(0, path)


@functools.lru_cache(maxsize=1)
def digits() -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    from grader.data import mnist_split

    return {s: mnist_split(s) for s in (0, 1, 2)}


def correct(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    with torch.no_grad():
        return int((model(x.flatten(1)).argmax(1) == y).sum())


def honest_bits(compress, state: dict, bits: int) -> int:
    """The reference's layer_size recount of the weights as they are, biases at 32 bits each."""
    total = 0
    for name, value in state.items():
        if name.endswith("weight"):
            mask = value != 0
            codebook = torch.unique(value[mask])
            indices = torch.searchsorted(codebook, value[mask])
            total += compress.layer_size(mask, indices, bits).total
        else:
            total += 32 * value.numel()
    return total


def one_seed(seed: int) -> dict:
    start_process()
    import compress  # solutions/hw4/compress.py

    from grader.suites.hw4 import experiment

    data = digits()
    x, y = data[0]
    t0 = time.perf_counter()
    original = experiment.trained(seed, x, y)
    t1 = time.perf_counter()
    model = experiment.build(experiment.SPEC, original)
    size = compress.deep_compress(model, x, y, seed=seed)
    t2 = time.perf_counter()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    before = experiment.build(experiment.SPEC, original)
    parameters_bits = experiment.PARAMETERS * 32
    row: dict = {
        "seed": seed,
        "honest_ratio": parameters_bits / honest_bits(compress, state, experiment.BITS),
        "reported_ratio": size.ratio(experiment.PARAMETERS),
        "bound_ratio": parameters_bits / experiment.bound_bits(state),
    }
    for split, name in ((1, "valid"), (2, "test")):
        xs, ys = data[split]
        f, c = correct(before, xs, ys), correct(model, xs, ys)
        row[f"{name}_float"] = f / len(ys)
        row[f"{name}_compressed"] = c / len(ys)
        row[f"{name}_drop_points"] = 100 * (f - c) / len(ys)
        row[f"{name}_pass_accuracy"] = f - c <= round(experiment.POINTS * len(ys))  # counted in digits: no float fuzz
    row["train_s"], row["compress_s"] = t1 - t0, t2 - t1
    return row


def summary(values: list[float], fmt: str) -> str:
    a = np.asarray(values, dtype=float)
    cells = [f"min {a.min():{fmt}}"] + [f"p{p} {np.percentile(a, p):{fmt}}" for p in PERCENTILES] + [f"max {a.max():{fmt}}"]
    return ", ".join(cells)


def sweep(seeds: int, jobs: int, table: Path | None) -> None:
    from grader.suites.hw4 import experiment

    start = time.perf_counter()
    rows = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(one_seed, s) for s in range(seeds)]
        for done, future in enumerate(as_completed(futures), 1):
            r = future.result()
            rows.append(r)
            print(
                f"[{done:3d}/{seeds}] seed {r['seed']:3d}: honest {r['honest_ratio']:5.2f}x, bound {r['bound_ratio']:5.2f}x; "
                f"validation {r['valid_float']:.3f} -> {r['valid_compressed']:.3f} ({r['valid_drop_points']:+.1f}), "
                f"test {r['test_float']:.3f} -> {r['test_compressed']:.3f} ({r['test_drop_points']:+.1f}); "
                f"train {r['train_s']:.1f} s, deep_compress {r['compress_s']:.1f} s",
                flush=True,
            )
    rows.sort(key=lambda r: r["seed"])
    wall = time.perf_counter() - start
    n = len(rows)
    print(
        f"\ntask 4.7 over {n} seeds (0..{n - 1}), reference deep_compress, {jobs} process(es), {wall:.0f} s "
        f"({np.mean([r['train_s'] for r in rows]):.1f} s training + {np.mean([r['compress_s'] for r in rows]):.1f} s "
        f"deep_compress per seed, one thread each)"
    )
    print(f"  honest ratio (layer_size):   {summary([r['honest_ratio'] for r in rows], '.2f')}")
    print(f"  reported (ModelSize.ratio):  {summary([r['reported_ratio'] for r in rows], '.2f')}")
    print(f"  bound ratio (bound_bits):    {summary([r['bound_ratio'] for r in rows], '.2f')}")
    for name, label in (("valid", "validation"), ("test", "test")):
        print(f"  {'float32 accuracy, ' + label + ':':<31}{summary([r[f'{name}_float'] for r in rows], '.3f')}")
        print(f"  {'drop in points, ' + label + ':':<31}{summary([r[f'{name}_drop_points'] for r in rows], '.1f')}")
    for ratio in ("honest_ratio", "bound_ratio"):
        ok_ratio = [r[ratio] >= experiment.RATIO for r in rows]
        for name, label in (("valid", "validation"), ("test", "test")):
            ok = [a and r[f"{name}_pass_accuracy"] for a, r in zip(ok_ratio, rows)]
            failed = [r["seed"] for r, k in zip(rows, ok) if not k]
            print(
                f"  bar ({ratio.split('_')[0]} >= {experiment.RATIO:g}x and drop <= {100 * experiment.POINTS:g} point on {label}): "
                f"{sum(ok)}/{n} = {sum(ok) / n:.1%} of seeds (goal >= 99%){'; fails: seeds ' + str(failed) if failed else ''}"
            )
    if table is not None:
        with table.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(
                {k: round(v, 5) if isinstance(v, float) and math.isfinite(v) else v for k, v in r.items()} for r in rows
            )
        print(f"  per seed: {table}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-suite", action="store_true", help="skip the timing of course check hw4")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each course check; the best counts (default 1)")
    parser.add_argument("--seeds", type=int, default=100, help="seeds of the 4.7 sweep, 0..N-1 (default 100; 0 skips it)")
    parser.add_argument("--jobs", type=int, default=1, help="processes for the sweep (default 1)")
    parser.add_argument("--csv", type=Path, help="write the sweep's per-seed figures here")
    args = parser.parse_args()
    if not args.no_suite:
        suite(args.repeat)
    if args.seeds:
        sweep(args.seeds, args.jobs, args.csv)


if __name__ == "__main__":
    main()
