"""`course nbgrader verify DIR ID`: do nbgrader's grades agree with `course grade`'s?

nbgrader's side is its gradebook (nbgrader's own API, opened read-only): the score of each
student's submission of ID, and per task the score of its `tests_N_M` grade cell
(grader/nbcourse.py names them). The other side is `course grade` (grader.batch.grade) on the
same notebooks, `DIR/submitted/<student>/ID/ID.ipynb`, each copied with the assignment's artifacts
into a folder of its own (a student's folder may hold other assignments too). Every student whose
points differ by more than TOLERANCE is listed, and so is one found on one side only: submitted
but not autograded by nbgrader, or autograded but not gradable by `course grade`.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import click

from grader.config import Assignment, Course
from grader.errors import CourseError
from grader.results import printable

TOLERANCE = 0.01  # points: nbgrader stores partial credit rounded to 2 decimals
GRADE_CELL = re.compile(r"^tests_(\d+)_(\d+)$")  # nbcourse's test cell of task N.M
STAGED = "course-verify-"  # the temporary folder the notebooks are copied to, for `course grade`


@dataclass
class Points:
    """One student's points on one side: in all, and per task (empty where that side does not say)."""

    total: float
    tasks: dict[str, float] = field(default_factory=dict)


@dataclass
class Collected:
    """What `collect` found in DIR, before anything is graded."""

    course: Course
    assignment: Assignment
    directory: Path
    nbgrader: dict[str, Points]  # student -> nbgrader's points, per submission in the gradebook
    notebooks: dict[str, Path]  # student -> DIR/submitted/<student>/ID, which holds ID.ipynb
    unreadable: dict[str, str]  # student -> why `course grade` is not given that submission


@dataclass
class Difference:
    """A student whose points differ; None on the side that has no points for them, with `why`."""

    student: str
    nbgrader: float | None
    course: float | None
    tasks: list[tuple[str, float, float]] = field(default_factory=list)  # (task, nbgrader's, course grade's)
    why: str = ""


@dataclass
class Verification:
    """What `compare` found: the differences (none when both sides agree on every student)."""

    assignment: str
    students: int  # on either side
    differences: list[Difference]
    out: Path | None  # course grade's reports, where they were kept

    @property
    def agree(self) -> bool:
        return not self.differences


def gradebook_url(directory: Path) -> str:
    """nbgrader's db_url: the one nbgrader_config.py sets as a plain string, else nbgrader's
    default, DIR/gradebook.db. The config is read, not run (it is the instructor's code)."""
    config = directory / "nbgrader_config.py"
    url = f"sqlite:///{directory.absolute() / 'gradebook.db'}"
    if not config.is_file():
        return url
    try:
        tree = ast.parse(config.read_bytes(), str(config))
    except (SyntaxError, ValueError) as exc:
        raise CourseError(f"{config}: not valid Python ({printable(exc, 200)})") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(ast.unparse(t) == "c.CourseDirectory.db_url" for t in node.targets):
            if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                raise CourseError(f"{config}:{node.lineno}: db_url is not a plain string, so the gradebook cannot be found")
            url = node.value.value
    return url


