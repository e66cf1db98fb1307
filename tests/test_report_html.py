"""report.html, opened in a real headless browser (Playwright with Debian's Chromium): does the page
show the class's numbers as grades.csv and failures.csv give them, with no script error and no
request leaving the page, and does student-made text (folder names, feedback) show as text?

The class is `hw1_batch` (graded once for the session); the edge cases (one student, a class no
one of which could be graded, no failure, hostile names and feedback) are small made-up results.
Without playwright or the browser these tests are skipped, except under CI=true, where they fail."""

from __future__ import annotations

import csv
import os
import re
import statistics
from collections import Counter
from pathlib import Path

import pytest

from grader.batch import ungradable_result
from grader.report_html import write_report
from grader.results import RunResult, TaskScore
from grader.results import TestResult as OneTest  # (a name pytest does not collect)

CHROMIUM = "/usr/bin/chromium-headless-shell"


def unavailable(reason: str):
    """Skip, except in CI, which must run these tests."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed: pip install -e '.[dev]'")
    if not Path(CHROMIUM).is_file():
        unavailable(f"{CHROMIUM} is missing: apt-get install chromium-headless-shell")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Opened:
    """A page as the browser rendered it, and what went wrong on the way: console errors, page
    errors, dialogs (an alert() from injected markup), requests for anything but the file."""

    def __init__(self, browser, path: Path):
        self.page = browser.new_page()
        self.path = path
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        url = path.resolve().as_uri()

        def route(r):
            if r.request.url == url or r.request.url.startswith("data:"):
                r.continue_()
            else:
                self.requests.append(r.request.url)
                r.abort()

        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.route("**/*", route)
        self.page.goto(url)

    def text(self, selector: str = "body") -> str:
        return self.page.locator(selector).inner_text()

    def rows(self, table_id: str) -> list[list[str]]:
        """The cells of a table's body, as the page shows them."""
        rows = self.page.locator(f"#{table_id} tbody tr")
        return rows.evaluate_all("rows => rows.map(r => Array.from(r.cells, c => c.innerText))")

    def summary(self) -> dict[str, str]:
        return {k: v for k, v in self.rows("summary")}

    def addresses(self) -> list[str]:
        """Every address in the page (src, href, CSS url()) but data: URIs and #fragments, also
        those a headless browser leaves unfetched (an icon, a print style sheet)."""
        found = self.page.evaluate(
            """() => [
                ...Array.from(document.querySelectorAll("[src], [href], [srcset], [action], [poster], [data]"),
                              e => ["src", "href", "srcset", "action", "poster", "data"].map(a => e.getAttribute(a)))
                    .flat().filter(Boolean),
                ...Array.from(document.styleSheets, s => Array.from(s.cssRules, r => r.cssText).join(" "))
                    .join(" ").match(/url\\([^)]*\\)/g) || [],
            ]"""
        )
        return [a for a in found if not re.match(r"""(url\(\s*["']?)?(data:|#)""", a)]

    def clean(self) -> None:
        assert not self.errors, self.errors
        assert not self.requests, f"the page asked for {self.requests}"
        assert not self.addresses(), f"the page names addresses: {self.addresses()}"
        assert not self.dialogs, f"markup from a submission ran: {self.dialogs}"


@pytest.fixture(scope="module")
def class_page(hw1_batch, course, browser, tmp_path_factory):
    """report.html of the session's graded hw1 class."""
    results = {n: RunResult.from_dict(d) for n, d in sorted(hw1_batch["results"].items())}
    path = write_report(course.assignment("hw1"), results, tmp_path_factory.mktemp("report"))
    return Opened(browser, path)


def test_course_grade_writes_the_page_beside_grades_csv(class_page, hw1_batch):
    """The batch's report.html is the page of its students' results (the one checked below)."""
    written = hw1_batch["out"] / "report.html"
    assert written.is_file(), "course grade wrote no report.html"
    assert written.read_text() == class_page.path.read_text()


def test_the_page_shows_the_class_numbers_of_grades_csv(class_page, hw1_batch, course):
    class_page.clean()
    with (hw1_batch["out"] / "grades.csv").open() as f:
        grades = list(csv.DictReader(f))
    shown = class_page.summary()
    assert shown["Students"] == str(len(grades))
    mean = statistics.fmean(float(g["total"]) for g in grades)
    assert shown["Mean score"] == f"{mean:.1f} of 100", shown
    tasks = {row[0]: row for row in class_page.rows("tasks")}
    for t in course.assignment("hw1").tasks:
        column = [float(g[f"{t.id} {t.title}"]) for g in grades]
        assert tasks[t.id][3] == f"{statistics.fmean(column):.1f}", (t.id, tasks[t.id])
        assert tasks[t.id][7] == f"{sum(p == t.points for p in column)} of {len(grades)}"


