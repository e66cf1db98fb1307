"""Run an assignment's suites against one submission and score them: `run_assignment()`.

pytest runs here, on the grading side, with a plugin (`GradingPlugin`) that gives every test the
`submission` fixture (the seam of `grader.remote`), seeds each test from its name, turns each
outcome into a `TestResult` with a cause and feedback in the subject's terms, and splits each
task's points (course.yaml) over the task's tests by their weights.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import signal
import sys
import threading
import time
import zlib
from collections.abc import Iterable
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from grader import paths
from grader.config import Assignment, Course
from grader.errors import CourseError, StudentError
from grader.notebook import submission_folder
from grader.remote import Submission
from grader.results import RunResult, TaskScore, TestResult, printable

PYTEST_INI = paths.SUITES / "pytest.ini"


def test_seed(nodeid: str, trial: int = 0) -> int:
    """A stable seed per test, the same on every run and every machine; `course audit --seeds`
    draws others (trial 1, 2, ...) for the tests marked `seeded`."""
    name = nodeid.split("::", 1)[-1] + (f"#{trial}" if trial else "")
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


class GradingPlugin:
    """pytest plugin: provides `submission`, records one TestResult per test."""

    def __init__(
        self,
        assignment: Assignment,
        submission: Submission,
        trial: int = 0,
        seeded_only: bool = False,
        tasks: frozenset[str] | None = None,
    ):
        self.assignment = assignment
        self.sub = submission
        self.trial = trial  # which draw of seeds (0: the grading seeds)
        self.seeded_only = seeded_only  # run only the tests whose outcome depends on the seed
        self.tasks = tasks  # run only these tasks' tests (None: every task's)
        self.weights: dict[str, float] = {}  # per task, the weights of all its tests, selected or not
        self.counts: dict[str, int] = {}  # per task, how many tests it has, selected or not
        self.collected = 0  # tests collected
        self.selected = 0  # tests left to run after every selection (--task, -k, seeded_only)
        self.records: dict[str, dict] = {}
        self.collect_errors: list[str] = []
        self.started = time.monotonic()
        self.bound: dict = {}  # the current test's grading-side time bound (grading_bound)

    # -- collection ---------------------------------------------------------------------------
    def pytest_configure(self, config):
        config.addinivalue_line("markers", "task(id, weight=1): the course.yaml task a test grades")
        config.addinivalue_line("markers", "seeded: the verdict rests on a random outcome (course audit --seeds reruns it)")

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_collection_modifyitems(self, config, items):
        """Sees every collected test before any is deselected (pytest's own -k included, which
        runs inside the `yield`), so a task's points are split over all its tests: a selection
        shows each test's true share of its task, not a share rescaled to the tests selected."""
        tasks = {t.id for t in self.assignment.tasks}
        for item in items:
            marker = item.get_closest_marker("task")
            if marker is None or not marker.args or marker.args[0] not in tasks:
                self.collect_errors.append(f"{item.nodeid}: missing or unknown @pytest.mark.task")
                continue
            task = marker.args[0]
            self.weights[task] = self.weights.get(task, 0.0) + float(marker.kwargs.get("weight", 1.0))
            self.counts[task] = self.counts.get(task, 0) + 1
        self.collected = len(items)
        keep = []
        if self.tasks is not None:
            keep.append(lambda item: item.get_closest_marker("task").args[0] in self.tasks)
        if self.seeded_only:
            keep.append(lambda item: item.get_closest_marker("seeded") is not None)
        if keep and not self.collect_errors:
            dropped = [item for item in items if not all(k(item) for k in keep)]
            items[:] = [item for item in items if all(k(item) for k in keep)]
            config.hook.pytest_deselected(items=dropped)
        yield
        self.selected = len(items)

    def pytest_collectreport(self, report):
        if report.failed:
            self.collect_errors.append(f"{report.nodeid}: {report.longreprtext.strip().splitlines()[-1]}")

    # -- fixtures -----------------------------------------------------------------------------
    @pytest.fixture(scope="session", autouse=True)
    def _one_thread(self):
        """The grading side's own computations are small: one intra-op thread for the run (on a busy
        machine, threads that wait on each other at every operation make them many times slower)."""
        torch = sys.modules.get("torch")  # imported by the suites, if they use it, before any fixture
        before = torch.get_num_threads() if torch is not None else None
        if torch is not None:
            torch.set_num_threads(1)
        yield
        if torch is not None:
            torch.set_num_threads(before)

    @pytest.fixture(scope="session")
    def submission(self) -> Submission:
        return self.sub

    @pytest.fixture(scope="session")
    def snapshot(self) -> dict:
        """Reference values made from the solutions by `course snapshot ID` (the suite's snapshots.py)."""
        return json.loads(paths.snapshot_file(self.assignment).read_text())

    @pytest.fixture
    def seed(self, request) -> int:
        """This test's seed (the worker's generators are seeded with it too), for grading-side draws."""
        return test_seed(request.node.nodeid, self.trial)

    @pytest.fixture(scope="session")
    def seed_of(self):
        """seed_of(name): the seed of something several tests share (a run trained once per
        submission, say), drawn as a test's is, from `name` instead of the test's id."""
        return lambda name: test_seed(name, self.trial)

    @pytest.fixture(autouse=True)
    def _course_test(self, request):
        if time.monotonic() - self.started > self.assignment.limits.grader_s:
            raise StudentError(f"not run: the submission used its {self.assignment.limits.grader_s:g} s total time", "timeout")
        self.sub.begin_test(request.node.nodeid, test_seed(request.node.nodeid, self.trial))
        with grading_bound(grading_seconds(self.assignment)) as bound:
            self.bound = bound
            yield

    # -- outcomes -----------------------------------------------------------------------------
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        record = self.records.setdefault(item.nodeid, {"item": item, "passed": True, "seconds": 0.0, "order": len(self.records)})
        record["seconds"] += report.duration
        if report.when == "call":
            record["output"] = self.sub.printed()
        if self.bound.get("expired") and record["passed"]:  # whatever caught the exception on its way
            record["passed"] = False
            record["cause"], record["feedback"] = "timeout", self.bound["expired"]
        if report.failed and record["passed"]:
            record["passed"] = False
            record["cause"], record["feedback"] = explain(call.excinfo)
        elif report.skipped and record["passed"]:
            record["passed"] = False
            record["cause"], record["feedback"] = "error", "skipped"

    def results(self, kind_of) -> list[TestResult]:
        """One TestResult per test run; each test's points are its weight's share of its task's
        points, over all the task's tests collected (those a selection left out included)."""
        for r in self.records.values():
            task = r["item"].get_closest_marker("task")
            r["task"] = task.args[0]
            r["weight"] = float(task.kwargs.get("weight", 1.0))
        out, order = [], []
        for nodeid, r in self.records.items():
            task = self.assignment.task(r["task"])
            share = task.points * r["weight"] / self.weights[r["task"]]
            out.append(
                TestResult(
                    nodeid=nodeid,
                    name=question(r["item"]),
                    task=r["task"],
                    kind=kind_of(nodeid),
                    points=round(share, 4) if r["passed"] else 0.0,
                    max_points=round(share, 4),
                    passed=r["passed"],
                    cause=r.get("cause", ""),
                    feedback=printable(r.get("feedback", "")),
                    output=printable(r.get("output", "")) if not r["passed"] else "",
                    seconds=round(r["seconds"], 3),
                    seeded=r["item"].get_closest_marker("seeded") is not None,
                )
            )
            order.append(r["order"])
        ranked = sorted(zip(out, order), key=lambda p: (task_key(p[0].task), p[0].kind != "public", p[1]))
        return [t for t, _ in ranked]


