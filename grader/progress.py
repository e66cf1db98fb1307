"""Progress of long work (a class being graded, figures being drawn): a bar on a terminal, plain
lines in a log.

On a terminal, click's progress bar shows done/total, the rate and the time left; a failure is
printed on a line of its own above the bar. Off a terminal (a log file, CI, a pipe) there is no bar:
a plain line every `interval` seconds, even while one item takes long ("grading hw1: 12 of 40
students, 0.8 per s, about 35 s left"), each failure on a line of its own, and no control
characters, so a log reads as text. Work shorter than `interval` prints only its failures.

    with progress(len(todo), "grading hw1", "students") as shown:
        ...
        shown.advance()
        shown.fail("ada: could not be graded: ...")
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, TextIO

from grader.results import printable

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

INTERVAL_S = 10.0  # between two plain lines off a terminal

# Held while a line is written. A process forked meanwhile (a grading process, a sandboxed worker)
# would inherit the stream's own lock held and could hang at its first write: fork waits for it.
_WRITING = threading.Lock()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_WRITING.acquire, after_in_parent=_WRITING.release, after_in_child=_WRITING.release)


def duration(seconds: float) -> str:
    """A time as a person reads it: '35 s', '4 min 10 s', '2 h 05 min' (never '0 s')."""
    s = max(1, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Progress:
    """What both kinds share: the count, the rate and the time left."""

    def __init__(self, total: int, label: str, unit: str, file: TextIO):
        self.total, self.label, self.unit, self.file = total, label, unit, file
        self.done = 0
        self.started = time.monotonic()
        self.ended: float | None = None  # when the last item finished: the rate stays that of the work

    def elapsed(self) -> float:
        return max((self.ended or time.monotonic()) - self.started, 1e-9)

    def rate(self) -> str:
        """'0.8 per s', or per minute when slower than one in ten seconds; '' before the first."""
        if not self.done:
            return ""
        per_s = self.done / self.elapsed()
        per, n = ("s", per_s) if per_s >= 0.1 else ("min", per_s * 60)
        return f"{n:.1f} per {per}" if n < 10 else f"{n:.0f} per {per}"

    def left(self) -> str:
        """'about 35 s left' at the rate so far; '' before the first item or after the last."""
        if not self.done or self.done >= self.total:
            return ""
        return f"about {duration(self.elapsed() / self.done * (self.total - self.done))} left"

    def status(self) -> str:
        """'12 of 40 students, 0.8 per s, about 35 s left'."""
        return ", ".join(x for x in (f"{self.done} of {self.total} {self.unit}", self.rate(), self.left()) if x)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.done >= self.total and self.ended is None:
            self.ended = time.monotonic()

    def fail(self, line: str) -> None:
        """One line about an item that failed, kept in the output (not overwritten by the bar)."""

    def close(self) -> None:
        pass


def one_line(text: str) -> str:
    """A failure line as it is printed: control characters escaped, on one line."""
    return " ".join(printable(text, 1000).split())


class Bar(Progress):
    """On a terminal: click's bar, with done/total, the rate and the time left beside it."""

    def __init__(self, total: int, label: str, unit: str, file: TextIO):
        import click

        super().__init__(total, label, unit, file)
        self.bar: ProgressBar[int] = click.progressbar(
            length=total,
            label=label,
            file=file,
            show_eta=False,  # the time left is status()'s, the same words as the plain lines'
            show_percent=False,
            item_show_func=lambda _: self.status(),
        )
        self.bar.__enter__()

    def advance(self, n: int = 1) -> None:
        super().advance(n)
        with _WRITING:
            self.bar.update(n)

    def fail(self, line: str) -> None:
        with _WRITING:
            # clear the bar's line, print the failure there, and draw the bar again below it
            self.file.write("\r" + " " * (self.bar.max_width or 0) + "\r" + one_line(line) + "\n")
            self.bar._last_line = None  # click draws only a line that changed; this one was erased
            self.bar.render_progress()

    def close(self) -> None:
        with _WRITING:
            self.bar.__exit__(None, None, None)


class Lines(Progress):
    """Off a terminal: status() every `interval` seconds from a thread of its own (so a log shows the
    work is alive while one item takes long), each failure as it happens."""

    def __init__(self, total: int, label: str, unit: str, file: TextIO, interval: float):
        super().__init__(total, label, unit, file)
        self.interval = interval
        self.last = self.started
        self.printed = False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="progress", daemon=True)
        self.thread.start()

    def _write(self, line: str) -> None:
        with _WRITING:
            self.file.write(line + "\n")
            self.file.flush()

    def _beat(self) -> None:
        while not self.stop.wait(max(0.0, self.last + self.interval - time.monotonic())):
            if time.monotonic() - self.last >= self.interval:
                self.last, self.printed = time.monotonic(), True
                self._write(f"{self.label}: {self.status()}")

    def fail(self, line: str) -> None:
        self._write(one_line(line))

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        if self.printed:  # a log that showed the work going ends with where it ended
            elapsed = duration(time.monotonic() - self.started)
            self._write(f"{self.label}: {self.done} of {self.total} {self.unit} in {elapsed}")


def is_terminal(file) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


@contextlib.contextmanager
def progress(total: int, label: str, unit: str, file: TextIO | None = None, interval: float = INTERVAL_S) -> Iterator[Progress]:
    """Show the progress of `total` items (`unit`: "students", "figures") on `file` (standard
    error by default): a bar when `file` is a terminal, a plain line every `interval` seconds
    otherwise. See the module docstring."""
    file = sys.stderr if file is None else file
    shown = Bar(total, label, unit, file) if is_terminal(file) else Lines(total, label, unit, file, interval)
    try:
        yield shown
    finally:
        shown.close()
