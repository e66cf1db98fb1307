"""An assignment as notebooks, graded two ways over the same class: nbgrader 0.9's `autograde`
(serial: each notebook runs in its own kernel, its test cells call the course's graders) and
`course grade ID SUBMITTED --jobs N` (students in parallel, each in a sandboxed worker).

    python benchmarks/bench_nbgrader.py [--assignment ID] [--jobs N] [--students N]

ID is any assignment course.yaml marks `status: built` (default hw1); --jobs defaults to the number
of cores, --students to 20. The class is made from the solved notebook, the same way for every
assignment (nothing in here is specific to one):

    10 right   the released notebook with every answer cell holding the reference answer;
     5 wrong   the first 5 of the assignment's WRONG variants (grader/suites/ID/hidden/variants.py)
               whose edits all fall inside one answer cell each (a variant whose text spans cells,
               or lies in a read-only cell, is skipped and the next one taken);
     3 syntax  the colon removed from the first `def ...:` line of three different answer cells;
     2 loops   `while True: pass` at the top level of the first answer cell, and the first function
               of the last answer cell that defines one redefined (same signature) to loop forever.

--students N scales the mix proportionally, at least one of each kind (N >= 4), for a quick try.

Steps, in a temporary folder: `course nbgrader init`, `nbgrader generate_assignment ID`, the class
written to submitted/<student>/ID/ID.ipynb, `nbgrader autograde ID` (timed), `nbgrader export`,
then `course grade ID submitted --out DIR --jobs N` (timed) on the same notebooks. While `course
grade` runs, the resident memory of its whole process tree (the command, its grading processes,
sandboxes and workers, found through /proc/<pid>/task/*/children) is summed every ~50 ms; the peak
is reported two ways. The sum of VmRSS counts a page shared by several processes (the forked
grading processes share the grader; each worker shares its warm parent's preloaded libraries) once
per process: an upper bound. The sum of Pss splits each shared page among the processes that share
it, so it counts every page once: the tree's real footprint, and what the memory goal is judged on.

Prints both times, each student's points and seconds under both, whether the points are identical,
the peak memory, the goals, and as its last line `ratio X.XXx (nbgrader / course grade, ID, N
students, --jobs J)`. Goals on a 2-core machine: course grade at least 6x faster than autograde for
hw1 and 5x for hw3; the peak memory of `course grade hw3 --jobs 2` at most 1.3 GiB.

Not a test: figures depend on the machine. Needs nbgrader (`pip install -e ".[nbgrader]"`); a full
class takes minutes (the looping notebooks wait out their time limits under both graders).
"""

from __future__ import annotations

import argparse
import ast
import copy
import csv
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.audit import load_variants  # noqa: E402
from grader.config import CourseError, load_course  # noqa: E402
from tests.fixtures.notebooks import cells, solved, submit, with_code_after, with_edit  # noqa: E402

SPEEDUP_GOAL = {"hw1": 6.0, "hw3": 5.0}  # nbgrader autograde time / course grade time
RSS_GOAL_GIB = {("hw3", 2): 1.3}  # (assignment, --jobs) -> peak memory of course grade's tree (sum of Pss)
MIX = {"right": 10, "wrong": 5, "syntax": 3, "loop": 2}  # of 20 students
SAMPLE_S = 0.05
GIB = 1024**3


def env() -> dict:
    return {**os.environ, "MPLBACKEND": "Agg", "COURSE_ROOT": str(ROOT)}


def run(cmd: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[2:5])} failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    return time.perf_counter() - start, proc


# --- the class --------------------------------------------------------------------------------


def counts(n: int) -> dict[str, int]:
    """How many students of each kind among n: MIX scaled, at least one of each."""
    if n < len(MIX):
        raise SystemExit(f"--students must be at least {len(MIX)} (one of each kind: {', '.join(MIX)})")
    out = {k: max(1, round(n * c / sum(MIX.values()))) for k, c in MIX.items() if k != "right"}
    while n - sum(out.values()) < 1:  # a small class: give the right ones at least one
        out[max(out, key=out.get)] -= 1
    return {"right": n - sum(out.values()), **out}


def applied(nb: dict, edits) -> dict | None:
    """The notebook with every (file, old, new) edit made in the one answer cell that holds `old`
    once; None where an edit's text is not in exactly one answer cell (split across cells, or in a
    read-only one)."""
    for _, old, new in edits:
        hits = [c for c in cells(nb, "answer_") if old in c["source"]]
        if len(hits) != 1 or hits[0]["source"].count(old) != 1:
            return None
        nb = with_edit(nb, old, new)
    return nb


def def_line(source: str) -> str | None:
    """The first `def ...:` line of a cell (a method's too; a signature on one line)."""
    for line in source.splitlines(keepends=True):
        if line.lstrip().startswith("def ") and line.rstrip().endswith(":"):
            return line
    return None