def preload(assignment: Assignment, trial: int = 0) -> None:
    """Import the assignment's heavy libraries (course.yaml `preload`, what its workers import
    before any fork) on the grading side too, where its suites use them: once in the process that
    grading processes are forked from, instead of in each at its first test (torch._dynamo, which
    the first torch.optim step imports, takes about a second). Then the suite's own `warm(seed_of)`
    (grader/suites/<id>/warm.py, optional) computes here what every submission's grading would
    compute alike (hw4's float32 network), with `seed_of(name)` the seeds of this trial."""
    for name in assignment.preload:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # the suite that needs it says so when it is collected
    module = paths.suite_module(assignment, "warm")
    if module is not None:
        module.warm(lambda name: test_seed(name, trial))


def grading_seconds(assignment: Assignment) -> float:
    """How long the grading side may spend on one test: generous, since it includes the worker's
    time (at most `wall_s` per test), but finite, so a student value that makes a check slow (a
    code length of 10^8 in an exact Kraft sum, say) costs that test, not the whole run."""
    return max(60.0, 3.0 * assignment.limits.wall_s)


@contextmanager
def grading_bound(seconds: float):
    """Raise a StudentError ("timeout") in this process's main thread after `seconds`; the dict
    it yields gets "expired" (the message) too, so the verdict stands even if some code on the
    way catches the exception."""
    state: dict = {}
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield state
        return

    def expired(signum, frame):
        state["expired"] = (
            f"checking this answer took the grading side more than {seconds:g} s; "
            "are the values returned far larger than asked for?"
        )
        raise StudentError(state["expired"], "timeout")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield state
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def chosen_tasks(assignment: Assignment, tasks: Iterable[str]) -> frozenset[str]:
    """`tasks` as a set of the assignment's task ids; the first id it does not have (in the order
    given) is a CourseError that lists the ones it has."""
    tasks = list(tasks)
    known = [t.id for t in assignment.tasks]
    for t in tasks:
        if t not in known:
            raise CourseError(f"{assignment.id} has no task {t}; its tasks: {', '.join(known)}")
    return frozenset(tasks)


