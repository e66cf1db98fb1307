"""course.yaml: the real file loads; every kind of mistake is refused with its key and line."""

import re

import pytest

from grader import paths
from grader.config import PILLARS, parse_course
from grader.errors import ConfigError, CourseError
from tests.conftest import BUILT

GOOD = """\
course:
  id: c
  title: C
assignments:
  - id: hw1
    folder: hw1
    title: One
    pillar: information
    status: built
    estimate_hours: 2
    modules: [information]
    readings: [Shannon 1948]
    tasks:
      - {id: "1.1", title: Entropy, points: 10}
"""


def test_the_course_declares_one_assignment_per_pillar_in_order(course):
    """The design's order (config.PILLARS, ending with the capstone's "all five"), whatever is built."""
    ids = [a.id for a in course.assignments]
    assert len(set(ids)) == len(ids), ids
    assert [a.pillar for a in course.assignments] == list(PILLARS)
    for n, a in enumerate(course.assignments, 1):
        assert a.readings and a.estimate_hours > 0 and a.points == 100
        assert all(t.id.startswith(f"{n}.") for t in a.tasks)
    assert BUILT, "course.yaml marks no assignment built"
    assert course.assignment("hw1").limits.wall_s == 10


@pytest.mark.parametrize("assignment", BUILT)
def test_a_built_assignment_has_its_folders(course, assignment):
    """`status: built` is a promise: solutions, generated student files, public and hidden suites."""
    a = course.assignment(assignment)
    for folder in (course.root / "solutions" / a.folder, course.root / "assignments" / a.folder,
                   paths.suite_dir(a, "public"), paths.suite_dir(a, "hidden")):
        assert folder.is_dir(), f"{a.id} is marked built but {folder} is missing"


def test_a_valid_file_parses(tmp_path):
    c = parse_course(GOOD, tmp_path)
    assert c.assignment("hw1").task("1.1").points == 10.0
    limits = parse_course(GOOD.replace("  title: C\n", "  title: C\n  limits: {reply_mb: 16, threads: 8, scratch_mb: 2}\n"), tmp_path).limits
    assert (limits.reply_mb, limits.threads, limits.scratch_mb) == (16, 8, 2)
    assert c.assignment("hw1").artifacts == ()
    with_files = parse_course(GOOD.replace("modules: [information]", "modules: [information]\n    artifacts: [model.pt, m.sqz]"), tmp_path)
    assert with_files.assignment("hw1").artifacts == ("model.pt", "m.sqz")


@pytest.mark.parametrize(
    "edit,expected",
    [
        (("    pillar: information", "    pillar: chemistry"), "course.yaml:8: assignments[0].pillar: expected one of"),
        (("points: 10", "points: ten"), "course.yaml:14: assignments[0].tasks[0].points: expected a positive number, got 'ten'"),
        (("    folder: hw1\n", "    folder: hw1\n    colour: red\n"), "course.yaml:7: assignments[0].colour: unknown key"),
        (("    estimate_hours: 2\n", ""), "assignments[0]: missing key 'estimate_hours'"),
        (('id: "1.1"', 'id: "2.1"'), "task 2.1 should be numbered 1.M"),
        (("  title: C\n", "  title: C\n  limits: {wall_s: -1}\n"), "course.yaml:4: course.limits.wall_s: expected a positive number"),
        (("  title: C\n", "  title: C\n  limits: {threads: 2.5}\n"), "course.yaml:4: course.limits.threads: expected a positive integer"),
        (("  title: C\n", "  title: C\n  limits: {reply_mb: 1024}\n"), "course.yaml:4: course.limits.reply_mb: expected at most 512"),
        (("modules: [information]", "modules: information"), "assignments[0].modules: expected a list"),
        (("  id: c\n", "  id: c\n  id: d\n"), "course.yaml:3: course.id: duplicate key"),
        (("title: One", "title: [One"), "not valid YAML"),
        (("modules: [information]", "modules: [information]\n    artifacts: [model.py]"), "artifacts[0]: expected a plain file name"),
        (("modules: [information]", "modules: [information]\n    artifacts: [../x.pt]"), "artifacts[0]: expected a plain file name"),
    ],
)
def test_mistakes_name_the_key_and_the_line(tmp_path, edit, expected):
    old, new = edit
    assert old in GOOD
    with pytest.raises(ConfigError) as err:
        parse_course(GOOD.replace(old, new), tmp_path)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_and_unbuilt_assignments_are_explained(course, small_course):
    """On a small course of one built and one planned assignment (the real planned ones get built)."""
    with pytest.raises(CourseError, match=re.escape("unknown assignment 'hw9'; valid ids: intro, later")):
        small_course.assignment("hw9")
    with pytest.raises(CourseError, match=r"^later \(Later - planned for a later release\) is not built yet"):
        small_course.built("later")
    assert small_course.built("intro") is small_course.assignment("intro")
    valid = ", ".join(a.id for a in course.assignments)
    with pytest.raises(CourseError, match=re.escape(f"unknown assignment 'hw9'; valid ids: {valid}")):
        course.assignment("hw9")


def test_built_follows_the_status_in_course_yaml(course):
    for a in course.assignments:
        if a.built:
            assert course.built(a.id) is a
        else:
            with pytest.raises(CourseError, match=rf"^{re.escape(a.id)} .* is not built yet"):
                course.built(a.id)
