"""Shared fixtures: the course, the assignments it declares built, a small course with one built and
one planned assignment, and one batch grading of hw1's solution, stubs and attacks.

The tests never touch the learner's state in this checkout: `course` is a copy of the course in a
temporary folder (its assignments/ generated afresh from solutions/, its own .course/ and figures/),
and a guard fails the session if .course/progress.json, assignments/ or figures/ changed during it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

from grader import sandbox  # noqa: E402
from grader.config import load_course  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# Both isolation paths, for tests parametrized over them: bubblewrap's is skipped where it is missing.
ISOLATIONS = [
    "limits",
    pytest.param("bwrap", marks=pytest.mark.skipif(not sandbox.bwrap_path(), reason="bubblewrap is not installed")),
]

# The assignments course.yaml marks `status: built`, in course order: tests that cover every
# assignment take them from here, so an assignment is covered the day it is built.
BUILT = [a.id for a in load_course(ROOT).assignments if a.built]

# A course of two assignments, one built and one planned, for what a planned assignment does
# (tests must not take one of the real course's planned assignments: it will be built one day).
SMALL_COURSE = """\
course:
  id: small
  title: A Small Course
assignments:
  - id: intro
    folder: intro
    title: Intro - the one built assignment
    pillar: information
    status: built
    estimate_hours: 1
    modules: [entropy]
    readings: ["Shannon (1948), A Mathematical Theory of Communication"]
    tasks:
      - {id: "1.1", title: Entropy in bits, points: 100}
  - id: later
    folder: later
    title: Later - planned for a later release
    pillar: control
    status: planned
    estimate_hours: 2
    modules: [pid]
    readings: ["Astrom & Murray, Feedback Systems"]
    tasks:
      - {id: "2.1", title: A PID controller, points: 60}
      - {id: "2.2", title: Step-response metrics, points: 40}
"""
SMALL_SOLUTION = '''"""Entropy."""

import math


def entropy(p):
    """Entropy in bits of the distribution p."""
    ### BEGIN SOLUTION 1.1
    # HINT: skip zero probabilities
    return -sum(x * math.log2(x) for x in p if x > 0)
    ### END SOLUTION
'''


@pytest.fixture
def small_course(tmp_path):
    """SMALL_COURSE in tmp_path/small, with the built assignment's solutions (no assignments/ yet:
    `course release` writes them); the planned one has no folder anywhere."""
    root = tmp_path / "small"
    (root / "solutions" / "intro").mkdir(parents=True)
    (root / "course.yaml").write_text(SMALL_COURSE)
    (root / "solutions" / "intro" / "entropy.py").write_text(SMALL_SOLUTION)
    (root / "solutions" / "intro" / "README.md").write_text("# Intro\n\n## {{task 1.1}}\n\nCompute it.\n")
    return load_course(root)


# What the tests must leave as they found it: the learner's work and records in this checkout.
GUARDED = (".course/progress.json", "assignments", "figures")


def workspace_fingerprint(root: Path) -> dict[str, str]:
    """path -> sha256 of every file under GUARDED in `root` (compiled caches aside)."""
    found = {}
    for name in GUARDED:
        top = root / name
        files = [top] if top.is_file() else sorted(top.rglob("*")) if top.is_dir() else []
        for path in files:
            if path.is_file() and "__pycache__" not in path.parts:
                found[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def fingerprint_changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """One line per file created, changed or removed between two fingerprints."""
    lines = []
    for path in sorted(before.keys() | after.keys()):
        if path not in before:
            lines.append(f"{path}: created")
        elif path not in after:
            lines.append(f"{path}: removed")
        elif before[path] != after[path]:
            lines.append(f"{path}: changed")
    return lines


@pytest.fixture(scope="session", autouse=True)
def checkout_untouched():
    """Fails the session when a test wrote to this checkout's progress, assignments/ or figures/
    (compared with the state at the session's start; someone editing the checkout meanwhile trips it too)."""
    before = workspace_fingerprint(ROOT)
    yield
    changes = fingerprint_changes(before, workspace_fingerprint(ROOT))
    assert not changes, "the tests changed this checkout's state (they must work on copies):\n" + "\n".join(changes)


def copy_course(dest: Path) -> Path:
    """A working copy of the course at `dest`: course.yaml, the packaging files, solutions/ and
    datasets/, and assignments/ generated from the solutions (the stubs as released, whatever the
    learner has made of this checkout's). Its graders are this package's."""
    from grader.release import release_assignments

    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache")
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("course.yaml", "pyproject.toml", "README.md", ".gitignore"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, dest / name)
    for name in ("solutions", "datasets"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    release_assignments(load_course(dest))
    return dest


@pytest.fixture(scope="session")
def course(tmp_path_factory):
    """The course, in a temporary copy (copy_course): checks record progress there, plots draw there."""
    return load_course(copy_course(tmp_path_factory.mktemp("course") / "root"))


@pytest.fixture(scope="session")
def solutions(course) -> Path:
    return course.root / "solutions" / "hw1"


@pytest.fixture(scope="session")
def hw1_batch(course, solutions, tmp_path_factory):
    """The solution, the stubs, an empty folder, every attack and one wrong answer graded once, in parallel, by
    `course grade`'s library function. (Variants are graded by `course audit`: test_content.py.)"""
    import shutil

    from grader.audit import load_variants, make_submission
    from grader.batch import grade
    from tests.fixtures.hw1_attacks import ATTACKS, make_attack

    subs = tmp_path_factory.mktemp("submissions")
    shutil.copytree(solutions, subs / "solution")
    shutil.copytree(course.root / "assignments" / "hw1", subs / "stubs")
    (subs / "empty").mkdir()
    (subs / "empty" / "notes.txt").write_text("no code here")
    for a in ATTACKS:
        make_attack(solutions, a, subs / f"attack-{a.name}")
    wrong, _ = load_variants(course.assignment("hw1"))
    kl = next(v for v in wrong if v.name == "kl_arguments_swapped")  # one ordinary wrong answer in the class
    make_submission(solutions, kl, subs / f"variant-{kl.name}")
    out = tmp_path_factory.mktemp("graded")
    summary = grade(course, "hw1", subs, out, jobs=2)
    results = {p.name: json.loads((p / "result.json").read_text()) for p in (out / "students").iterdir() if p.is_dir()}
    return {"summary": summary, "results": results, "out": out, "submissions": subs}


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module's reference runs (`pytestmark = pytest.mark.usefixtures("one_thread")`):
    their tensors are small, and on a machine other jobs share, two threads that wait on each other
    at every operation can run many times slower than one."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
