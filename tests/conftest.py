"""Shared fixtures: the course, and one batch grading of hw1's solution, stubs and attacks."""

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
