"""Progress of long work: a bar on a terminal, plain lines in a log (grader.progress), as `course
plot` and the capstone's train.py show it.

Off a terminal (a StringIO, a pipe) the output must read as a log: a line with done/total at least
every interval, a line per failure, no carriage return and no terminal escape. On a terminal (a
pseudo-terminal from pty.openpty) click's bar redraws one line, with done/total and the time left.
`course plot` draws hw1's one figure from the course copy's solutions; train.py runs the tiny
configuration for a few steps on a small corpus."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.progress import progress
from tests.conftest import ROOT

CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")  # anything but newline and tab
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # a terminal's escape sequence (click hides the cursor)
STATUS = re.compile(r"^grading hw1: (\d+) of 4 students(, [\d.]+ per (s|min))?(, about \d+ s left)?$")


class Clocked(io.StringIO):
    """A log that notes when each line arrived."""

    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def write(self, s: str) -> int:
        self.times += [time.monotonic()] * s.count("\n")
        return super().write(s)


def test_off_a_terminal_a_plain_line_comes_at_least_every_interval_even_while_nothing_finishes():
    log, interval = Clocked(), 0.2
    start = time.monotonic()
    with progress(4, "grading hw1", "students", file=log, interval=interval) as shown:
        shown.advance()
        time.sleep(1.0)  # one student takes long: the log still shows the work is alive
        shown.advance(3)
        time.sleep(0.3)
    lines = log.getvalue().splitlines()
    assert not CONTROL.search(log.getvalue()), repr(log.getvalue())
    status = [line for line in lines[:-1] if STATUS.match(line)]
    assert len(status) == len(lines) - 1 >= 4, lines
    assert [int(STATUS.match(line)[1]) for line in status][:3] == [1, 1, 1] and "4 of 4" in status[-1], lines
    assert "about" in status[0] and "per s" in status[0], status[0]
    assert re.fullmatch(r"grading hw1: 4 of 4 students in \d+ s", lines[-1]), lines[-1]
    gaps = [b - a for a, b in zip([start, *log.times], log.times)]
    assert max(gaps) < 3 * interval, gaps


def test_off_a_terminal_each_failure_is_one_line_with_its_control_characters_escaped():
    log = io.StringIO()
    with progress(3, "grading hw1", "students", file=log, interval=60) as shown:
        shown.advance()
        shown.fail("cy: could not be graded: \x1b[2Jgone\r\nScore: 100 / 100")
        shown.advance(2)
        shown.fail("dee: could not be graded: grading took longer than 80 s")
    # work shorter than the interval prints its failures and nothing else
    assert log.getvalue().splitlines() == [
        "cy: could not be graded: \\x1b[2Jgone\\x0d Score: 100 / 100",
        "dee: could not be graded: grading took longer than 80 s",
    ], log.getvalue()


def read_terminal(master: int, proc: subprocess.Popen, timeout: float) -> str:
    """Everything the process wrote to the pseudo-terminal until it exited, escape sequences left out."""
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the process closed its end
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    else:
        proc.kill()
        pytest.fail(f"still running after {timeout} s")
    proc.wait(timeout=30)
    return ESCAPE.sub("", b"".join(chunks).decode(errors="replace"))


def on_terminal(command: list[str], env: dict | None = None, cwd: Path | None = None, timeout: float = 120) -> tuple[str, str, int]:
    """Run `command` with standard error on a pseudo-terminal and standard output on a pipe:
    (what the terminal showed, what stdout got, exit status)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env, cwd=cwd)
    os.close(slave)
    try:
        shown = read_terminal(master, proc, timeout)
    finally:
        os.close(master)
    return shown, proc.stdout.read().decode(), proc.returncode


BAR_DEMO = textwrap.dedent(
    """
    import sys, time
    from grader.progress import progress
    with progress(3, "grading hw1", "students") as shown:
        for name in ("ada", "bob", "cy"):
            time.sleep(0.2)
            if name == "bob":
                shown.fail("bob: could not be graded: no module named information")
            shown.advance()
    """
)


