"""hw2 grading speed: `course check hw2` (public suite) on the reference, and the full public +
hidden run, each against its target (public suite <= 20 s on 2 cores); then the slowest tests
against hw2's per-test time limit (the limit should be >= 10x what the reference needs).

    python benchmarks/bench_hw2.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PUBLIC_TARGET_S = 20.0
LIMIT_RATIO = 10.0


def run(args: list[str]) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "grader.cli", *args, "--json"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"course {' '.join(args)} failed: {proc.stderr.strip()[-300:]}") from None
    return time.perf_counter() - start, result


def main() -> None:
    from grader.config import load_course

    limits = load_course(ROOT).built("hw2").limits
    seconds, result = run(["check", "hw2", "--path", str(ROOT / "solutions" / "hw2")])
    print(f"course check hw2 (reference, public suite): {seconds:6.2f} s   target {PUBLIC_TARGET_S:g} s   "
          f"ratio {seconds / PUBLIC_TARGET_S:.2f}   [{result['score']:g} / {result['max_score']:g}]")
    seconds, result = run(["check", "hw2", "--solution"])
    print(f"course check hw2 --solution (public + hidden): {seconds:6.2f} s   [{result['score']:g} / {result['max_score']:g}]")
    print(f"\nslowest tests against the {limits.wall_s:g} s limit per test (want >= {LIMIT_RATIO:g}x):")
    for t in sorted(result["tests"], key=lambda t: -t["seconds"])[:6]:
        print(f"  {t['task']}  {t['seconds']:5.2f} s   {limits.wall_s / max(t['seconds'], 1e-3):6.1f}x   {t['name'][:70]}")
    print("  (the first test that builds a torch optimizer also pays about 2 s to load torch._dynamo)")


if __name__ == "__main__":
    main()
