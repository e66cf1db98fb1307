"""hw3 figures: the reference Adam's step time against torch.optim.Adam(foreach=True) on a ~10M
parameter model (goal: within 1.3x), the public suite's time on the reference (goal <= 15 s), and,
with --sweep, the seed sweep behind task 3.5's threshold: LAMB at batch 1024 trained with seeds
0..N+1 by the reference and by variants, the share of seeds whose median of three runs (the
statistic the tests use) reaches the target (goal: >= 99% for the reference and every correct
variant).

    python benchmarks/bench_hw3.py [--device cuda] [--no-suite] [--sweep N [--variants a,b]]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
STEP_RATIO_TARGET, PUBLIC_TARGET_S = 1.3, 15.0


def reference_adam():
    spec = importlib.util.spec_from_file_location("reference_optimizers", ROOT / "solutions" / "hw3" / "optimizers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Adam


def step_time(make_optimizer, device: str = "cpu", repeats: int = 20) -> float:
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(1024, 1024) for _ in range(10)]).to(device)  # 10.5M parameters
    opt = make_optimizer(model.parameters())
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(3):
        opt.step()
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        opt.step()
    sync()
    return (time.perf_counter() - start) / repeats


SWEEP_VARIANTS = "lamb_trust_ratio_as_tensors,phi_not_clamped,trust_ratio_over_the_whole_model"


def variant_module(name: str, tmp: Path):
    """The reference optimizers module, or one of hw3's audit variants of it, imported."""
    from grader.audit import load_variants, make_submission
    from grader.config import load_course

    folder = ROOT / "solutions" / "hw3"
    if name != "reference":
        wrong, correct = load_variants(load_course(ROOT).built("hw3"))
        folder = make_submission(folder, next(v for v in wrong + correct if v.name == name), tmp / name)
    spec = importlib.util.spec_from_file_location("optimizers", folder / "optimizers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sweep(seeds: int, names: list[str]) -> None:
    """Task 3.5's large-batch statistic over `seeds` seeds, for the reference and `names`."""
    import tempfile

    import numpy as np

    from grader.data import digit_features
    from grader.suites.hw3.conftest import RUNS
    from grader.suites.hw3.loops import Local, predictions, train_digits
    from grader.suites.hw3.public.test_experiments import TARGET_ACCURACY

    torch.set_num_threads(1)  # as in the worker
    x, labels, split = digit_features()
    with tempfile.TemporaryDirectory() as tmp:
        for name in ["reference", *names]:
            lamb = Local(variant_module(name, Path(tmp)).LAMB, {"lr": 0.032, "weight_decay": 0.01})
            start = time.perf_counter()
            accs = {1: [], 2: []}
            for seed in range(seeds + RUNS - 1):  # the tests' loop (grader.suites.hw3.loops), the optimizer here
                model, _ = train_digits(lamb, x[split == 0], labels[split == 0], 1024, 80, seed)
                hit = predictions(model, x[split > 0]).numpy() == labels[split > 0]
                for s in accs:
                    accs[s].append(float(hit[split[split > 0] == s].mean()))
            seconds = (time.perf_counter() - start) / (seeds + RUNS - 1)
            for s, label in ((1, "validation"), (2, "test")):
                single = np.array(accs[s][:seeds])
                median = np.array([np.median(accs[s][i : i + RUNS]) for i in range(seeds)])
                print(f"{name:36s} {label:10s} single run: min {single.min():.3f}, 1st percentile {np.percentile(single, 1):.3f}, "
                      f"median {np.median(single):.3f} | median of {RUNS}: min {median.min():.3f}, "
                      f"{(median >= TARGET_ACCURACY).mean():.1%} of {seeds} seeds >= {TARGET_ACCURACY} ({seconds:.2f} s per run)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="where the step runs: cpu (default) or cuda")
    parser.add_argument("--no-suite", action="store_true", help="only the step time")
    parser.add_argument("--sweep", type=int, default=0, metavar="N", help="only the seed sweep of task 3.5, over N seeds")
    parser.add_argument("--variants", default=SWEEP_VARIANTS, help="audit variants swept beside the reference (comma-separated)")
    args = parser.parse_args()
    if args.sweep:
        sweep(args.sweep, [n for n in args.variants.split(",") if n])
        return
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    n = sum(p.numel() for p in torch.nn.Sequential(*[torch.nn.Linear(1024, 1024) for _ in range(10)]).parameters())
    ours = step_time(lambda ps: reference_adam()(ps, lr=1e-3), args.device)
    theirs = step_time(lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True), args.device)
    print(f"Adam step on {n / 1e6:.1f}M parameters ({args.device}): reference {ours * 1e3:.2f} ms, torch foreach "
          f"{theirs * 1e3:.2f} ms, ratio {ours / theirs:.2f} (target <= {STEP_RATIO_TARGET})")
    if args.no_suite:
        return
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "check", "hw3", "--path", str(ROOT / "solutions" / "hw3")],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    seconds = time.perf_counter() - start
    total = next((" ".join(ln.split()) for ln in proc.stdout.splitlines() if ln.strip().startswith("Total")), proc.stderr[-200:])
    print(f"course check hw3 (reference, public suite): {seconds:.2f} s   target {PUBLIC_TARGET_S:g} s   "
          f"ratio {seconds / PUBLIC_TARGET_S:.2f}   [{total}]")


if __name__ == "__main__":
    main()