def read_only(url: str, directory: Path, assignment_id: str) -> tuple[str, str]:
    """(a URL that opens the gradebook without writing to it, the gradebook's name for messages).
    A missing SQLite file is refused first: nbgrader's Gradebook would create an empty one."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CourseError(f"{directory / 'nbgrader_config.py'}: db_url {url!r} is not a database URL") from None
    if parsed.get_backend_name() != "sqlite":
        return url, parsed.render_as_string(hide_password=True)
    path = Path(parsed.database or "")
    path = path if path.is_absolute() else directory / path  # nbgrader runs in DIR
    if not parsed.database or parsed.database == ":memory:" or not path.is_file():
        raise CourseError(
            f"{directory}: no nbgrader gradebook ({path} is missing); run `nbgrader autograde {assignment_id}` there first"
        )
    # SQLAlchemy unquotes the path once and SQLite's URI parser once more: quoted twice
    return f"sqlite:///file:{quote(quote(str(path.absolute())))}?mode=ro&uri=true", str(path)


def nbgrader_points(directory: Path, assignment_id: str) -> dict[str, Points]:
    """Every submission of `assignment_id` in DIR's gradebook: the student's points, and per task
    the points of its `tests_N_M` grade cell (a manual grade counts where there is one)."""
    url, name = read_only(gradebook_url(directory), directory, assignment_id)
    from nbgrader.api import Gradebook, MissingEntry  # (seconds to import: after the cheap checks)
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with Gradebook(url, course_id="") as gb:  # "": looks up no course, so adds none
            try:
                gb.find_assignment(assignment_id)
            except MissingEntry:
                known = ", ".join(a.name for a in gb.assignments) or "none"
                raise CourseError(
                    f"{assignment_id}: not in the gradebook {name} (it has: {known}); "
                    f"run `nbgrader autograde {assignment_id}` in {directory} first"
                ) from None
            found = {}
            for submission in gb.assignment_submissions(assignment_id):
                tasks: dict[str, float] = {}
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        if m := GRADE_CELL.match(grade.name):
                            task = f"{m[1]}.{m[2]}"
                            tasks[task] = tasks.get(task, 0.0) + float(grade.score or 0.0)
                found[submission.student.id] = Points(float(submission.score or 0.0), tasks)
            return found
    except (SQLAlchemyError, ImportError) as exc:  # ImportError: no driver for the db_url's database
        cause = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise CourseError(f"{name}: not a readable nbgrader gradebook ({printable(cause, 200)})") from None


def submitted(directory: Path, assignment_id: str) -> tuple[dict[str, Path], dict[str, str]]:
    """(student -> DIR/submitted/<student>/ID holding ID.ipynb, student -> why theirs cannot be
    graded): a folder without the notebook, or one that is a link (as `course grade` refuses one)."""
    top = directory / "submitted"
    notebooks, unreadable = {}, {}
    folders = sorted(p for p in top.iterdir() if not p.name.startswith(".")) if top.is_dir() else []
    for student in folders:
        folder = student / assignment_id
        if not os.path.lexists(folder):
            continue
        notebook = folder / f"{assignment_id}.ipynb"
        if student.is_symlink() or folder.is_symlink():
            unreadable[student.name] = f"{folder} is a symbolic link; a submission must hold its own files"
        elif not os.path.lexists(notebook):
            unreadable[student.name] = f"{folder} holds no {assignment_id}.ipynb"
        elif not notebook.is_symlink() and not notebook.is_file():
            unreadable[student.name] = f"{notebook} is not a regular file"
        else:
            notebooks[student.name] = folder
    if not notebooks:
        raise CourseError(f"{top}: no <student>/{assignment_id}/{assignment_id}.ipynb there; collect the submissions first")
    return notebooks, unreadable


def collect(course: Course, directory: Path, assignment_id: str) -> Collected:
    """Both sides' inputs, or a one-line CourseError saying which is missing (nothing is graded yet)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CourseError(f"{directory}: no such folder")
    a = course.built(assignment_id)
    points = nbgrader_points(directory, a.id)
    notebooks, unreadable = submitted(directory, a.id)
    return Collected(course, a, directory, points, notebooks, unreadable)


def stage(c: Collected, into: Path) -> dict[str, str]:
    """One folder per student holding their ID.ipynb and the assignment's artifacts beside it, so
    `course grade` grades that notebook and nothing else of theirs; a link is copied as a link
    (which `course grade` refuses). Returns student -> why their files could not be copied."""
    failed = {}
    for student, folder in c.notebooks.items():
        target = into / student
        try:
            target.mkdir(parents=True)
            for name in (f"{c.assignment.id}.ipynb", *c.assignment.artifacts):
                if (folder / name).is_symlink() or (folder / name).is_file():
                    shutil.copy2(folder / name, target / name, follow_symlinks=False)
        except OSError as exc:
            failed[student] = f"{folder}: cannot be read ({exc.strerror or exc})"
            shutil.rmtree(target, ignore_errors=True)
    return failed


def course_points(c: Collected, out: Path, jobs: int | None, progress: Callable[..., None] | None) -> dict[str, Points | str]:
    """student -> `course grade`'s points, or why it could not grade them."""
    from grader.batch import grade, student_dir
    from grader.results import RunResult

    found: dict[str, Points | str] = dict(c.unreadable)
    with tempfile.TemporaryDirectory(prefix=STAGED) as tmp:
        staged = Path(tmp)
        found.update(stage(c, staged))
        graded = {s: folder for s, folder in c.notebooks.items() if s not in found}
        if graded:
            grade(c.course, c.assignment.id, staged, out, jobs=jobs, progress=progress)
        for student, folder in graded.items():
            result = RunResult.from_dict(json.loads((student_dir(out, student) / "result.json").read_text()))
            if result.tests:
                found[student] = Points(result.score, result.task_points())
            else:  # the cause names the copy (this run's, or an earlier one's in OUT): name the original
                copy = rf"\S*/{STAGED}[^/\s]*/{re.escape(student)}(?=/|\s|:|$)"
                found[student] = re.sub(copy, str(folder).replace("\\", "\\\\"), "; ".join(result.notes))
    return found


