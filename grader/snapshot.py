"""`course snapshot ID`: store the reference values a public suite needs, made from the solutions.

The values come from `grader/suites/<id>/snapshots.py:make(submission)`, which calls the solutions
through the same seam as the tests; they land in `grader/suites/<id>/_snapshots/reference.json`.
"""

from __future__ import annotations

import json
from dataclasses import replace

from grader import paths
from grader.config import Course
from grader.errors import CourseError
from grader.remote import Submission


def make_snapshot(course: Course, assignment_id: str) -> dict:
    a = course.built(assignment_id)
    solutions = course.root / "solutions" / a.folder
    if not solutions.is_dir():
        raise CourseError(f"{solutions}: not found; snapshots are made from the instructor's solutions")
    maker = paths.suite_module(a, "snapshots")
    if maker is None:
        raise CourseError(f"{a.id} has no snapshots ({paths.suite_dir(a) / 'snapshots.py'} is missing)")
    sub = Submission.of(a, solutions, "limits", replace(a.limits, wall_s=a.limits.grader_s))
    try:
        sub.begin_test("snapshot", 0)
        return json.loads(json.dumps(maker.make(sub), sort_keys=True))
    finally:
        sub.close()


def snapshot_text(values: dict) -> str:
    return json.dumps(values, indent=1, sort_keys=True) + "\n"


def write_snapshot(course: Course, assignment_id: str, check: bool = False) -> bool:
    """Write the snapshot (or, with `check`, only compare); return True if the stored one differed."""
    path = paths.snapshot_file(course.built(assignment_id))
    text = snapshot_text(make_snapshot(course, assignment_id))
    differs = not path.is_file() or path.read_text() != text
    if differs and not check:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return differs
