"""What nbgrader's test cells call: grade the saved notebook with the course's graders.

`course nbgrader init` writes test cells that end with `grade_task(id, task)` (grader.nbcourse);
`nbgrader autograde` runs them, and the number each returns is the cell's partial credit.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from contextlib import redirect_stderr
from pathlib import Path

from grader import paths
from grader.config import load_course
from grader.errors import CourseError
from grader.notebook import notebook_code, notebook_in, read_only_cells
from grader.results import RunResult
from grader.runner import run_assignment

_RESULTS: dict[tuple, RunResult] = {}


def autograding() -> bool:
    """nbgrader sets NBGRADER_EXECUTION=autograde while `nbgrader autograde` runs a notebook."""
    return os.environ.get("NBGRADER_EXECUTION") == "autograde"


def locate(assignment_id: str) -> Path:
    """The notebook being run: `<id>.ipynb` in the working directory (a notebook's own folder)."""
    here = Path.cwd()
    found = notebook_in(here, assignment_id)
    if found is not None:
        return found
    raise CourseError(f"{assignment_id}.ipynb is not in {here}; the graders read the saved notebook from its folder")


def stale_names(code: str, namespace: dict) -> list[str]:
    """Functions and classes run in this kernel whose source is not in the saved notebook."""
    import inspect

    stale = []
    for name, value in namespace.items():
        if name.startswith("_") or getattr(value, "__module__", None) != "__main__":
            continue
        if not (inspect.isfunction(value) or inspect.isclass(value)):
            continue
        try:
            source = inspect.getsource(value)
        except (OSError, TypeError):
            continue
        if source.strip() not in code:
            stale.append(name)
    return sorted(stale)


def grade_task(assignment_id: str, task_id: str, hidden: bool = False) -> float:
    """Grade one task of the saved notebook with the course's graders; print its tests and
    return its points (nbgrader reads the number as the cell's partial credit).

    The code graded is the notebook as saved on disk, all of it, in an isolated worker: exactly
    what `course check --path <id>.ipynb` and `course grade` grade. The public tests run, and
    the hidden ones too with `hidden=True` or while nbgrader autogrades (when they are here).
    """
    quiet = io.StringIO()
    with redirect_stderr(quiet), warnings.catch_warnings():  # nbgrader scores a cell with stderr output 0
        warnings.simplefilter("ignore")
        course = load_course(paths.course_root())
        a = course.built(assignment_id)
        task = a.task(task_id)
        notebook = locate(a.id)
        has_hidden = paths.suite_dir(a, "hidden").is_dir()
        if hidden and not has_hidden:
            raise CourseError(f"{a.id}: the hidden tests are only in the instructor's copy")
        suites = ("public", "hidden") if (hidden or autograding()) and has_hidden else ("public",)
        key = (a.id, hashlib.sha256(notebook.read_bytes()).hexdigest(), suites)
        if key not in _RESULTS:
            _RESULTS[key] = run_assignment(course, a.id, notebook, suites)  # a notebook, written out as modules
        result = _RESULTS[key]
    if not autograding():
        import __main__

        stale = stale_names(notebook_code(notebook, read_only_cells(course, a)), vars(__main__))
        if stale:
            print(
                f"note: {', '.join(stale)} as run in this kernel differ(s) from the saved notebook; "
                "save it (Ctrl-S) and run this cell again: the graders read the saved file"
            )
    print(task_report(result, task.id, task.title))
    return next(t.points for t in result.tasks if t.id == task.id)


def task_report(result, task_id: str, title: str) -> str:
    """One task's tests: pass or the cause and feedback, then its points."""
    import textwrap

    score = next(t for t in result.tasks if t.id == task_id)
    lines = [f"Task {task_id}: {title}  [{', '.join(result.suites)} tests]"]
    for t in result.tests:
        if t.task != task_id:
            continue
        tag = " (hidden)" if t.kind == "hidden" else ""
        lines.append(f"  {'pass' if t.passed else 'FAIL (' + t.cause + ')'}  {t.name}{tag}  {t.points:.4g} / {t.max_points:.4g}")
        if not t.passed:
            lines += textwrap.wrap(t.feedback, 96, initial_indent="        ", subsequent_indent="        ")
    lines.append(f"  points: {score.points:g} / {score.max_points:g}")
    lines += [f"  note: {n}" for n in result.notes]
    return "\n".join(lines)