def describe_selection(tasks: frozenset[str] | None, select: str | None) -> str:
    """What a selection asked for, in the learner's words: "task 1.1", "tasks 1.5, 1.6 and -k 'x'"."""
    parts = []
    if tasks is not None:
        ids = sorted(tasks, key=task_key)
        parts.append(f"task{'s' if len(ids) > 1 else ''} {', '.join(ids)}")
    if select:
        parts.append(f"-k {select!r}")
    return " and ".join(parts)


def task_key(task_id: str) -> tuple[int, ...]:
    return tuple(int(n) for n in task_id.split("."))


def question(item) -> str:
    doc = getattr(item.function, "__doc__", None) or ""
    first = doc.strip().splitlines()[0] if doc.strip() else item.name.removeprefix("test_").replace("_", " ")
    callspec = getattr(item, "callspec", None)
    return f"{first} [{callspec.id}]" if callspec is not None else first


def explain(excinfo) -> tuple[str, str]:
    """(cause, feedback) for a failed test."""
    if excinfo is None:
        return "error", "failed"
    exc = excinfo.value
    if isinstance(exc, StudentError):
        return exc.cause, str(exc)
    if isinstance(exc, AssertionError):
        text = str(exc).split("\nassert ", 1)[0].strip()
        return "wrong answer", text.splitlines()[0] if text.startswith("assert ") else text
    return "wrong answer", f"the result could not be checked ({type(exc).__name__}: {exc})"


def run_assignment(
    course: Course,
    assignment_id: str,
    submission_dir: Path,
    suites: tuple[str, ...] = ("public",),
    isolation: str | None = None,
    select: str | None = None,
    trial: int = 0,
    seeded_only: bool = False,
    tasks: Iterable[str] | None = None,
) -> RunResult:
    """Grade one submission (a folder of modules, or a notebook) with the given suites; never
    raises for student faults. `tasks` runs only those tasks' tests and `select` only the tests
    a pytest -k expression matches (a CourseError if none is left); each test still earns its
    share of its task's points over all the task's tests. `trial` > 0 draws other seeds;
    `seeded_only` runs only the tests marked `seeded` (both for `course audit --seeds`)."""
    assignment = course.built(assignment_id)
    given = Path(os.path.abspath(submission_dir))  # not resolve(): a link must be seen, not followed
    if not given.exists() and not given.is_symlink():
        raise CourseError(f"{given}: no such folder")
    with submission_folder(given, course, assignment) as folder:
        result = run_folder(assignment, folder, suites, isolation, select, trial, seeded_only, tasks)
    result.submission = str(given)
    return result


