"""hw3 figures: the reference Adam's step time against torch.optim.Adam(foreach=True) on a ~10M
parameter model (goal: within 1.3x), and the public suite's time on the reference (goal <= 15 s).

    python benchmarks/bench_hw3.py [--device cuda] [--no-suite]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="where the step runs: cpu (default) or cuda")
    parser.add_argument("--no-suite", action="store_true", help="only the step time")
    args = parser.parse_args()
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
