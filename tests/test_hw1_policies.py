"""hw1's handout states the policies its graders follow, with the numbers the graders use: the
per-test time limit (course.yaml), the one numeric tolerance (grader/suites/hw1/tolerance.py), and
that no test rests on a random outcome."""

import ast

from grader import paths
from grader.suites.hw1 import tolerance
from tests.conftest import ROOT

HANDOUT = (ROOT / "solutions" / "hw1" / "README.md").read_text()
SUBMITTING = HANDOUT.partition("## Submitting and time limits")[2]  # empty if the section is missing
SUITE_FILES = sorted(p for p in (paths.SUITES / "hw1").rglob("test_*.py"))


def written(x: float) -> str:
    """1e-06 -> '1e-6', as the handout writes it."""
    return f"{x:.0e}".replace("e-0", "e-")


def test_the_handout_states_the_time_limit_of_course_yaml(course):
    """Does "Submitting and time limits" give the per-test limit course.yaml sets for hw1?"""
    wall_s = course.assignment("hw1").limits.wall_s
    assert f"Every test has {wall_s:g} seconds" in SUBMITTING, f"the handout does not state the {wall_s:g} s limit"


def test_the_handout_states_the_tolerance_the_suites_use():
    """Is the tolerance in the handout the one hw1's suites compare with, relative and absolute?"""
    stated = f"|yours − expected| ≤ {written(tolerance.ABS)} + {written(tolerance.REL)} · |expected|"
    assert stated in SUBMITTING, f"the handout does not state {stated!r}"


def test_every_numeric_comparison_uses_the_stated_tolerance():
    """Do hw1's suites compare numbers only through `approx` (no `close` with a tolerance of its own)?"""
    own = []
    for path in SUITE_FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "close":
                own.append(f"{path.name}:{node.lineno}")
    assert not own, f"close() with its own tolerance at {', '.join(own)}; use grader.suites.hw1.tolerance.approx"


def test_no_hw1_test_rests_on_a_random_outcome():
    """The handout says every hw1 test is deterministic: is no hw1 test marked `seeded`?"""
    assert "Every hw1 test is deterministic" in SUBMITTING, "the handout does not state the seed policy"
    seeded = [p.name for p in SUITE_FILES if "mark.seeded" in p.read_text()]
    assert not seeded, f"{', '.join(seeded)} mark a test seeded; the handout's sentence on seeds must change with it"
