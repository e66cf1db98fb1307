"""`course syllabus` follows the learner's progress: the next unfinished assignment, the points so far
and the hours left, from the progress file of a temporary course (never the real `.course/`)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from grader import paths
from grader.cli import main

COURSE = """\
course:
  id: three
  title: Three Assignments
assignments:
  - id: first
    folder: first
    title: First - entropy
    pillar: information
    status: built
    estimate_hours: 2
    modules: [entropy]
    readings: ["Shannon (1948)"]
    tasks:
      - {id: "1.1", title: Entropy, points: 40}
      - {id: "1.2", title: Codes, points: 60}
  - id: second
    folder: second
    title: Second - control
    pillar: control
    status: built
    estimate_hours: 3
    modules: [pid]
    readings: ["Astrom & Murray"]
    tasks:
      - {id: "2.1", title: PID, points: 50}
  - id: third
    folder: third
    title: Third - planned
    pillar: optimization
    status: planned
    estimate_hours: 5
    modules: [adam]
    readings: ["Kingma & Ba (2014)"]
    tasks:
      - {id: "3.1", title: Adam, points: 100}
"""


@pytest.fixture
def root(tmp_path, monkeypatch):
    (tmp_path / "course.yaml").write_text(COURSE)
    monkeypatch.setenv("COURSE_ROOT", str(tmp_path))
    return tmp_path


def record(root, **runs):
    state = paths.workspace_state(root)
    state.parent.mkdir(parents=True, exist_ok=True)
    progress = {
        a: {"score": s, "max_score": m, "passed": 0, "tests": 1, "when": "2025-01-02 10:00"} for a, (s, m) in runs.items()
    }
    state.write_text(json.dumps(progress))


def footer(root) -> list[str]:
    result = CliRunner().invoke(main, ["syllabus", "--no-readings"])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-2:]


def test_nothing_recorded_starts_with_the_first_assignment(root):
    assert footer(root) == [
        "Points so far: 0 / 150 in the 2 built assignments; done: none yet.",
        "Start with: first, First - entropy: course check first. About 10 hours left (5 in the built assignments).",
    ]


def test_a_finished_assignment_moves_on_to_the_next(root):
    record(root, first=(100, 100))
    result = CliRunner().invoke(main, ["syllabus", "--no-readings"])
    assert "100 / 100 (2025-01-02 10:00), done" in result.output and "Start with" not in result.output
    assert footer(root) == [
        "Points so far: 100 / 150 in the 2 built assignments; done: first.",
        "Next: second, Second - control: course check second. About 8 hours left (3 in the built assignments).",
    ]


def test_a_partial_score_is_not_done_and_counts_its_points(root):
    record(root, first=(100, 100), second=(25, 50))
    assert footer(root) == [
        "Points so far: 125 / 150 in the 2 built assignments; done: first.",
        "Next: second, Second - control: course check second. About 8 hours left (3 in the built assignments).",
    ]
    record(root, first=(60, 100))  # unfinished work comes first, in course order
    assert footer(root)[1].startswith("Next: first, First - entropy: course check first. About 10 hours left")


def test_every_built_assignment_done_points_at_the_planned_one(root):
    record(root, first=(100, 100), second=(50, 50))
    assert footer(root) == [
        "Points so far: 150 / 150 in the 2 built assignments; done: first, second.",
        "Every built assignment is done; next: third (not built yet). About 5 hours left.",
    ]


def test_points_are_scaled_to_the_syllabus_and_unreadable_entries_ignored(root):
    record(root, first=(10, 20))  # recorded when the assignment was worth 20: half of its 100 now
    assert footer(root)[0] == "Points so far: 50 / 150 in the 2 built assignments; done: none yet."
    state = paths.workspace_state(root)
    state.write_text(json.dumps({"first": {"score": "lots"}, "second": [1, 2], "third": {"score": 1, "max_score": 1}}))
    assert footer(root)[0] == "Points so far: 0 / 150 in the 2 built assignments; done: none yet."
    state.write_text("[]")
    assert footer(root)[0] == "Points so far: 0 / 150 in the 2 built assignments; done: none yet."
