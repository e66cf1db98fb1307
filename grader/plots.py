"""`course plot ID`: an assignment's figures, computed by the learner's code (or the solutions)
in an isolated worker and drawn on the grading side by `grader/suites/<id>/figures.py:make`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from grader import paths
from grader.config import Course
from grader.errors import CourseError
from grader.notebook import submission_folder
from grader.remote import Submission


def plot(course: Course, assignment_id: str, out: Path, path: Path | None = None, solution: bool = False) -> list[Path]:
    a = course.built(assignment_id)
    figures = paths.suite_module(a, "figures")
    if figures is None:
        raise CourseError(f"{a.id} has no figures ({paths.suite_dir(a) / 'figures.py'} is missing)")
    folder = course.root / ("solutions" if solution else "assignments") / a.folder if path is None else Path(path)
    if not folder.exists():
        raise CourseError(f"{folder}: no such folder")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    from grader import sandbox

    isolation = "bwrap" if sandbox.bwrap_path() else "limits"
    with submission_folder(folder, course, a) as modules:
        sub = Submission.of(a, modules, isolation, replace(a.limits, wall_s=a.limits.grader_s))
        try:
            sub.begin_test("plot", 0)
            return figures.make(sub, out)
        finally:
            sub.close()
