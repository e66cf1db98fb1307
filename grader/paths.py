"""Where things are: the course root, and an assignment's folders, found by convention.

An assignment `<id>` is its course.yaml entry and these folders (docs/adding-an-assignment.md):

    solutions/<folder>/                the reference code and the handout (instructor)
    assignments/<folder>/              the student files, generated from solutions/ by `course release`
    grader/suites/<id>/public/         public tests (pytest, on the grading side)
    grader/suites/<id>/hidden/         hidden tests, variants.py for `course audit` (instructor)
    grader/suites/<id>/conftest.py     shared fixtures, optional
    grader/suites/<id>/figures.py      `FIGURES = {name: draw(submission, out)}` (or `make(submission, out)`, one figure) for `course plot`, optional
    grader/suites/<id>/snapshots.py    `make(submission)` for `course snapshot`, optional;
    grader/suites/<id>/_snapshots/     ... and the values it stored
    grader/worker/drivers/<id>.py      code run beside student code in the worker, optional

`grader/` is the course root's own when it has one (a checkout, a release), else this package's.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Protocol


class AssignmentRef(Protocol):
    """What these functions read of a grader.config.Assignment."""

    @property
    def id(self) -> str: ...

    @property
    def grader(self) -> Path | None: ...


PACKAGE = Path(__file__).resolve().parent
SUITES = PACKAGE / "suites"


def course_root() -> Path:
    """The folder holding course.yaml: $COURSE_ROOT, else the nearest parent of the working
    directory that has one, else the checkout this package was installed from."""
    if env := os.environ.get("COURSE_ROOT"):
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "course.yaml").is_file() and (folder / "assignments").is_dir():
            return folder
    return PACKAGE.parent


def grader_dir(assignment: AssignmentRef) -> Path:
    return assignment.grader or PACKAGE


def suite_dir(assignment: AssignmentRef, kind: str | None = None) -> Path:
    """The assignment's suite folder, or its `kind` ("public" or "hidden") tests."""
    folder = grader_dir(assignment) / "suites" / assignment.id
    return folder / kind if kind else folder


def snapshot_file(assignment: AssignmentRef) -> Path:
    return suite_dir(assignment) / "_snapshots" / "reference.json"


def drivers_file(assignment: AssignmentRef) -> Path:
    """grader/worker/drivers/<id>.py, or the folder grader/worker/drivers/<id>/ of an assignment whose
    drivers come in parts."""
    folder = grader_dir(assignment) / "worker" / "drivers"
    return folder / assignment.id if (folder / assignment.id).is_dir() else folder / f"{assignment.id}.py"


def drivers_source(assignment: AssignmentRef) -> str:
    """The assignment's drivers as source ("" when it has none), for the worker: the file, or the
    folder's *.py files joined in name order (one module, one namespace)."""
    path = drivers_file(assignment)
    if path.is_dir():
        return "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(path.glob("*.py")))
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def suite_module(assignment: AssignmentRef, name: str) -> ModuleType | None:
    """`grader/suites/<id>/<name>.py` as a module (figures, snapshots), or None if there is none."""
    path = suite_dir(assignment) / f"{name}.py"
    if not path.is_file():
        return None
    if suite_dir(assignment).resolve().parent == SUITES.resolve():
        return importlib.import_module(f"grader.suites.{assignment.id}.{name}")
    key = f"_course_suite_{assignment.id}_{name}"
    return sys.modules[key] if key in sys.modules else module_from_file(key, path)


def module_from_file(name: str, path: Path) -> ModuleType:
    """The Python file `path` run as a new module `name` (registered in sys.modules)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@functools.cache
def solution_module(folder: str, name: str) -> ModuleType:
    """solutions/<folder>/<name>.py as a module of its own (not the student's), for hidden suites
    (the instructor's copy only)."""
    return module_from_file(f"_{folder}_solution_{name}", course_root() / "solutions" / folder / f"{name}.py")


def workspace_state(root: Path) -> Path:
    """The learner's own record of scores, kept out of version control."""
    return root / ".course" / "progress.json"
