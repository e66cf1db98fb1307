"""`course plot` draws what it can: each figure on its own, one whose code is not written yet or fails
is skipped with the reason on one line. Exit status 0: all drawn; 1: some skipped; 2: none drawn. Figures go to
tmp_path, from copies of the course's stubs and solutions (the `course` fixture: a temporary copy of the
course, never this checkout's figures/ or assignments/)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main

STEP, LEARNING_RATE = "hw2_step_responses.png", "hw2_learning_rate_control.png"


@pytest.fixture(autouse=True)
def root(course, monkeypatch):
    monkeypatch.setenv("COURSE_ROOT", str(course.root))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return course.root


def plot(folder: Path, out: Path):
    result = CliRunner().invoke(main, ["plot", "hw2", "--path", str(folder), "--out", str(out)])
    return result.exit_code, result.output.strip().splitlines()


def drawn(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.stat().st_size > 1000)


def test_the_stubs_draw_nothing_and_say_why_for_each_figure(root, tmp_path):
    shutil.copytree(root / "assignments" / "hw2", tmp_path / "stubs")
    code, lines = plot(tmp_path / "stubs", tmp_path / "out")
    assert code == 2 and lines == [
        f"skipped {STEP}: Task 2.1: __init__ is not implemented yet",
        f"skipped {LEARNING_RATE}: Task 2.4: digits_controller is not implemented yet",
    ], lines
    assert drawn(tmp_path / "out") == []


def test_a_partly_solved_copy_draws_the_figures_its_code_can(root, tmp_path):
    shutil.copytree(root / "solutions" / "hw2", tmp_path / "partial")
    shutil.copy(root / "assignments" / "hw2" / "lr_control.py", tmp_path / "partial" / "lr_control.py")
    code, lines = plot(tmp_path / "partial", tmp_path / "out")
    assert code == 1 and lines == [
        f"wrote {tmp_path / 'out' / STEP}",
        f"skipped {LEARNING_RATE}: Task 2.4: digits_controller is not implemented yet",
    ], lines
    assert drawn(tmp_path / "out") == [STEP]


def test_a_figure_whose_results_cannot_be_drawn_is_skipped_and_the_next_still_drawn(root, tmp_path):
    shutil.copytree(root / "solutions" / "hw2", tmp_path / "broken")
    plant = tmp_path / "broken" / "plant.py"
    source = plant.read_text()
    start = "    t, y = np.asarray(t, float), np.asarray(y, float)\n    if t.shape != y.shape or t.ndim != 1:"
    assert source.count(start) == 1
    plant.write_text(source.replace(start, "    return {}\n" + start))  # step_metrics returns no metrics
    code, lines = plot(tmp_path / "broken", tmp_path / "out")
    assert code == 1 and lines == [
        f"wrote {tmp_path / 'out' / LEARNING_RATE}",
        f"skipped {STEP}: your code's results could not be drawn (KeyError: 'overshoot')",
    ], lines
    assert drawn(tmp_path / "out") == [LEARNING_RATE]


def test_every_figure_drawn_exits_0(tmp_path):
    result = CliRunner().invoke(main, ["plot", "hw1", "--solution", "--out", str(tmp_path / "hw1")])
    assert result.exit_code == 0 and result.output.strip() == f"wrote {tmp_path / 'hw1' / 'hw1_bits_per_character.png'}"
    assert drawn(tmp_path / "hw1") == ["hw1_bits_per_character.png"]
