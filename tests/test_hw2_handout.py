"""hw2's handout states what its graders use: the accuracy threshold of task 2.4, the time limits
of course.yaml, and the seed-sweep figure (made by benchmarks/seeds_hw2.py) it embeds."""

import ast
import re

from grader import paths
from grader.config import load_course
from tests.conftest import ROOT

HANDOUT = ROOT / "solutions" / "hw2" / "README.md"


def suite_constant(name: str) -> float:
    """A constant of hw2's public suite, read without importing the suite (its pytest marks are the grader's)."""
    tree = ast.parse((paths.SUITES / "hw2" / "public" / "test_lr_control.py").read_text())
    return next(ast.literal_eval(node.value) for node in tree.body
                if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets))


TARGET_ACCURACY = suite_constant("TARGET_ACCURACY")


def test_the_handout_states_the_threshold_the_graders_use():
    """Does the handout promise the 2.4 threshold that the tests apply?"""
    assert f"at least **{TARGET_ACCURACY:.0%}**" in HANDOUT.read_text(), f"the handout does not state {TARGET_ACCURACY:.0%}"


def test_the_handout_states_the_time_limits_of_course_yaml():
    """Are the per-test and CPU limits in 'Submitting and time limits' the ones course.yaml sets?"""
    limits = load_course(ROOT).built("hw2").limits
    section = HANDOUT.read_text().split("## Submitting and time limits", 1)[-1]
    assert f"Every test has {limits.wall_s:g} seconds" in section, "the per-test limit in the handout is not course.yaml's"
    assert f"{limits.cpu_s:g} seconds of CPU" in section, "the CPU limit in the handout is not course.yaml's"


def test_the_seed_sweep_figure_exists_and_is_small():
    """Is every image the handout embeds in solutions/hw2, a PNG under 100 KB?"""
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", HANDOUT.read_text())
    assert "seed_sweep.png" in images, "the handout does not show the seed sweep"
    for name in images:
        data = (HANDOUT.parent / name).read_bytes()
        assert data.startswith(b"\x89PNG"), f"{name} is not a PNG"
        assert len(data) < 100_000, f"{name} is {len(data) // 1024} KB; keep figures under 100 KB"