def run_folder(
    assignment: Assignment,
    submission_dir: Path,
    suites: tuple[str, ...],
    isolation: str | None,
    select: str | None,
    trial: int = 0,
    seeded_only: bool = False,
    tasks: Iterable[str] | None = None,
) -> RunResult:
    chosen = None if tasks is None else chosen_tasks(assignment, tasks)
    present = [m for m in assignment.modules if (submission_dir / f"{m}.py").is_file()]
    if not present:
        files = ", ".join(f"{m}.py" for m in assignment.modules)
        raise CourseError(f"{submission_dir}: none of {assignment.id}'s files ({files}) is there, nor one notebook (.ipynb)")
    from grader import sandbox
    from grader.worker.confine import undumpable

    dirs = [paths.suite_dir(assignment, s) for s in suites]
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        raise CourseError(f"suite not found: {missing[0]} (hidden suites exist only in the instructor's copy)")
    if isolation is None:
        isolation = "bwrap" if sandbox.bwrap_path() else "limits"
    undumpable()  # a worker of the same user cannot read or write this process's memory
    sub = Submission.of(assignment, submission_dir, isolation)
    plugin = GradingPlugin(assignment, sub, trial, seeded_only, chosen)
    args = [
        *map(str, dirs),
        "-c",
        str(PYTEST_INI),
        "--rootdir",
        str(paths.suite_dir(assignment).parent),
        "-q",
        "-p",
        "no:cacheprovider",
        "--import-mode=importlib",
        "--tb=native",
        "--assert=plain",
        "-p",
        "no:unraisableexception",
        "-p",
        "no:threadexception",
        "-p",
        "no:faulthandler",
        "-o",
        "console_output_style=classic",
    ]
    if select:
        args += ["-k", select]
    started = time.monotonic()
    log = io.StringIO()
    autoload = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # third-party plugins have no say in grading
    try:
        with redirect_stdout(log), redirect_stderr(log):
            status = pytest.main(args, plugins=[plugin])
    finally:
        sub.close()
        if autoload is None:
            del os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"]
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = autoload
    if plugin.collect_errors:
        raise CourseError(f"the {assignment.id} suite could not be collected: {plugin.collect_errors[0]}")
    selection = describe_selection(chosen, select)
    if status == pytest.ExitCode.USAGE_ERROR and select:
        said = [ln.removeprefix("ERROR: ") for ln in log.getvalue().splitlines() if ln.startswith("ERROR:")]
        raise CourseError(said[0] if said else f"-k {select!r}: not a pytest -k expression")
    if selection and plugin.collected and not plugin.selected:
        raise CourseError(f"no {' or '.join(suites)} test of {assignment.id} matches {selection}; nothing was run")

    def kind_of(nodeid: str) -> str:
        return "hidden" if "/hidden/" in f"/{nodeid}" else "public"

    tests = plugin.results(kind_of)
    result = RunResult(assignment.id, str(submission_dir), isolation, list(suites), tests, seconds=0.0)
    for task in assignment.tasks:
        mine = [t for t in tests if t.task == task.id]
        result.tasks.append(
            TaskScore(
                task.id,
                task.title,
                round(sum(t.points for t in mine), 2),
                task.points if len(mine) == plugin.counts.get(task.id, 0) and mine else round(sum(t.max_points for t in mine), 4),
                sum(t.passed for t in mine),
                len(mine),
                plugin.counts.get(task.id, 0),
                task.points,
            )
        )
    result.selection = selection
    result.notes = [f"{m}.py is missing from the submission" for m in assignment.modules if m not in present]
    result.seconds = round(time.monotonic() - started, 2)
    return result