def without_colon(nb: dict, cell_id: str, line: str) -> dict:
    """The notebook with the first occurrence of `line` in one cell losing its final colon."""
    nb = copy.deepcopy(nb)
    (cell,) = [c for c in nb["cells"] if c.get("id") == cell_id]
    cut = line.rstrip()[:-1] + line[len(line.rstrip()):]
    cell["source"] = cell["source"].replace(line, cut, 1)
    return nb


def looping_redefinition(source: str) -> str | None:
    """The cell's first top-level function redefined, same signature, to loop forever."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    lines = source.splitlines()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.body[0].lineno > node.lineno:  # the signature: from `def` to the line before the body
                header = "\n".join(lines[node.lineno - 1 : node.body[0].lineno - 1]).rstrip()
            else:
                header = f"def {node.name}(*args, **kwargs):"
            return f"\n\n\n{header}\n    while True:\n        pass\n"
    return None


def build_class(course_dir: Path, course, a, n: int) -> dict[str, str]:
    """Write the class under course_dir/submitted; student -> kind."""
    right = solved(course_dir, a.id)
    answers = cells(right, "answer_")
    want = counts(n)
    notebooks: dict[str, tuple[str, dict]] = {}

    for i in range(want["right"]):
        notebooks[f"right-{i:02d}"] = ("right", right)

    wrong, _ = load_variants(a)
    usable, skipped = [], []
    for v in wrong:
        if len(usable) == want["wrong"]:
            break
        nb = applied(right, v.edits())
        (usable.append((v.name, nb)) if nb is not None else skipped.append(v.name))
    if not usable:
        raise SystemExit(f"{a.id}: no WRONG variant's edits fall inside the notebook's answer cells")
    if skipped:
        print(f"wrong variants skipped (their text is not inside one answer cell): {', '.join(skipped)}")
    for i in range(want["wrong"]):
        name, nb = usable[i % len(usable)]
        notebooks[f"wrong-{i:02d}-{name}"] = ("wrong", nb)

    broken = [(c["id"], line) for c in answers if (line := def_line(c["source"]))]
    if not broken:
        raise SystemExit(f"{a.id}: no answer cell has a `def ...:` line to break")
    for i in range(want["syntax"]):
        cell_id, line = broken[i % len(broken)]
        notebooks[f"syntax-{i:02d}-{cell_id}"] = ("syntax", without_colon(right, cell_id, line))

    loops = [("top", answers[0]["id"], "\n\nwhile True:\n    pass\n")]
    for c in reversed(answers):
        if code := looping_redefinition(c["source"]):
            loops.append(("function", c["id"], code))
            break
    for i in range(want["loop"]):
        where, cell_id, code = loops[i % len(loops)]
        notebooks[f"loop-{i:02d}-{where}-{cell_id}"] = ("loop", with_code_after(right, cell_id, code))

    for student, (_, nb) in notebooks.items():
        submit(course_dir, a.id, student, nb)
    return {student: kind for student, (kind, _) in notebooks.items()}


# --- peak memory of a process tree ------------------------------------------------------------


def rss_bytes(pid: int) -> tuple[int, int]:
    """(VmRSS, Pss) of a process in bytes: Pss divides each shared page among the processes that
    share it, so summed over a tree it counts every page once."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass  # gone, or a zombie
    return rss, pss


def children(pid: int) -> list[int]:
    out = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            with open(path) as f:
                out += [int(p) for p in f.read().split()]
        except (OSError, ValueError):
            pass
    return out


def tree_rss(root: int) -> tuple[int, int, int]:
    """(sum of VmRSS, sum of Pss, in bytes; number of processes) of `root` and its descendants."""
    total = shared = 0
    seen: set[int] = set()
    stack = [root]
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        rss, pss = rss_bytes(pid)
        total, shared = total + rss, shared + pss
        stack += children(pid)
    return total, shared, len(seen)


class PeakRSS(threading.Thread):
    """Samples tree_rss(pid) every SAMPLE_S seconds until the process ends."""

    def __init__(self, proc: subprocess.Popen):
        super().__init__(daemon=True)
        self.proc, self.peak, self.peak_pss, self.processes, self.samples = proc, 0, 0, 0, 0

    def run(self) -> None:
        while self.proc.poll() is None:
            rss, pss, count = tree_rss(self.proc.pid)
            self.peak, self.peak_pss, self.processes = max(self.peak, rss), max(self.peak_pss, pss), max(self.processes, count)
            self.samples += 1
            time.sleep(SAMPLE_S)


def course_grade(cmd: list[str]) -> tuple[float, str, PeakRSS]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = PeakRSS(proc)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"course grade failed: {(err or out).strip().splitlines()[-1:]}")
    return seconds, out, sampler


