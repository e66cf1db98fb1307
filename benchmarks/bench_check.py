"""How long a learner and an instructor wait for `course check`, per built assignment:

    course check ID --solution              public + hidden suites on solutions/<folder>
    course check ID --path <copy>           public suite only, on a copy of solutions/<folder>

    python benchmarks/bench_check.py [--assignment ID] [--repeat N]

Each command runs as its own process (`python -m grader.cli ...`, with COURSE_ROOT set to this
checkout and MPLBACKEND=Agg), so a figure includes starting Python, importing the grader and
starting the worker: what a person at the terminal waits for. Best of --repeat runs (default 3).
Prints one row per assignment and command (seconds, score) and the goal: `course check hw2` and
`course check hw3` on the reference in at most 3 s.

`course check --path` records the score in .course/progress.json; the learner's file is kept as it
was (copied before, put back after; removed again if there was none). The solutions are graded
from a temporary copy, so nothing under solutions/ is written.

Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.config import CourseError, load_course  # noqa: E402
from grader.paths import workspace_state  # noqa: E402

GOAL_S = {"hw2": 3.0, "hw3": 3.0}  # course check on the reference, either command


def timed(args: list[str]) -> tuple[float, dict]:
    """Seconds of one `course ARGS --json` run, and its result."""
    env = {**os.environ, "COURSE_ROOT": str(ROOT), "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "grader.cli", *args, "--json"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    try:
        return seconds, json.loads(proc.stdout)
    except json.JSONDecodeError:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise SystemExit(f"course {' '.join(args)} failed (exit {proc.returncode}): {lines[-1] if lines else ''}") from None


@contextmanager
def progress_kept():
    """Whatever `course check` records in .course/progress.json is undone afterwards."""
    state = workspace_state(ROOT)
    folder_existed = state.parent.is_dir()
    saved = state.read_bytes() if state.is_file() else None
    mode = state.stat().st_mode & 0o777 if saved is not None else None
    try:
        yield
    finally:
        if saved is None:
            state.unlink(missing_ok=True)
            if not folder_existed and state.parent.is_dir() and not any(state.parent.iterdir()):
                state.parent.rmdir()
        elif not state.is_file() or state.read_bytes() != saved:
            tmp = state.with_name(f".{state.name}.bench")
            tmp.write_bytes(saved)
            os.chmod(tmp, mode)
            os.replace(tmp, state)


def best(args: list[str], repeat: int) -> tuple[float, dict]:
    runs = [timed(args) for _ in range(repeat)]
    return min(s for s, _ in runs), runs[-1][1]


def suite_report(assignment: str, repeat: int, target_s: float, slowest: int = 8) -> None:
    """`course check ID --solution` and `--path <copy of solutions/ID>` (public), each the best of
    `repeat` fresh processes, against `target_s`; then the seconds in tests by task and the slowest
    tests (what bench_hw4.py and bench_hw5.py print first)."""
    full_s, full = best(["check", assignment, "--solution"], repeat)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / assignment
        shutil.copytree(ROOT / "solutions" / assignment, copy, ignore=shutil.ignore_patterns("__pycache__"))
        with progress_kept():
            public_s, public = best(["check", assignment, "--path", str(copy)], repeat)
    for what, seconds, result in (
        (f"course check {assignment} --solution (public + hidden)", full_s, full),
        (f"course check {assignment} --path <copy of solutions/{assignment}> (public)", public_s, public),
    ):
        n = len(result["tests"])
        print(
            f"{what}: {seconds:6.2f} s (best of {repeat}, a fresh process)   target {target_s:g} s   "
            f"{'met' if seconds <= target_s else 'NOT MET'}   [{result['score']:g} / {result['max_score']:g}, {n} tests, "
            f"{sum(t['seconds'] for t in result['tests']):.2f} s in tests]"
        )
    by_task: dict[str, float] = {}
    for t in full["tests"]:
        by_task[t["task"]] = by_task.get(t["task"], 0.0) + t["seconds"]
    print("seconds in tests by task (public + hidden): " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(by_task.items())))
    print("slowest tests (public + hidden, last run):")
    for t in sorted(full["tests"], key=lambda t: -t["seconds"])[:slowest]:
        print(f"  {t['task']}  {t['kind']:<6} {t['seconds']:6.2f} s   {t['nodeid'].split('::')[-1][:80]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", help="one built assignment (default: every built one)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command; the best counts (default 3)")
    args = parser.parse_args()
    course = load_course(ROOT)
    try:
        assignments = [course.built(args.assignment)] if args.assignment else [a for a in course.assignments if a.built]
    except CourseError as exc:
        raise SystemExit(str(exc)) from None

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for a in assignments:
            seconds, result = best(["check", a.id, "--solution"], args.repeat)
            rows.append((a.id, "--solution (public + hidden)", seconds, result))
            copy = Path(tmp) / a.folder
            shutil.copytree(ROOT / "solutions" / a.folder, copy, ignore=shutil.ignore_patterns("__pycache__"))
            with progress_kept():
                seconds, result = best(["check", a.id, "--path", str(copy)], args.repeat)
            rows.append((a.id, f"--path solutions/{a.folder} (public)", seconds, result))

    print(f"course check, best of {args.repeat} (each a fresh process):")
    print(f"  {'assignment':<11}{'command':<38}{'seconds':>8}   {'score':<14}{'goal':>8}")
    for aid, what, seconds, result in rows:
        goal = GOAL_S.get(aid)
        verdict = "" if goal is None else f"<= {goal:g} s {'met' if seconds <= goal else 'NOT MET'}"
        score = f"{result['score']:g} / {result['max_score']:g}"
        print(f"  {aid:<11}{what:<38}{seconds:8.2f}   {score:<14}{verdict:>8}")
    print(f"goal: course check hw2 and hw3 on the reference in <= {max(GOAL_S.values()):g} s")


if __name__ == "__main__":
    main()
