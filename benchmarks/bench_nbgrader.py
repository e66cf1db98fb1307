"""hw1 as notebooks, graded two ways: `nbgrader autograde` (serial, the course's test cells in each
notebook's kernel) and `course grade` (in parallel, isolation on), over the same 20 submissions:
10 right, 5 wrong, 3 with a syntax error, 2 that loop forever (one at the top of a cell, one in a
function).

    python benchmarks/bench_nbgrader.py [--jobs N]

Prints both times, their ratio (goal: course grade at least 4x faster) and whether every student's
points agree. Not a test: figures depend on the machine. Needs nbgrader (`pip install -e ".[nbgrader]"`).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.hw1_variants import WRONG  # noqa: E402
from tests.fixtures.notebooks import solved, submit, with_code_after, with_edit  # noqa: E402

SPEEDUP_TARGET = 4.0
SYNTAX_ERRORS = [
    ("def entropy(p, base: float = 2.0) -> float:", "def entropy(p, base: float = 2.0) -> float"),
    ("    if not freqs:\n", "    if not freqs\n"),
    ("def mutual_information(joint, base: float = 2.0) -> float:", "def mutual_information(joint, base: float = 2.0) -> float"),
]
LOOPS = [
    ("answer_1_5", "\n\nwhile True:\n    pass\n"),  # at the top of a cell
    ("answer_1_4", "\n\ndef entropy(p, base=2.0):\n    while True:\n        pass\n"),  # in one function
]


def run(cmd: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "MPLBACKEND": "Agg", "COURSE_ROOT": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    return time.perf_counter() - start, proc


def build_class(course_dir: Path) -> int:
    right = solved(course_dir, "hw1")
    notebooks = {f"right-{i:02d}": right for i in range(10)}
    notebooks |= {f"wrong-{v.name}": with_edit(right, v.old, v.new) for v in WRONG[:5]}
    notebooks |= {f"syntax-{i}": with_edit(right, old, new) for i, (old, new) in enumerate(SYNTAX_ERRORS)}
    notebooks |= {f"loop-{i}": with_code_after(right, cell, code) for i, (cell, code) in enumerate(LOOPS)}
    for student, nb in notebooks.items():
        submit(course_dir, "hw1", student, nb)
    return len(notebooks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    args = parser.parse_args()
    course = [sys.executable, "-m", "grader.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        course_dir, graded = Path(tmp) / "nbgrader-course", Path(tmp) / "graded"
        run([*course, "nbgrader", "init", str(course_dir)], ROOT)
        run([sys.executable, "-m", "nbgrader", "generate_assignment", "hw1"], course_dir)
        n = build_class(course_dir)

        theirs, _ = run([sys.executable, "-m", "nbgrader", "autograde", "hw1"], course_dir)
        run([sys.executable, "-m", "nbgrader", "export"], course_dir)
        with (course_dir / "grades.csv").open() as f:
            exported = {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(f)}

        ours, proc = run([*course, "grade", "hw1", str(course_dir / "submitted"), "--out", str(graded), "--jobs", str(args.jobs)], ROOT)
        scores = {s: json.loads((graded / "students" / s / "result.json").read_text())["score"] for s in exported}

    print(f"nbgrader autograde hw1, {n} notebooks (serial):        {theirs:7.2f} s   {theirs / n:.2f} s/submission")
    print(f"course grade hw1, same {n} notebooks, --jobs {args.jobs}:  {ours:7.2f} s   {ours / n:.2f} s/submission   "
          f"({proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ''})")
    print(f"speed-up {theirs / ours:.2f}x   target >= {SPEEDUP_TARGET:g}x")
    differ = {s: (exported[s], scores[s]) for s in exported if abs(exported[s] - scores[s]) > 0.01}
    print(f"scores identical for all {len(exported)} students" if not differ else f"scores DIFFER (nbgrader, course): {differ}")
    totals = sorted(scores.values(), reverse=True)
    print(f"  scores: {', '.join(f'{s:g}' for s in totals)}")


if __name__ == "__main__":
    main()
