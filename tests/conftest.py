"""Shared fixtures: the course, and one batch grading of every hw1 fixture submission."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

from grader.config import load_course  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def course():
    return load_course(ROOT)


@pytest.fixture(scope="session")
def solutions(course) -> Path:
    return course.root / "solutions" / "hw1"


@pytest.fixture(scope="session")
def hw1_batch(course, solutions, tmp_path_factory):
    """Every fixture submission graded once, in parallel, by `course grade`'s library function:
    the solution, the stubs, the wrong and the alternative variants, and the attacks."""
    from grader.batch import grade
    from tests.fixtures.hw1_attacks import ATTACKS, make_attack
    from tests.fixtures.hw1_variants import CORRECT, WRONG
    from tests.fixtures.variants import make_submission

    subs = tmp_path_factory.mktemp("submissions")
    import shutil

    shutil.copytree(solutions, subs / "solution")
    shutil.copytree(course.root / "assignments" / "hw1", subs / "stubs")
    (subs / "empty").mkdir()
    (subs / "empty" / "notes.txt").write_text("no code here")
    for v in WRONG + CORRECT:
        make_submission(solutions, v, subs / f"variant-{v.name}")
    for a in ATTACKS:
        make_attack(solutions, a, subs / f"attack-{a.name}")
    out = tmp_path_factory.mktemp("graded")
    summary = grade(course, "hw1", subs, out, jobs=2)
    results = {p.name: json.loads((p / "result.json").read_text()) for p in out.iterdir() if p.is_dir()}
    return {"summary": summary, "results": results, "out": out, "submissions": subs}


def grade_variants(course, tmp_path_factory, assignment: str, variants) -> dict:
    """The solution, the stubs and each variant of `assignment` graded once by `course grade`'s
    library function; results by folder name."""
    import shutil

    from grader.batch import grade
    from tests.fixtures.variants import make_submission

    solutions = course.root / "solutions" / assignment
    subs = tmp_path_factory.mktemp(f"{assignment}-submissions")
    shutil.copytree(solutions, subs / "solution")
    shutil.copytree(course.root / "assignments" / assignment, subs / "stubs")
    for v in variants:
        make_submission(solutions, v, subs / f"variant-{v.name}")
    out = tmp_path_factory.mktemp(f"{assignment}-graded")
    grade(course, assignment, subs, out, jobs=2)
    return {p.name: json.loads((p / "result.json").read_text()) for p in out.iterdir() if p.is_dir()}


@pytest.fixture(scope="session")
def hw2_batch(course, tmp_path_factory):
    from tests.fixtures.hw2_variants import CORRECT, WRONG

    return grade_variants(course, tmp_path_factory, "hw2", WRONG + CORRECT)


@pytest.fixture(scope="session")
def hw3_batch(course, tmp_path_factory):
    from tests.fixtures.hw3_variants import CORRECT, WRONG

    return grade_variants(course, tmp_path_factory, "hw3", WRONG + CORRECT)