# --- nbgrader's per-notebook times ------------------------------------------------------------

LOG_FORMAT = "%(created).3f [%(name)s | %(levelname)s] %(message)s"
STARTED = re.compile(r"^(?P<t>\d+\.\d+) .*Creating/updating student with ID '(?P<student>[^']+)'")


def autograde_seconds(log: str, finished: float) -> dict[str, float]:
    """Seconds per student from autograde's log: from one student's start to the next one's."""
    starts = sorted((float(m["t"]), m["student"]) for line in log.splitlines() if (m := STARTED.match(line)))
    ends = [t for t, _ in starts[1:]] + [finished]
    return {student: end - t for (t, student), end in zip(starts, ends)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="hw1", help="a built assignment (default hw1)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="course grade --jobs (default: all cores)")
    parser.add_argument("--students", type=int, default=sum(MIX.values()), help="class size (default 20)")
    args = parser.parse_args()
    course = load_course(ROOT)
    try:
        a = course.built(args.assignment)
    except CourseError as exc:
        raise SystemExit(str(exc)) from None
    counts(args.students)  # a class too small for the mix is refused before anything runs
    cli = [sys.executable, "-m", "grader.cli"]
    nbgrader = [sys.executable, "-m", "nbgrader"]

    with tempfile.TemporaryDirectory() as tmp:
        course_dir, graded = Path(tmp) / "nbgrader-course", Path(tmp) / "graded"
        run([*cli, "nbgrader", "init", str(course_dir)], ROOT)
        run([*nbgrader, "generate_assignment", a.id], course_dir)
        kinds = build_class(course_dir, course, a, args.students)
        n = len(kinds)
        mix = ", ".join(f"{sum(k == kind for k in kinds.values())} {kind}" for kind in MIX)
        print(f"{a.id}: {n} notebooks ({mix})", flush=True)

        theirs, proc = run([*nbgrader, "autograde", a.id, f"--NbGrader.log_format={LOG_FORMAT}"], course_dir)
        their_seconds = autograde_seconds(proc.stderr + proc.stdout, time.time())
        run([*nbgrader, "export"], course_dir)
        with (course_dir / "grades.csv").open() as f:
            exported = {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(f) if row["assignment"] == a.id}

        ours, out, memory = course_grade([*cli, "grade", a.id, str(course_dir / "submitted"), "--out", str(graded),
                                          "--jobs", str(args.jobs)])
        results = {s: json.loads((graded / "students" / s / "result.json").read_text()) for s in kinds}

    summary = next((ln.strip() for ln in out.splitlines() if ln.startswith("graded")), "")
    print(f"\n{'student':<44} {'kind':<7} {'nbgrader':>15} {'course grade':>15}")
    for s in sorted(kinds):
        mine = results[s]
        print(f"{s[:44]:<44} {kinds[s]:<7} {exported.get(s, float('nan')):6g} {their_seconds.get(s, float('nan')):6.1f} s  "
              f"{mine['score']:6g} {mine['seconds']:6.1f} s   / {mine['max_score']:g}")
    print(f"\nnbgrader autograde {a.id}, {n} notebooks (serial):   {theirs:7.2f} s   {theirs / n:.2f} s/submission")
    print(f"course grade {a.id}, same {n} notebooks, --jobs {args.jobs}: {ours:7.2f} s   {ours / n:.2f} s/submission   ({summary})")
    differ = {s: (exported.get(s), results[s]["score"]) for s in kinds
              if s not in exported or abs(exported[s] - results[s]["score"]) > 0.01}
    print(f"scores identical for all {n} students" if not differ else
          f"scores DIFFER for {len(differ)} of {n} (student: nbgrader, course grade): {differ}")
    rss = memory.peak / GIB
    line = (f"peak resident memory of course grade (process tree, sum of VmRSS): {rss:.2f} GiB "
            f"(at most {memory.processes} processes, {memory.samples} samples); "
            f"sum of Pss (shared pages counted once): {memory.peak_pss / GIB:.2f} GiB")
    if (goal := RSS_GOAL_GIB.get((a.id, args.jobs))) is not None:
        pss = memory.peak_pss / GIB
        line += f"   goal (sum of Pss) <= {goal:g} GiB: {'met' if pss <= goal else 'NOT MET'}"
    print(line)
    ratio = theirs / ours
    if (goal := SPEEDUP_GOAL.get(a.id)) is not None:
        print(f"speed-up goal >= {goal:g}x: {'met' if ratio >= goal else 'NOT MET'}")
    print(f"ratio {ratio:.2f}x (nbgrader / course grade, {a.id}, {n} students, --jobs {args.jobs})")


if __name__ == "__main__":
    main()
