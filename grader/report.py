"""Reports of one run: the terminal table, feedback text, and Gradescope's results.json."""

from __future__ import annotations

import math
import shutil
import textwrap

from grader.config import Assignment
from grader.results import RunResult, printable

STATUS = {True: "pass", False: "FAIL"}
HIDDEN_VISIBILITIES = ("after_due_date", "after_published")  # Gradescope's, for hidden tests: shown to students later
SHOWN = {"after_due_date": "after the due date", "after_published": "when the grades are published"}


def table(result: RunResult, assignment: Assignment, color: bool = False) -> str:
    """Task, test, points, status and feedback per test, then the score per task and the total."""
    import click

    width = max(60, shutil.get_terminal_size((120, 20)).columns)
    name_w = max(24, min(72, width - 36))
    selected = f"; selected: {result.selection}" if result.selection else ""
    lines = [
        f"{assignment.id}: {assignment.title}  [{', '.join(result.suites)} tests{selected}, isolation: {result.isolation}]",
        "",
    ]
    lines.append(f"{'task':<5} {'test':<{name_w}} {'points':>11}  status")
    for t in result.tests:
        name = fit(t.name, name_w)
        status = STATUS[t.passed] if t.passed else f"FAIL ({t.cause})"
        if color:
            status = click.style(status, fg="green" if t.passed else "red")
        tag = "*" if t.kind == "hidden" else " "
        lines.append(f"{t.task:<5} {name:<{name_w}}{tag} {t.points:>5.4g} / {t.max_points:<5.4g} {status}")
        if not t.passed:
            for line in textwrap.wrap(t.feedback, width - 8) or [""]:
                lines.append(f"{'':6}{line}")
            if t.output.strip():
                lines.append(f"{'':6}your code printed: {t.output.strip().splitlines()[-1][: width - 26]}")
    lines.append("")
    for task in result.tasks:
        if task.partial and not task.tests:
            continue  # none of its tests selected
        line = f"  Task {task.id:<4} {task.title[:name_w]:<{name_w}} {task.points:>6.4g} / "
        if task.partial:  # out of the task's points, not rescaled to the tests run
            line += f"{task.task_points:g}  ({task.tests} of {task.of_tests} tests run)"
        else:
            line += f"{task.max_points:g}"
        lines.append(line)
    total = "Total of the tests run" if result.selection else "Total"
    lines.append(f"  {total:<{name_w + 10}} {result.score:>6.4g} / {result.max_score:g}   ({result.seconds:.1f} s)")
    if result.selection and result.tests_not_run:
        lines.append(
            f"  not run: {result.tests_not_run} of {result.tests_not_run + len(result.tests)} tests, "
            f"worth {result.points_not_run:g} of {result.points_not_run + result.max_score:g} points"
        )
    if "hidden" in result.suites:
        lines.append("  (* hidden test)")
    for note in result.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def fit(name: str, width: int) -> str:
    """Shorten a test name to `width`, keeping a trailing parameter id like `[clrs]`."""
    if len(name) <= width:
        return name
    tail = name[name.rfind(" [") :] if name.endswith("]") and " [" in name else ""
    return name[: width - 3 - len(tail)] + "..." + tail


def feedback_text(result: RunResult, assignment: Assignment, student: str) -> str:
    """What a student reads after grading: score per task, and what to fix, test by test."""
    lines = [
        f"{assignment.id} ({assignment.title}) - {printable(student, 200)}",
        f"Score: {result.score:g} / {result.max_score:g}",
        "",
    ]
    for task in result.tasks:
        lines.append(f"Task {task.id} {task.title}: {task.points:g} / {task.max_points:g} ({task.passed} of {task.tests} tests)")
        for t in result.tests:
            if t.task == task.id and not t.passed:
                where = "hidden test" if t.kind == "hidden" else "test"
                lines.append(f"  - {where} '{t.name}' ({t.cause}): {indented(t.feedback)}")
    lines += [f"Note: {indented(n)}" for n in result.notes]
    return "\n".join(lines) + "\n"


def indented(text: str, prefix: str = "      ") -> str:
    """Continuation lines indented, so text from a submission cannot start a line of its own
    (a forged "Score: 100 / 100", say)."""
    return printable(text).replace("\n", "\n" + prefix)


def csv_cell(value) -> str:
    """A CSV cell that a spreadsheet shows as text: one that would start a formula (= + - @, or a
    tab or carriage return before one) gets a leading apostrophe. Numbers are written by the caller."""
    text = printable(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def gradescope(result: RunResult, assignment: Assignment, hidden: str = HIDDEN_VISIBILITIES[0], leaderboard=None) -> dict:
    """results.json in Gradescope's autograder format: score, execution_time (whole seconds), output,
    tests (name, number: the task, score, max_score, status, output, visibility, tags) and, where
    given, a leaderboard ([{"name", "value", "order"?}]).

    Public tests are visible; hidden tests get `hidden` visibility ("after_due_date" or
    "after_published"), and Gradescope keeps their names, points and feedback, and the total score,
    from students until then. So the top-level output, which students always see, speaks of the
    public tests alone."""
    if hidden not in HIDDEN_VISIBILITIES:
        raise ValueError(f"hidden tests' visibility must be one of {', '.join(HIDDEN_VISIBILITIES)}, not {hidden!r}")
    tests = [
        {
            "name": t.name,
            "number": t.task,
            "score": t.points,
            "max_score": t.max_points,
            "status": "passed" if t.passed else "failed",
            "output": "" if t.passed else f"[{t.cause}] {t.feedback}",
            "visibility": "visible" if t.kind == "public" else hidden,
            "tags": [assignment.pillar, f"task {t.task}", t.kind],
        }
        for t in result.tests
    ]
    data = {
        "score": result.score,
        "execution_time": math.ceil(result.seconds),
        "output": gradescope_output(result, assignment, hidden),
        "tests": tests,
    }
    if leaderboard is not None:
        data["leaderboard"] = leaderboard
    return data


def gradescope_output(result: RunResult, assignment: Assignment, hidden: str) -> str:
    """The public tests' points, that the rest is shown later, and the run's notes (a missing file)."""
    public = [t for t in result.tests if t.kind == "public"]
    if not result.tests:
        lines = [f"{assignment.id}: not graded"]
    else:
        points, most = round(sum(t.points for t in public), 2), round(sum(t.max_points for t in public), 2)
        passed = sum(t.passed for t in public)
        lines = [f"{assignment.id}: public tests {points:g} / {most:g} points ({passed} of {len(public)} passed)"]
        if len(public) < len(result.tests):
            lines.append(f"More tests count toward your score: their results and your total are shown {SHOWN[hidden]}.")
    return "\n".join(lines + [printable(n) for n in result.notes])