def test_on_a_terminal_a_bar_shows_done_of_total_and_the_time_left_and_failures_stay_above_it():
    shown, _, code = on_terminal([sys.executable, "-c", BAR_DEMO], cwd=ROOT)
    assert code == 0, shown
    frames = [f.strip() for f in re.split(r"[\r\n]+", shown) if f.strip()]
    bars = [f for f in frames if f.startswith("grading hw1  [")]
    assert any("1 of 3 students" in f and "left" in f for f in bars), frames
    assert "3 of 3 students" in bars[-1], frames
    assert "bob: could not be graded: no module named information" in frames, frames
    after = shown[shown.index("bob: could not be graded") :]
    redrawn = after[: after.index("2 of 3 students")]
    assert "\n" in redrawn and "1 of 3 students" in redrawn, "the bar is drawn again below the failure at once"


def test_course_plot_shows_its_progress_figure_by_figure(course, tmp_path):
    env = {**os.environ, "COURSE_ROOT": str(course.root), "MPLBACKEND": "Agg"}
    command = [sys.executable, "-m", "grader.cli", "plot", "hw1", "--solution", "--out", str(tmp_path)]
    shown, stdout, code = on_terminal(command, env=env)
    assert code == 0, shown
    assert re.search(r"drawing hw1  \[.*\]  0 of 1 figures", shown), shown
    assert re.search(r"drawing hw1  \[.*\]  1 of 1 figures", shown), shown
    assert stdout == f"wrote {tmp_path / 'hw1_bits_per_character.png'}\n"


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A small corpus folder (train.txt, more_plays.txt) and a text to report bits per character on."""
    shakespeare = ROOT / "datasets" / "shakespeare"
    (tmp_path / "train.txt").write_text((shakespeare / "train.txt").read_text()[:40_000])
    plays = (shakespeare / "more_plays.txt").read_text()
    (tmp_path / "more_plays.txt").write_text(plays[:10_000])
    (tmp_path / "valid.txt").write_text(plays[10_000:11_000])
    return tmp_path


def test_train_py_shows_a_bar_over_its_steps_and_keeps_its_evaluation_lines(corpus):
    steps = 6
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    train = ROOT / "solutions" / "capstone" / "train.py"
    command = [sys.executable, str(train), "--config", "tiny", "--steps", str(steps), "--device", "cpu",
               "--data", str(corpus), "--out", str(corpus / "tiny.pt"), "--valid", str(corpus / "valid.txt")]
    shown, stdout, code = on_terminal(command, env=env, cwd=corpus)
    assert code == 0, shown
    positions = [int(m) for m in re.findall(r"training tiny  \[[^\]]*\]  (\d+)/6", shown)]
    assert positions[0] == 0 and positions[-1] == steps and positions == sorted(positions), shown
    evaluations = re.findall(r"^step (\d+): \d\.\d{3} bits per character on valid.txt$", stdout, re.M)
    assert evaluations == [str(s) for s in range(1, steps + 1)], stdout
    assert "tiny.pt: " in stdout and "parameters" not in shown


def test_course_grade_logs_each_student_who_could_not_be_graded_as_a_plain_line(course, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_ROOT", str(course.root))
    subs = tmp_path / "subs"
    for name in ("mo", "zed"):  # no code: ungradable at once, so the test costs no grading
        (subs / name).mkdir(parents=True)
        (subs / name / "notes.txt").write_text("no code here")
    result = CliRunner().invoke(main, ["grade", "hw1", str(subs), "--out", str(tmp_path / "out"), "--jobs", "2"])
    assert result.exit_code == 0, result.output
    assert not CONTROL.search(result.stderr), repr(result.stderr)
    failures = sorted(line for line in result.stderr.splitlines() if ": could not be graded: " in line)
    assert [line.split(":")[0] for line in failures] == ["mo", "zed"], result.stderr
    assert all("none of hw1's files" in line for line in failures), failures