def differences(c: Collected, ours: dict[str, Points | str]) -> list[Difference]:
    """Every student whose points differ by more than TOLERANCE, or who is on one side only."""
    found = []
    for student in sorted(c.nbgrader.keys() | ours.keys()):
        theirs, mine = c.nbgrader.get(student), ours.get(student)
        unread = f"course grade could not grade it: {mine}" if isinstance(mine, str) else ""
        if theirs is None:
            why = "; ".join(filter(None, ["not autograded by nbgrader", unread]))
            found.append(Difference(student, None, mine.total if isinstance(mine, Points) else None, why=why))
        elif not isinstance(mine, Points):
            why = unread or f"not in {c.directory / 'submitted'}"
            found.append(Difference(student, theirs.total, None, why=why))
        elif abs(theirs.total - mine.total) > TOLERANCE:
            tasks = [
                (t.id, theirs.tasks.get(t.id, 0.0), mine.tasks.get(t.id, 0.0))
                for t in c.assignment.tasks
                if theirs.tasks and abs(theirs.tasks.get(t.id, 0.0) - mine.tasks.get(t.id, 0.0)) > TOLERANCE
            ]
            found.append(Difference(student, theirs.total, mine.total, tasks))
    return found


def compare(
    c: Collected, out: Path | None = None, jobs: int | None = None, progress: Callable[..., None] | None = None
) -> Verification:
    """Grade the collected notebooks with `course grade` (into `out`, else a temporary folder) and
    compare. As with `course grade`, students already finished in `out` are not graded again."""
    if out is not None:
        ours = course_points(c, Path(out), jobs, progress)
    else:
        with tempfile.TemporaryDirectory(prefix="course-grades-") as tmp:
            ours = course_points(c, Path(tmp), jobs, progress)
    return Verification(c.assignment.id, len(c.nbgrader.keys() | ours.keys()), differences(c, ours), out)


def one_line(text: str, limit: int = 300) -> str:
    """Text from a submission or a gradebook, safe on one line of the listing."""
    return printable(text, limit).replace("\n", "\\n").replace("\t", " ")


def render(v: Verification) -> str:
    """One line per student whose points differ, then one summary line."""

    def points(x: float | None) -> str:
        return "none" if x is None else f"{x:g} points"

    lines = []
    for d in v.differences:
        line = f"{one_line(d.student, 100)}: nbgrader {points(d.nbgrader)}, course grade {points(d.course)}"
        if d.tasks:
            line += f"; differ in task{'s' if len(d.tasks) > 1 else ''} "
            line += ", ".join(f"{task} ({theirs:g} vs {mine:g})" for task, theirs, mine in d.tasks)
        if d.why:
            line += f" ({one_line(d.why)})"
        lines.append(line)
    kept = f"; course grade's reports in {v.out}" if v.out is not None else ""
    if v.agree:
        lines.append(
            f"{v.assignment}: nbgrader and course grade agree on all {v.students} students (within {TOLERANCE:g} points){kept}"
        )
    else:
        lines.append(
            f"{v.assignment}: {len(v.differences)} of {v.students} students differ (by more than {TOLERANCE:g} points){kept}"
        )
    return "\n".join(lines)


@click.command("verify")
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("assignment")
@click.option("--out", type=click.Path(path_type=Path), help="Keep course grade's reports here (default: a temporary folder).")
@click.option("--jobs", type=int, default=None, help="Submissions graded at once (default: all cores).")
def verify(directory, assignment, out, jobs):
    """Do nbgrader's grades agree with `course grade`? Grade the notebooks
    DIRECTORY/submitted/<student>/ASSIGNMENT/ASSIGNMENT.ipynb with `course grade` and compare each
    student's points with those in nbgrader's gradebook (DIRECTORY/gradebook.db, or the db_url
    nbgrader_config.py sets), which is only read.

    Lists every student whose points differ by more than 0.01 (with the tasks where they differ),
    or who is on one side only, then a summary line. Students already graded in --out are kept, as
    with `course grade`. Exit status: 0 all agree, 1 some differ, 2 the comparison could not run.
    """
    from grader.command import course_obj
    from grader.progress import progress

    collected = collect(course_obj(), directory, assignment)
    with progress(len(collected.notebooks), f"grading {assignment}", "students") as shown:
        result = compare(collected, out, jobs, progress=lambda *_: shown.advance())
    click.echo(render(result))
    sys.exit(0 if result.agree else 1)
