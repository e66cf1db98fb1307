"""`course check`: grade one folder (a student's work, or the solutions) and remember the score."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from pathlib import Path

from grader import paths
from grader.config import Assignment, Course
from grader.errors import CourseError
from grader.results import RunResult, write_json
from grader.runner import chosen_tasks, run_assignment


def check(
    course: Course,
    assignment_id: str,
    path: Path | None = None,
    solution: bool = False,
    isolation: str | None = None,
    select: str | None = None,
    tasks: Iterable[str] = (),
    hidden: bool = False,
) -> RunResult:
    """Public suite on the learner's code (default `assignments/<folder>`); public + hidden with
    `hidden=True` (where this copy of the course has the hidden suite), or on `solutions/<folder>`
    with `solution=True`. `tasks` (ids, each may be comma-separated) and `select` (a task id, or a
    pytest -k expression on test names) run a part; each test keeps its share of its task's points.
    A whole run on the learner's code, public or public + hidden, is recorded in the workspace's
    progress file; a selection or a run on the solutions is not."""
    a = course.built(assignment_id)
    chosen, select = selection(a, tasks, select)
    if hidden and not paths.suite_dir(a, "hidden").is_dir():
        raise CourseError(HIDDEN_ABSENT)
    if solution:
        if path is not None:
            raise CourseError("--solution grades solutions/; leave out --path")
        path = course.root / "solutions" / a.folder
        if not path.is_dir():
            raise CourseError(f"{path}: not found; --solution needs the instructor's copy of the course")
        suites: tuple[str, ...] = ("public", "hidden")
    else:
        path = Path(path) if path is not None else course.root / "assignments" / a.folder
        suites = ("public", "hidden") if hidden else ("public",)
    if not path.exists():
        raise CourseError(f"{path}: no such folder")
    result = run_assignment(course, a.id, path, suites, isolation=isolation, select=select, tasks=chosen)
    if not solution and select is None and chosen is None:
        record_progress(course.root, result)
    return result


HIDDEN_ABSENT = "the hidden tests are not in this copy of the course: they run when your work is graded"
TASK_IDS = re.compile(r"\d+\.\d+(\s*,\s*\d+\.\d+)*")


def selection(a: Assignment, tasks: Iterable[str], select: str | None) -> tuple[frozenset[str] | None, str | None]:
    """(the task ids asked for, or None for all; what is left of -k). `tasks` are ids, each
    possibly "1.5,1.6"; a -k that is a task id (or ids, comma-separated) means those tasks.
    An id the assignment does not have is a CourseError that lists the ones it has."""
    asked = [t.strip() for value in tasks for t in value.split(",") if t.strip()]
    if select is not None and TASK_IDS.fullmatch(select.strip()):
        asked += [t.strip() for t in select.split(",")]
        select = None
    if select is not None and not select.strip():
        raise CourseError("-k needs a task id or a test name")
    if tasks and not asked:
        raise CourseError("--task needs a task id, such as " + a.tasks[0].id)
    return (chosen_tasks(a, asked) if asked else None), select


def record_progress(root: Path, result: RunResult) -> None:
    state = paths.workspace_state(root)
    try:
        progress = json.loads(state.read_text())
    except (OSError, ValueError):
        progress = {}
    progress[result.assignment] = {
        "score": result.score,
        "max_score": result.max_score,
        "passed": sum(t.passed for t in result.tests),
        "tests": len(result.tests),
        "suites": result.suites,  # ["public"], or ["public", "hidden"] after `course check --hidden`
        "when": time.strftime("%Y-%m-%d %H:%M"),
    }
    try:
        write_json(state, progress)
    except OSError:
        pass  # a read-only workspace still gets its report


def load_progress(root: Path) -> dict:
    try:
        return json.loads(paths.workspace_state(root).read_text())
    except (OSError, ValueError):
        return {}
