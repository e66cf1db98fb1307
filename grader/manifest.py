"""What a `course grade` output folder holds, for `course merge` to refuse what does not belong
together: out/class.json (`Manifest`) names the assignment, the course version it was graded with,
the shard (`--shard K/N`: the students whose folder name hashes to K) and the students given.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from grader.config import Assignment, Course
from grader.errors import CourseError
from grader.results import printable, write_json, writing

MANIFEST = "class.json"  # out/class.json: what the folder holds (Manifest)
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class Shard:
    """Shard `k` of `n` (1 <= k <= n): the students whose folder name hashes to k. The hash is a
    sha256 of the name alone (not Python's salted hash), so every machine agrees on it and adding
    students moves nobody else."""

    k: int
    n: int

    @classmethod
    def parse(cls, spec: str) -> Shard:
        """`--shard K/N`, or a one-line CourseError (before anything is graded)."""
        match = re.fullmatch(r"\s*([0-9]+)\s*/\s*([0-9]+)\s*", spec)
        if not match:
            raise CourseError(f"--shard {printable(repr(spec), 60)}: expected K/N, shard K of N shards, such as 2/8")
        k, n = int(match[1]), int(match[2])
        if n < 1:
            raise CourseError(f"--shard {k}/{n}: N, the number of shards, must be at least 1")
        if not 1 <= k <= n:
            raise CourseError(f"--shard {k}/{n}: K must be from 1 to {n}")
        return cls(k, n)

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"

    def pick(self, folders: list[Path]) -> list[Path]:
        """The student folders of this shard, in their order."""
        return [f for f in folders if shard_of(f.name, self.n) == self.k]


def shard_of(name: str, n: int) -> int:
    """The shard (1..n) of the student whose folder is named `name`."""
    return int.from_bytes(hashlib.sha256(os.fsencode(name)).digest()[:8], "big") % n + 1


@dataclass
class Manifest:
    """out/class.json: what an output folder of `course grade` (or `course merge`) holds."""

    assignment: str
    course_version: dict[str, str]  # course_version(): what decides a grade besides the submission
    shards: list[int]  # which of `of` shards: [K] for --shard K/N, [1] of 1 for a whole class
    of: int
    students: list[str]  # the student folder names it was given
    written_by: str = "course grade"  # or "course merge"

    def write(self, out: Path) -> None:
        with writing(out / MANIFEST):
            write_json(out / MANIFEST, {"format": MANIFEST_FORMAT, **asdict(self)})


def read_manifest(out: Path) -> Manifest:
    """The manifest of `out`, or a one-line CourseError saying why it is not one."""
    path = out / MANIFEST
    if not out.is_dir():
        raise CourseError(f"{out}: no such folder")
    if not path.is_file():
        raise CourseError(f"{out}: not an output of `course grade` (it has no {MANIFEST})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CourseError(f"{path}: not a `course grade` manifest ({printable(exc, 200)})") from None
    problem = _manifest_problem(data)
    if problem:
        raise CourseError(f"{path}: not a `course grade` manifest ({problem})")
    return Manifest(**{k: data[k] for k in ("assignment", "course_version", "shards", "of", "students", "written_by")})


def _manifest_problem(data) -> str | None:
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        return f"expected a JSON object with format {MANIFEST_FORMAT}"
    if not isinstance(data.get("assignment"), str) or data.get("written_by") not in ("course grade", "course merge"):
        return "assignment or written_by is missing"
    version = data.get("course_version")
    if not isinstance(version, dict) or sorted(version) != ["course.yaml", "grader", "package"]:
        return "course_version: expected package, course.yaml and grader"
    if not all(isinstance(v, str) for v in version.values()):
        return "course_version: expected text"
    shards, of = data.get("shards"), data.get("of")
    if type(of) is not int or of < 1 or not isinstance(shards, list) or not shards:
        return "shards, of: expected some of 1..N shards"
    if not all(type(k) is int and 1 <= k <= of for k in shards) or len(set(shards)) != len(shards):
        return f"shards: expected distinct whole numbers from 1 to {of}"
    names = data.get("students")
    if not isinstance(names, list) or not all(isinstance(n, str) and _folder_name(n) for n in names):
        return "students: expected a list of folder names"
    if len(set(names)) != len(names):
        return "students: a name is listed twice"
    return None


def _folder_name(name: str) -> bool:
    """A student folder's name, as `students()` finds them (nothing that leads elsewhere)."""
    return bool(name) and "/" not in name and "\0" not in name and not name.startswith(".")


def course_version(course: Course, a: Assignment) -> dict[str, str]:
    """What decides a grade besides the submission: this package's version, course.yaml and the
    assignment's suites and drivers (a sha256 of each; paths relative to the grader folder, so the
    same course installed elsewhere, on another node of a cluster, has the same version)."""
    from importlib.metadata import PackageNotFoundError, version

    from grader import __version__
    from grader.paths import drivers_file, grader_dir, suite_dir

    try:
        package = version("course-foundations")
    except PackageNotFoundError:
        package = __version__
    top, h = grader_dir(a), hashlib.sha256()
    for path in _files(suite_dir(a)) + _files(drivers_file(a)):
        h.update(path.relative_to(top).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    yaml_file = course.root / "course.yaml"
    syllabus = yaml_file.read_bytes() if yaml_file.is_file() else b""
    return {"package": package, "course.yaml": hashlib.sha256(syllabus).hexdigest(), "grader": h.hexdigest()}


def _files(top: Path) -> list[Path]:
    """`top`, or the files under it; compiled caches and hidden files (a test run's cache) aside."""
    if top.is_file():
        return [top]
    if not top.is_dir():
        return []
    skip = (".", "__pycache__")
    return sorted(p for p in top.rglob("*") if p.is_file() and not any(x.startswith(skip) for x in p.relative_to(top).parts))


def version_difference(old: dict[str, str], new: dict[str, str]) -> str:
    """Which parts of two course versions differ, in words."""
    words = {"package": "the course package", "course.yaml": "course.yaml", "grader": "the assignment's tests or drivers"}
    changed = [w for key, w in words.items() if old.get(key) != new.get(key)]
    return " and ".join(changed) + (" differs" if len(changed) == 1 else " differ")
