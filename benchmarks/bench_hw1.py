"""hw1 grading speed: `course check hw1` on the reference, and `course grade hw1` over 20
generated submissions (10 right, 5 wrong, 3 with a syntax error, 2 that loop forever).

    python benchmarks/bench_hw1.py [--jobs N] [--limits]

Prints seconds and the ratio to each target (check <= 10 s; grading 20 <= 25 s on 2 cores).
--limits also grades the reference and every correct variant one at a time and prints, for the
slowest tests, their seconds and the per-test limit over the slowest correct answer (policy: >= 10).
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

from grader.audit import load_variants, make_submission  # noqa: E402
from grader.config import load_course  # noqa: E402

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
    wrong, _ = load_variants(load_course(ROOT).assignment("hw1"))
    for v in wrong[:5]:
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


def time_limits(top: int = 8) -> None:
    """Per-test seconds of the slowest tests: the reference against every correct variant."""
    from grader.runner import run_assignment

    course = load_course(ROOT)
    a = course.assignment("hw1")
    _, correct = load_variants(a)
    solutions = ROOT / "solutions" / "hw1"
    seconds: dict[str, dict[str, float]] = {}  # test -> submission -> seconds
    with tempfile.TemporaryDirectory() as tmp:
        for name, folder in [("reference", solutions)] + [(v.name, make_submission(solutions, v, Path(tmp) / v.name)) for v in correct]:
            for t in run_assignment(course, "hw1", folder, suites=("public", "hidden")).tests:
                seconds.setdefault(t.nodeid.split("::")[-1], {})[name] = t.seconds
    slowest = sorted(seconds.items(), key=lambda item: -max(item[1].values()))[:top]
    print(f"per-test time limit {a.limits.wall_s:g} s; the slowest tests (reference, slowest correct variant, limit / slowest):")
    for test, by in slowest:
        worst = max(by, key=by.get)
        print(f"  {test:<48} {by['reference']:6.2f} s   {by[worst]:6.2f} s ({worst})   {a.limits.wall_s / by[worst]:5.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--limits", action="store_true", help="also time the slowest tests on every correct variant")
    args = parser.parse_args()
    if args.limits:
        time_limits()
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
