"""What one grading run produced: a result per test, scores per task, and their JSON form."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.errors import CourseError

# Why a test did not pass; "wrong answer" is a failed assertion on the grading side.
CAUSES = ("wrong answer", "error", "not-implemented", "missing", "syntax", "timeout", "crash", "limit")


REPORT_CHARS = 4000  # the most one student-made text (a message, what the code printed) adds to a report
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text, limit: int = REPORT_CHARS) -> str:
    """Text that came from a submission, safe in every report: at most `limit` characters (the
    full length stated), and control characters (terminal escapes, carriage returns, bidi
    overrides) written as visible escapes such as \\x1b. Newlines and tabs stay."""
    text = text if isinstance(text, str) else str(text)
    size = len(text)
    if size > limit:
        text = text[:limit]
    text = _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}", text)
    if size > limit:
        text += f" ... [cut: {size:,} characters in all]"
    return text


@dataclass
class TestResult:
    nodeid: str
    name: str  # the question the test answers, from its docstring
    task: str  # "N.M"
    kind: str  # "public" or "hidden"
    points: float  # earned
    max_points: float
    passed: bool
    cause: str = ""  # one of CAUSES when not passed
    feedback: str = ""
    output: str = ""  # what the student's code printed during the test
    seconds: float = 0.0
    seeded: bool = False  # marked `seeded`: its verdict rests on a random outcome (course audit --seeds)


@dataclass
class TaskScore:
    id: str
    title: str
    points: float  # earned
    max_points: float  # the task's points; only those of the tests run when some were not selected
    passed: int
    tests: int  # tests run
    of_tests: int = 0  # the task's tests in the suites run, selected or not
    task_points: float = 0.0  # the task's points in course.yaml

    @property
    def partial(self) -> bool:
        """Some of the task's tests were left out by a selection (`course check -k`, `--task`)."""
        return self.tests < self.of_tests


@dataclass
class RunResult:
    assignment: str
    submission: str
    isolation: str  # "bwrap" or "limits"
    suites: list[str]  # ["public"] or ["public", "hidden"]
    tests: list[TestResult] = field(default_factory=list)
    tasks: list[TaskScore] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # e.g. a file missing from the submission
    selection: str = ""  # what a partial run selected ("task 1.1", "-k 'huffman'"); "" when all ran

    @property
    def score(self) -> float:
        return round(sum(t.points for t in self.tasks), 4)

    @property
    def max_score(self) -> float:
        return round(sum(t.max_points for t in self.tasks), 4)

    @property
    def tests_not_run(self) -> int:
        return sum(max(0, t.of_tests - t.tests) for t in self.tasks)

    @property
    def points_not_run(self) -> float:
        """The points of the tests a selection left out (score and max_score count only those run)."""
        return round(max(0.0, sum(t.task_points for t in self.tasks) - self.max_score), 4)

    @property
    def all_passed(self) -> bool:
        return bool(self.tests) and all(t.passed for t in self.tests)

    def task_points(self) -> dict[str, float]:
        return {t.id: t.points for t in self.tasks}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["score"], d["max_score"] = self.score, self.max_score
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RunResult:
        d = {k: v for k, v in d.items() if k not in ("score", "max_score")}
        d["tests"] = [TestResult(**t) for t in d.get("tests", [])]
        d["tasks"] = [TaskScore(**t) for t in d.get("tasks", [])]
        return cls(**d)


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and a rename, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data) -> None:
    write_atomic(path, json.dumps(data, indent=2, allow_nan=False, default=str) + "\n")


@contextlib.contextmanager
def writing(what: Path):
    """A report that cannot be written (a folder in its place, a read-only file, a full disk) ends
    the run with one line naming it; what was already written stays."""
    try:
        yield
    except OSError as exc:
        raise CourseError(
            f"{what}: cannot be written ({exc.strerror or exc}); the students graded so far are kept, rerun to resume"
        ) from None
