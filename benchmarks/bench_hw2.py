"""hw2 grading speed: `course check hw2` (public suite) on the reference, and the full
public + hidden run, each against its target (public suite <= 20 s on 2 cores).

    python benchmarks/bench_hw2.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_TARGET_S = 20.0


def timed(args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "grader.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    total = next((ln.strip() for ln in proc.stdout.splitlines() if ln.strip().startswith("Total")), proc.stderr.strip()[-200:])
    return time.perf_counter() - start, " ".join(total.split())


def main() -> None:
    seconds, total = timed(["check", "hw2", "--path", str(ROOT / "solutions" / "hw2")])
    print(f"course check hw2 (reference, public suite): {seconds:6.2f} s   target {PUBLIC_TARGET_S:g} s   ratio {seconds / PUBLIC_TARGET_S:.2f}   [{total}]")
    seconds, total = timed(["check", "hw2", "--solution"])
    print(f"course check hw2 --solution (public + hidden): {seconds:6.2f} s   [{total}]")


if __name__ == "__main__":
    main()
