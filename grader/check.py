"""`course check`: grade one folder (a student's work, or the solutions) and remember the score."""

from __future__ import annotations

import json
import time
from pathlib import Path

from grader import paths
from grader.config import Course
from grader.errors import CourseError
from grader.results import RunResult, write_json
from grader.runner import run_assignment


def check(
    course: Course,
    assignment_id: str,
    path: Path | None = None,
    solution: bool = False,
    isolation: str | None = None,
    select: str | None = None,
) -> RunResult:
    """Public suite on the learner's code (default `assignments/<folder>`), or public + hidden on
    `solutions/<folder>` with `solution=True`. Records the score in the workspace's progress file."""
    a = course.built(assignment_id)
    if solution:
        if path is not None:
            raise CourseError("--solution grades solutions/; leave out --path")
        path = course.root / "solutions" / a.folder
        if not path.is_dir():
            raise CourseError(f"{path}: not found; --solution needs the instructor's copy of the course")
        suites: tuple[str, ...] = ("public", "hidden")
    else:
        path = Path(path) if path is not None else course.root / "assignments" / a.folder
        suites = ("public",)
    if not path.exists():
        raise CourseError(f"{path}: no such folder")
    result = run_assignment(course, a.id, path, suites, isolation=isolation, select=select)
    if not solution and select is None:
        record_progress(course.root, result)
    return result


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
