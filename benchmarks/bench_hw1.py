"""hw1 grading speed: `course check hw1` on the reference, and `course grade hw1` over 20
generated submissions (10 right, 5 wrong, 3 with a syntax error, 2 that loop forever).

    python benchmarks/bench_hw1.py [--jobs N]

Prints seconds and the ratio to each target (check <= 10 s; grading 20 <= 25 s on 2 cores).
Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.hw1_variants import WRONG, make_submission  # noqa: E402

CHECK_TARGET_S, GRADE_TARGET_S = 10.0, 25.0
SYNTAX_ERRORS = {
    "information.py": ("def entropy(p, base: float = 2.0) -> float:", "def entropy(p, base: float = 2.0) -> float"),
    "huffman.py": ("    if not freqs:\n", "    if not freqs\n"),
}
LOOPS = {
    "huffman.py": "\nwhile True:\n    pass\n",  # at import
    "information.py": "\n\ndef entropy(p, base=2.0):\n    while True:\n        pass\n",  # in one function
}


def build_class(folder: Path) -> None:
    solutions = ROOT / "solutions" / "hw1"
    for i in range(10):
        shutil.copytree(solutions, folder / f"right-{i:02d}")
    for v in WRONG[:5]:
        make_submission(solutions, v, folder / f"wrong-{v.name}")
    for i, (name, (old, new)) in enumerate([*SYNTAX_ERRORS.items(), ("information.py", ("return float(", "return float(("))]):
        target = folder / f"syntax-{i}"
        shutil.copytree(solutions, target)
        text = (target / name).read_text()
        (target / name).write_text(text.replace(old, new, 1))
    for i, (name, code) in enumerate(LOOPS.items()):
        target = folder / f"loop-{i}"
        shutil.copytree(solutions, target)
        with open(target / name, "a") as f:
            f.write(code)


def timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    return time.perf_counter() - start, proc.stdout + proc.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    args = parser.parse_args()
    course = [sys.executable, "-m", "grader.cli"]

    seconds, output = timed([*course, "check", "hw1", "--path", str(ROOT / "solutions" / "hw1")])
    total_line = next((ln.strip() for ln in output.splitlines() if ln.strip().startswith("Total")), "?")
    print(f"course check hw1 (reference, public suite): {seconds:6.2f} s   target {CHECK_TARGET_S:g} s   ratio {seconds / CHECK_TARGET_S:.2f}   [{total_line}]")

    with tempfile.TemporaryDirectory() as tmp:
        subs, out = Path(tmp) / "subs", Path(tmp) / "out"
        build_class(subs)
        n = len(list(subs.iterdir()))
        seconds, output = timed([*course, "grade", "hw1", str(subs), "--out", str(out), "--jobs", str(args.jobs)])
        summary = next((ln for ln in output.splitlines() if ln.startswith("graded")), output.strip()[-200:])
        print(f"course grade hw1, {n} submissions, --jobs {args.jobs}: {seconds:6.2f} s   {seconds / n:.2f} s/submission   "
              f"target {GRADE_TARGET_S:g} s   ratio {seconds / GRADE_TARGET_S:.2f}")
        print(f"  {summary}")
        rows = (out / "grades.csv").read_text().splitlines()[1:]
        print("  totals: " + ", ".join(f"{r.split(',')[0]}={r.split(',')[-1]}" for r in rows))


if __name__ == "__main__":
    main()
