"""course.yaml: the real file loads; every kind of mistake is refused with its key and line."""

import pytest

from grader.config import ConfigError, CourseError, parse_course

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


def test_the_course_declares_six_ordered_assignments(course):
    assert [a.id for a in course.assignments] == ["hw1", "hw2", "hw3", "hw4", "hw5", "capstone"]
    assert [a.pillar for a in course.assignments] == ["information", "control", "optimization", "compression", "perception", "all five"]
    for n, a in enumerate(course.assignments, 1):
        assert a.readings and a.estimate_hours > 0 and a.points == 100
        assert all(t.id.startswith(f"{n}.") for t in a.tasks)
    assert course.assignment("hw1").limits.wall_s == 10


def test_a_valid_file_parses(tmp_path):
    c = parse_course(GOOD, tmp_path)
    assert c.assignment("hw1").task("1.1").points == 10.0
    limits = parse_course(GOOD.replace("  title: C\n", "  title: C\n  limits: {reply_mb: 16, threads: 8, scratch_mb: 2}\n"), tmp_path).limits
    assert (limits.reply_mb, limits.threads, limits.scratch_mb) == (16, 8, 2)


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
    ],
)
def test_mistakes_name_the_key_and_the_line(tmp_path, edit, expected):
    old, new = edit
    assert old in GOOD
    with pytest.raises(ConfigError) as err:
        parse_course(GOOD.replace(old, new), tmp_path)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_and_unbuilt_assignments_are_explained(course):
    with pytest.raises(CourseError, match="unknown assignment 'hw9'; valid ids: hw1, hw2, hw3, hw4, hw5, capstone"):
        course.assignment("hw9")
    with pytest.raises(CourseError, match="hw4 .* is not built yet"):
        course.built("hw4")
