"""`course grade`: grade a class. Every sub-folder of SUBMISSIONS is one student.

Up to `jobs` grading processes (forked from this one) take students in turn; each student's suites
run with a sandboxed worker of their own. A student whose grading process died is graded again in
a fresh process (`python -m grader.batch ...`). Grading processes and workers die with `course
grade` (even under kill -9), and one `--out` folder takes one run at a time (a lock).

Per student, `students/<name>/` gets `result.json` (everything), `results.json` (Gradescope) and
`feedback.txt`, each written atomically, then a `.done` stamp holding their sha256: students have a
folder of their own, so no student's name can collide with a class file. A rerun skips a student
whose stamp matches the files, so an interrupted batch (even by kill -9) resumes where it stopped; a
file that does not match its stamp (half a batch, or a forged results.json) is graded again.
For the class, at the top of `--out`: `grades.csv`, `failures.csv` (every test that did not pass,
with its cause) and `histogram.png`.

`--out` also gets `class.json`, the manifest: the assignment, the course version it is graded with,
the shard (`--shard K/N`: only the students whose folder name hashes to K) and the students given,
so that `course merge` (grader/merge.py) can refuse what does not belong together. A folder holding
another assignment's grades, or grades made with another version of the course, is refused.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from grader import sandbox
from grader.config import Assignment, Course
from grader.errors import CourseError
from grader.manifest import MANIFEST, Manifest, Shard, course_version, read_manifest, version_difference
from grader.report import csv_cell, feedback_text, gradescope
from grader.report_html import write_report
from grader.results import RunResult, printable, write_atomic, write_json, writing
from grader.worker.confine import die_with_parent

DONE = ".done"
STUDENTS = "students"  # out/students/<name>/: one folder per student, apart from the class files
LOCK = ".course-grade.lock"


def student_dir(out: Path, name: str) -> Path:
    return Path(out) / STUDENTS / name


@dataclass
class BatchSummary:
    graded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # finished in an earlier run
    ungradable: dict[str, str] = field(default_factory=dict)  # student -> cause
    seconds: float = 0.0
    isolation: str = ""


def students(submissions: Path) -> list[Path]:
    if not submissions.is_dir():
        raise CourseError(f"{submissions}: no such folder")
    found = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise CourseError(f"{submissions}: no student folders inside (one sub-folder per student)")
    return found


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for name in ("result.json", "results.json", "feedback.txt"):
        h.update(name.encode() + b"\0" + (folder / name).read_bytes() + b"\0")
    return h.hexdigest()


def finished(folder: Path) -> bool:
    try:
        return (folder / DONE).read_text().strip() == _digest(folder)
    except OSError:
        return False


def save_student(folder: Path, result: RunResult, assignment: Assignment, student: str) -> None:
    (folder / DONE).unlink(missing_ok=True)
    write_json(folder / "result.json", result.to_dict())
    write_json(folder / "results.json", gradescope(result, assignment))
    write_atomic(folder / "feedback.txt", feedback_text(result, assignment, student))
    write_atomic(folder / DONE, _digest(folder) + "\n")


def ungradable_result(assignment: Assignment, submission: Path, cause: str, isolation: str) -> RunResult:
    from grader.results import TaskScore

    result = RunResult(assignment.id, str(submission), isolation, ["public", "hidden"], notes=[printable(cause)])
    result.tasks = [TaskScore(t.id, t.title, 0.0, t.points, 0, 0) for t in assignment.tasks]
    return result


def _grade_in_pool(
    root: str, assignment_id: str, submission: str, isolation: str, trial: int = 0, seeded_only: bool = False
) -> dict:
    """Runs in a pool process (forked from the parent, so nothing is imported again), or in the
    fallback grading process of `grade_one`."""
    from grader.config import load_course
    from grader.runner import run_assignment

    course = load_course(Path(root))
    return run_assignment(
        course, assignment_id, Path(submission), ("public", "hidden"), isolation=isolation, trial=trial, seeded_only=seeded_only
    ).to_dict()


def _one_thread() -> None:
    """Pool initializer: no orphans, and one thread (torch may already be loaded, and threaded, in
    the process forked from)."""
    die_with_parent(os.getppid())
    if _LOCK_FD is not None:  # the lock is the parent's: a grading process left behind must not hold it
        os.close(_LOCK_FD)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def grade_one(
    course: Course, assignment: Assignment, submission: Path, isolation: str, trial: int = 0, seeded_only: bool = False
) -> RunResult:
    """Grade one student in a fresh grading process (the fallback when a pool process died)."""
    with tempfile.TemporaryDirectory() as tmp:
        result_file = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            "-m",
            "grader.batch",
            str(course.root),
            assignment.id,
            str(submission),
            str(result_file),
            isolation,
            str(trial),
            "seeded" if seeded_only else "all",
        ]
        env = {**os.environ, "COURSE_ROOT": str(course.root), "MPLBACKEND": "Agg"}
        budget = assignment.limits.grader_s + 60
        try:
            proc = subprocess.run(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=budget,
                preexec_fn=lambda: die_with_parent(os.getppid()),
            )
        except subprocess.TimeoutExpired:
            return ungradable_result(assignment, submission, f"grading took longer than {budget:g} s", isolation)
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            cause = lines[-1] if lines else f"the grading process exited with status {proc.returncode}"
            return ungradable_result(assignment, submission, cause, isolation)
        return RunResult.from_dict(json.loads(result_file.read_text()))


def grade(
    course: Course,
    assignment_id: str,
    submissions: Path,
    out: Path,
    jobs: int | None = None,
    force: bool = False,
    isolation: str | None = None,
    progress=None,
    trial: int = 0,
    seeded_only: bool = False,
    shard: Shard | None = None,
) -> BatchSummary:
    """Grade every student folder under `submissions` (or only `shard`'s) into `out`; see the
    module docstring. `trial` and `seeded_only` are `course audit --seeds`'s (see
    grader.runner.run_assignment)."""
    from grader.paths import suite_dir

    a = course.built(assignment_id)
    if not suite_dir(a, "hidden").is_dir():
        raise CourseError(f"{a.id}: the hidden suite is not here; `course grade` needs the instructor's copy")
    everyone = students(Path(submissions))
    if shard is not None:
        everyone = shard.pick(everyone)
    out = Path(out)
    k, n = (shard.k, shard.n) if shard is not None else (1, 1)
    manifest = Manifest(a.id, course_version(course, a), [k], n, [s.name for s in everyone])
    with class_lock(out):
        _check_earlier(out, manifest, force)
        manifest.write(out)
        return _grade_locked(course, a, everyone, out, jobs, force, isolation, progress, trial, seeded_only)


def _check_earlier(out: Path, manifest: Manifest, force: bool) -> None:
    """A folder's finished students are kept, so it must not hold another assignment's grades, nor
    (unless --force grades them again) grades made with another version of the course."""
    if not (out / MANIFEST).exists():
        return
    earlier = read_manifest(out)
    if earlier.assignment != manifest.assignment:
        raise CourseError(f"{out}: holds the grades of {earlier.assignment}; grade {manifest.assignment} into another --out")
    if earlier.course_version != manifest.course_version and not force:
        change = version_difference(earlier.course_version, manifest.course_version)
        raise CourseError(
            f"{out}: graded with another version of the course ({change}); --force grades everyone again, or use another --out"
        )


_LOCK_FD: int | None = None  # the held lock's descriptor, which forked grading processes close


@contextlib.contextmanager
def class_lock(out: Path):
    """One `course grade` per output folder at a time: a second run on the same --out is refused
    with the first one's pid, instead of grading the whole class twice. The lock (flock) goes with
    the process that holds it, so a killed run leaves no stale lock behind."""
    import fcntl

    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise CourseError(f"{out}: cannot write the grades there ({exc.strerror or exc})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise CourseError(
                f"{out}: another `course grade` (pid {holder}) is writing there; wait for it to finish, or use another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        global _LOCK_FD
        _LOCK_FD = fd
        yield
    finally:
        _LOCK_FD = None
        os.close(fd)


def _grade_locked(
    course: Course, a: Assignment, everyone: list[Path], out: Path, jobs, force, isolation, progress, trial, seeded_only
) -> BatchSummary:
    isolation = isolation or ("bwrap" if sandbox.bwrap_path() else "limits")
    summary = BatchSummary(isolation=isolation)
    todo = []
    for s in everyone:
        if not force and finished(student_dir(out, s.name)):
            summary.skipped.append(s.name)
        else:
            todo.append(s)
    started = time.monotonic()
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))

    def finish(student: Path, result: RunResult) -> None:
        folder = student_dir(out, student.name)
        with writing(folder):
            save_student(folder, result, a, student.name)
        summary.graded.append(student.name)
        if not result.tests:
            summary.ungradable[student.name] = "; ".join(result.notes)
        if progress is not None:
            progress(student.name, result)

    # Grading processes are forked from this one, so each starts with pytest and the course loaded;
    # they never run student code (their workers do), so one process may grade many students.
    import grader.runner  # (loaded once here, inherited by every forked grading process)

    grader.runner.preload(a, trial)

    # Grading processes run beside each other and beside their workers: one thread each, or
    # OpenMP's spinning threads starve everything else (10x slower on two cores).
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")

    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    retry = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_one_thread) as pool:
        # absolute, not resolved: a student folder that is a link is refused when graded, not followed
        futures = {
            pool.submit(_grade_in_pool, str(course.root), a.id, str(s.absolute()), isolation, trial, seeded_only): s for s in todo
        }
        try:
            for future in as_completed(futures):
                student = futures[future]
                try:
                    result = RunResult.from_dict(future.result())
                except CourseError as exc:
                    result = ungradable_result(a, student, str(exc), isolation)
                except BrokenProcessPool:
                    retry.append(student)
                    continue
                finish(student, result)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    for student in retry:
        finish(student, grade_one(course, a, student.absolute(), isolation, trial, seeded_only))
    summary.seconds = round(time.monotonic() - started, 2)
    write_class_reports(a, [s.name for s in everyone], out)
    return summary


def write_class_reports(a: Assignment, names: list[str], out: Path) -> None:
    """grades.csv, failures.csv and histogram.png from every student's result.json."""
    results = {n: RunResult.from_dict(json.loads((student_dir(out, n) / "result.json").read_text())) for n in names}
    grades, failures = io.StringIO(), io.StringIO()
    g = csv.writer(grades, lineterminator="\n")
    g.writerow(["student", *[f"{t.id} {t.title}" for t in a.tasks], "total"])
    f = csv.writer(failures, lineterminator="\n")
    f.writerow(["student", "task", "test", "kind", "cause", "feedback"])
    for n, r in results.items():
        points = r.task_points()
        g.writerow([csv_cell(n), *[f"{points.get(t.id, 0.0):g}" for t in a.tasks], f"{r.score:g}"])
        for note in r.notes:
            f.writerow([csv_cell(n), "", "", "", "ungradable" if not r.tests else "note", csv_cell(note)])
        for t in r.tests:
            if not t.passed:
                f.writerow([csv_cell(n), t.task, csv_cell(t.name), t.kind, t.cause, csv_cell(t.feedback)])
    for name, text in (("grades.csv", grades.getvalue()), ("failures.csv", failures.getvalue())):
        with writing(out / name):
            write_atomic(out / name, text)
    with writing(out / "histogram.png"):
        histogram([r.score for r in results.values()], a, out / "histogram.png")
    with writing(out / "report.html"):
        write_report(a, results, out)


def histogram(scores: list[float], a: Assignment, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    ax.hist(scores, bins=20, range=(0, a.points), color="#3b6ea5", edgecolor="white")
    ax.set_xlabel(f"score (out of {a.points:g})")
    ax.set_ylabel("students")
    mean = sum(scores) / len(scores) if scores else 0.0
    ax.set_title(f"{a.id}: {len(scores)} students, mean {mean:.1f}")
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def _main(argv: list[str]) -> int:
    """Grading process for one student: ROOT ASSIGNMENT SUBMISSION RESULT_JSON ISOLATION TRIAL all|seeded."""
    root, assignment_id, submission, result_file, isolation, trial, which = argv
    try:
        result = _grade_in_pool(root, assignment_id, submission, isolation, int(trial), which == "seeded")
    except CourseError as exc:
        print(exc, file=sys.stderr)
        return 2
    write_json(Path(result_file), result)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
