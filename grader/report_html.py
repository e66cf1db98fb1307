"""report.html: a graded class at a glance, one page that opens anywhere.

What it shows, from every student's result: the score histogram; per task the mean, standard
deviation, lowest, highest and how many got full marks; the tests that failed most, each with its
causes and one example of the feedback; the slowest submissions; the students who could not be
graded, with the cause. The numbers are grades.csv's: every student counts, one who could not be
graded with 0.

The page is self-contained and static: CSS inline, the histogram inline SVG, no script and no
address of any kind, so it opens from a mail attachment or an LMS upload as it does from disk.
Everything that came from a submission (folder names, feedback, causes) is escaped and capped.
"""

from __future__ import annotations

import html
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from grader.config import Assignment
from grader.results import RunResult, printable, write_atomic

SLOWEST = 10  # submissions listed by grading time
BINS = 20  # histogram bars over 0 .. the assignment's points, as histogram.png

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; color: #1d2329; margin: 2rem auto; max-width: 64rem; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid #dde2e7; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.feedback { white-space: pre-wrap; overflow-wrap: anywhere; font-size: .9em; max-width: 36rem; }
.who { color: #5a6570; font-size: .85em; }
.none { color: #5a6570; font-style: italic; }
svg text { font: 11px system-ui, sans-serif; fill: #1d2329; }
"""


@dataclass
class Failing:
    """One test that some students failed: who, why, and what the first of them was told."""

    task: str
    name: str
    kind: str
    students: list[str] = field(default_factory=list)
    causes: Counter = field(default_factory=Counter)
    example: tuple[str, str] = ("", "")  # (student, feedback)


def esc(text, limit: int = 300) -> str:
    """Text from a submission, as HTML text: capped, control characters visible, markup escaped."""
    return html.escape(printable(text, limit), quote=True)


def num(x: float) -> str:
    return f"{x:.1f}"


def failing_tests(results: dict[str, RunResult]) -> list[Failing]:
    """Every test that failed for some student, most failed first."""
    found: dict[str, Failing] = {}
    for student, r in sorted(results.items()):
        for t in r.tests:
            if not t.passed:
                f = found.setdefault(t.nodeid, Failing(t.task, t.name, t.kind))
                f.students.append(student)
                f.causes[t.cause or "wrong answer"] += 1
                if not f.example[0]:
                    f.example = (student, t.feedback)
    return sorted(found.values(), key=lambda f: (-len(f.students), f.task, f.name))


def ungradable(results: dict[str, RunResult]) -> dict[str, str]:
    """Student -> cause, for those no test ran for."""
    return {n: "; ".join(r.notes) or "no test ran" for n, r in sorted(results.items()) if not r.tests}


def histogram_svg(scores: list[float], points: float) -> str:
    """Students per score band, BINS bars over 0 .. points (the last band takes full marks too)."""
    counts = [0] * BINS
    for s in scores:
        counts[min(BINS - 1, max(0, int(s / points * BINS)))] += 1
    top = max(counts) or 1
    w, h, left, bottom, bar = 640, 240, 40, 34, 28
    parts = [f'<svg role="img" aria-label="histogram of scores" width="{w}" height="{h}" viewBox="0 0 {w} {h}">']
    plot_h = h - bottom - 18
    for i, c in enumerate(counts):
        x, bh = left + i * bar, plot_h * c / top
        lo, hi = points * i / BINS, points * (i + 1) / BINS
        parts.append(
            f'<rect x="{x + 1}" y="{18 + plot_h - bh:.1f}" width="{bar - 2}" height="{bh:.1f}" fill="#3b6ea5">'
            f"<title>{lo:g} to {hi:g}: {c} students</title></rect>"
        )
        if c:
            parts.append(f'<text x="{x + bar / 2}" y="{14 + plot_h - bh:.1f}" text-anchor="middle">{c}</text>')
    axis_y = 18 + plot_h
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{left + BINS * bar}" y2="{axis_y}" stroke="#1d2329"/>')
    for k in range(5):
        tick = left + BINS * bar * k / 4
        parts.append(f'<text x="{tick}" y="{axis_y + 14}" text-anchor="middle">{points * k / 4:g}</text>')
    parts.append(
        f'<text x="{left + BINS * bar / 2}" y="{h - 4}" text-anchor="middle">score (out of {points:g}); bar height: students</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def table(headers: list[str], rows: list[list[str]], numeric: set[int], table_id: str) -> str:
    """An HTML table (no header row when `headers` is empty); `rows` hold cells already escaped;
    columns in `numeric` align right."""
    cls = lambda i: ' class="n"' if i in numeric else ""
    head = "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows)
    thead = f"<thead><tr>{head}</tr></thead>" if headers else ""
    return f'<table id="{table_id}">{thead}<tbody>{body}</tbody></table>'


def summary_section(a: Assignment, results: dict[str, RunResult]) -> str:
    scores = [r.score for r in results.values()]
    rows = [
        ["Students", str(len(results))],
        ["Mean score", f"{num(statistics.fmean(scores))} of {a.points:g}"],
        ["Median score", f"{statistics.median(scores):g} of {a.points:g}"],
        ["Full marks", str(sum(s >= a.points - 1e-9 for s in scores))],
        ["Could not be graded", str(len(ungradable(results)))],
    ]
    return table([], rows, {1}, "summary")


def tasks_section(a: Assignment, results: dict[str, RunResult]) -> str:
    rows = []
    for task in a.tasks:
        got = [r.task_points().get(task.id, 0.0) for r in results.values()]
        full = sum(p >= task.points - 1e-9 for p in got)
        rows.append(
            [
                html.escape(task.id),
                html.escape(task.title),
                f"{task.points:g}",
                num(statistics.fmean(got)),
                num(statistics.pstdev(got)),
                f"{min(got):g}",
                f"{max(got):g}",
                f"{full} of {len(got)}",
            ]
        )
    headers = ["Task", "Title", "Points", "Mean", "Std. dev.", "Min", "Max", "Full marks"]
    return table(headers, rows, {2, 3, 4, 5, 6, 7}, "tasks")


def failures_section(results: dict[str, RunResult]) -> str:
    failing = failing_tests(results)
    if not any(r.tests for r in results.values()):
        return '<p class="none">No test ran: no student could be graded.</p>'
    if not failing:
        return '<p class="none">No test failed: every graded student passed every test.</p>'
    rows = []
    for f in failing:
        causes = ", ".join(f"{esc(c, 40)} ({k})" for c, k in f.causes.most_common())
        student, feedback = f.example
        example = f'<div class="who">{esc(student, 200)}:</div><div class="feedback">{esc(feedback, 600)}</div>'
        hidden = " (hidden)" if f.kind == "hidden" else ""
        rows.append([esc(f.task, 20), esc(f.name, 300) + hidden, str(len(f.students)), causes, example])
    return table(["Task", "Test", "Students", "Causes", "Example feedback"], rows, {2}, "failures")


def slowest_section(results: dict[str, RunResult]) -> str:
    slow = sorted(results.items(), key=lambda kv: (-kv[1].seconds, kv[0]))[:SLOWEST]
    rows = [[esc(n, 200), f"{r.seconds:.1f}", f"{r.score:g}"] for n, r in slow]
    return table(["Student", "Grading seconds", "Score"], rows, {1, 2}, "slowest")


def ungradable_section(results: dict[str, RunResult]) -> str:
    causes = ungradable(results)
    if not causes:
        return '<p class="none">Every student was graded.</p>'
    return table(["Student", "Cause"], [[esc(n, 200), esc(c, 600)] for n, c in causes.items()], set(), "ungradable")


def render(a: Assignment, results: dict[str, RunResult]) -> str:
    """The page, as text."""
    title = f"{a.id}: {a.title}"
    if not results:  # an empty shard of a class: its page says so, as its grades.csv has no rows
        return page(title, '<p class="none">No students in this folder.</p>\n')
    scores = [r.score for r in results.values()]
    sections = [
        ("Scores", histogram_svg(scores, a.points)),
        ("Tasks", tasks_section(a, results)),
        ("Tests failed most", failures_section(results)),
        (f"Slowest {min(SLOWEST, len(results))} submissions", slowest_section(results)),
        ("Could not be graded", ungradable_section(results)),
    ]
    body = "".join(f"<h2>{h}</h2>\n{content}\n" for h, content in sections)
    return page(title, f"{summary_section(a, results)}\n{body}")


def page(title: str, body: str) -> str:
    """The whole document around `body`: head, inline style, the title as heading."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}: the class</title>\n<style>{STYLE}</style></head>\n"
        f"<body>\n<h1>{html.escape(title)}</h1>\n{body}</body></html>\n"
    )


def write_report(assignment: Assignment, results: dict[str, RunResult], out: Path) -> Path:
    """Write `out`/report.html for `results` (student -> result) and return its path."""
    path = Path(out) / "report.html"
    write_atomic(path, render(assignment, results))
    return path
