"""`course plot ID`: an assignment's figures, computed by the learner's code (or the solutions)
in an isolated worker and drawn on the grading side by `grader/suites/<id>/figures.py`.

A figures module names its figures in `FIGURES` ({file name: draw(submission, out) -> paths}),
and each is drawn on its own: a figure whose student code is not written yet, raises, runs past
its time or returns what cannot be drawn is skipped, with the reason, and the others are drawn.
A module with only `make(submission, out)` is one figure. Figures that train read the device
from `submission.device` ("cpu" unless `course plot --device cuda`) and pass it to the student's code.
Progress goes to standard error, figure by figure (grader.progress): a bar on a terminal, a plain
line every few seconds in a log."""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader import paths
from grader.config import Course
from grader.errors import CourseError, StudentError
from grader.notebook import submission_folder
from grader.progress import progress
from grader.remote import Submission


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display), for the figures modules."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_csv(path: Path, rows: list[dict]) -> None:
    """`rows` (dicts with the same keys) as a CSV file beside a figure: its numbers."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@dataclass
class Figures:
    """What `plot` wrote, and the figures it skipped with the reason for each."""

    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def figures_of(module, assignment_id: str) -> dict:
    """{figure name: draw function}: the module's FIGURES, or its `make` as one figure."""
    found = getattr(module, "FIGURES", None)
    return dict(found) if found else {f"{assignment_id} figures": module.make}


def why_skipped(exc: Exception) -> str:
    """One line: the student's error as the tests word it, or what the figure could not use."""
    if isinstance(exc, StudentError):
        text = str(exc)
    else:
        text = f"your code's results could not be drawn ({type(exc).__name__}: {exc})"
    line = " ".join(text.split())
    return line if len(line) <= 300 else line[:297] + "..."


def check_device(device: str) -> str:
    """`device` as torch names it ("cpu", "cuda" or "cuda:N"), where this machine has it; a
    CourseError with the cause otherwise."""
    import re

    if device == "cpu":
        return device
    if not re.fullmatch(r"cuda(:\d+)?", device):
        raise CourseError(f"--device {device}: not a device; use cpu, cuda or cuda:N")
    import torch

    if not torch.cuda.is_available():
        raise CourseError(f"--device {device}: this machine has no CUDA GPU that torch can use (torch {torch.__version__})")
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise CourseError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    return device


def plot(
    course: Course,
    assignment_id: str,
    out: Path,
    path: Path | None = None,
    solution: bool = False,
    device: str = "cpu",
) -> Figures:
    """Draw `assignment_id`'s figures into `out`, the student's training (where a figure trains)
    on `device`."""
    device = check_device(device)
    a = course.built(assignment_id)
    figures = paths.suite_module(a, "figures")
    if figures is None:
        raise CourseError(f"{a.id} has no figures ({paths.suite_dir(a) / 'figures.py'} is missing)")
    folder = course.root / ("solutions" if solution else "assignments") / a.folder if path is None else Path(path)
    if not folder.exists():
        raise CourseError(f"{folder}: no such folder")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    from grader import sandbox

    isolation = "bwrap" if sandbox.bwrap_path() else "limits"
    result = Figures()
    with submission_folder(folder, course, a) as modules:
        sub = Submission.of(a, modules, isolation, replace(a.limits, wall_s=a.limits.grader_s), device)
        drawings = figures_of(figures, a.id)
        try:
            with progress(len(drawings), f"drawing {a.id}", "figures") as shown:
                for name, draw in drawings.items():
                    try:
                        sub.begin_test(f"plot {name}", 0)  # each figure gets the whole time limit, a fresh seed
                        result.written += draw(sub, out)
                    except CourseError:
                        raise
                    except Exception as exc:  # the student's code, or what it returned: skip this figure
                        result.skipped.append((name, why_skipped(exc)))
                        if "matplotlib.pyplot" in sys.modules:
                            sys.modules["matplotlib.pyplot"].close("all")
                    shown.advance()
        finally:
            sub.close()
    return result
