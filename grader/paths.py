"""Where things are: the course root, an assignment's folders, its suites and snapshots."""

from __future__ import annotations

import os
from pathlib import Path

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


def suite_dir(assignment_id: str, kind: str) -> Path:
    """`kind` is "public" or "hidden"."""
    return SUITES / assignment_id / kind


def snapshot_dir(assignment_id: str) -> Path:
    return SUITES / assignment_id / "_snapshots"


def workspace_state(root: Path) -> Path:
    """The learner's own record of scores, kept out of version control."""
    return root / ".course" / "progress.json"