def test_the_most_failed_test_comes_first_with_failures_csv_count(class_page, hw1_batch):
    with (hw1_batch["out"] / "failures.csv").open() as f:
        failed = Counter((r["task"], r["test"]) for r in csv.DictReader(f) if r["cause"] not in ("ungradable", "note"))
    rows = class_page.rows("failures")
    counts = [int(r[2]) for r in rows]
    assert counts[0] == max(failed.values()) and counts == sorted(counts, reverse=True)
    assert sum(counts) == sum(failed.values())
    assert re.search(r"(wrong answer|not-implemented|timeout|crash|limit|syntax|error|missing) \(\d+\)", rows[0][3])


def test_the_slowest_submissions_are_listed_slowest_first(class_page, hw1_batch):
    rows = class_page.rows("slowest")
    seconds = sorted((r["seconds"] for r in hw1_batch["results"].values()), reverse=True)[:10]
    assert [float(r[1]) for r in rows] == [round(s, 1) for s in seconds]


# Made-up results for the edge cases: hw1's tasks, one test per task.


def graded(a, name: str, lost: dict[str, tuple[str, str]] | None = None, seconds: float = 1.0) -> RunResult:
    """A result for `name` that lost the tasks in `lost` (task -> (cause, feedback)), full marks elsewhere."""
    lost = lost or {}
    r = RunResult(a.id, f"/subs/{name}", "limits", ["public", "hidden"], seconds=seconds)
    for t in a.tasks:
        cause, feedback = lost.get(t.id, ("", ""))
        r.tests.append(
            OneTest(
                f"test_{t.id}",
                f"Is task {t.id} right?",
                t.id,
                "public",
                0.0 if cause else t.points,
                t.points,
                not cause,
                cause,
                feedback,
            )
        )
        r.tasks.append(TaskScore(t.id, t.title, 0.0 if cause else t.points, t.points, int(not cause), 1, 1, t.points))
    return r


def test_one_student_with_full_marks(course, browser, tmp_path):
    a = course.assignment("hw1")
    page = Opened(browser, write_report(a, {"ada": graded(a, "ada")}, tmp_path))
    page.clean()
    assert page.summary()["Students"] == "1" and page.summary()["Mean score"] == "100.0 of 100"
    assert "No test failed" in page.text() and "Every student was graded" in page.text()
    assert all(row[4] == "0.0" and row[7] == "1 of 1" for row in page.rows("tasks"))


def test_a_class_no_one_of_which_could_be_graded(course, browser, tmp_path):
    a = course.assignment("hw1")
    results = {
        n: ungradable_result(a, Path(f"/subs/{n}"), f"{n}'s grading process exited with status 1", "limits") for n in ("bo", "cy")
    }
    page = Opened(browser, write_report(a, results, tmp_path))
    page.clean()
    assert page.summary()["Students"] == "2" and page.summary()["Could not be graded"] == "2"
    assert page.rows("ungradable") == [
        ["bo", "bo's grading process exited with status 1"],
        ["cy", "cy's grading process exited with status 1"],
    ]
    assert "No test ran" in page.text() and page.page.locator("#failures").count() == 0


def test_student_made_text_shows_as_text(course, browser, tmp_path):
    a = course.assignment("hw1")
    script, image = "<script>alert(1)</script>", "<img src=x onerror=alert(2)>"
    feedback = "</td></tr></table><h1>forged</h1><script>alert(3)</script>"
    results = {
        script: graded(a, "s", {"1.3": ("wrong answer", feedback)}, seconds=9.0),
        image: graded(a, "i", {"1.1": ("timeout", "ran past 2 s"), "1.2": ("crash", "\x1b[2J died")}),
        "ok": graded(a, "ok", {"1.1": ("wrong answer", "off by one")}),
        "</table>": ungradable_result(a, Path("/subs/x"), "<b>no</b> </table> module", "limits"),
    }
    page = Opened(browser, write_report(a, results, tmp_path))
    page.clean()
    for tag in ("script", "img", "b"):
        assert page.page.locator(tag).count() == 0, f"a <{tag}> from a submission became markup"
    assert page.page.locator("h1").count() == 1
    assert page.rows("slowest")[0][0] == script
    failures = {row[0]: row for row in page.rows("failures")}
    assert page.rows("failures")[0][0] == "1.1" and failures["1.1"][2:4] == ["2", "timeout (1), wrong answer (1)"]
    assert failures["1.3"][4] == f"{script}:\n{feedback}"
    assert page.rows("ungradable") == [["</table>", "<b>no</b> </table> module"]]
    assert "\\x1b[2J died" in page.text("#failures")


def test_an_empty_class_gets_a_page_that_says_so(course, tmp_path):
    """An empty shard (`course grade --shard K/N` where no folder name hashes to K) has a page too."""
    text = write_report(course.assignment("hw1"), {}, tmp_path).read_text()
    assert "No students in this folder." in text and "<svg" not in text and "<table" not in text
