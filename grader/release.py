"""Generate what students get from `solutions/`, the one source of truth.

`release_assignments()` rewrites `assignments/` (or checks it is up to date); `release_student()`
writes a whole student distribution and scans it for leaks. Both run a pipeline of small steps:

    StripSolutions     solution blocks -> `raise NotImplementedError("Task N.M: ...")`, hints kept
    FillTaskHeadings   `{{task N.M}}` and `{{tasks}}` in a handout -> titles and points from course.yaml
    (other files are copied as they are)

A solution block, inside a function:

        ### BEGIN SOLUTION 1.1
        # HINT: a line the student keeps
        ...reference code...
        ### END SOLUTION
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grader.config import Assignment, Course
from grader.errors import CourseError

BEGIN = re.compile(r"^(?P<indent>\s*)### BEGIN SOLUTION (?P<task>\d+\.\d+)\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")
DEF = re.compile(r"^(?P<indent>\s*)(?:async\s+)?def\s+(?P<name>\w+)")
HINT = re.compile(r"^\s*# HINT:")
TASK_HEADING = re.compile(r"\{\{task (\d+\.\d+)\}\}")


class ReleaseError(CourseError):
    """A solution file or handout cannot be turned into its student version."""


@dataclass
class Block:
    task: str
    function: str
    start: int  # line index of BEGIN
    end: int  # line index of END
    body: list[str]


def solution_blocks(text: str, filename: str) -> list[Block]:
    lines = text.splitlines()
    blocks, open_at = [], None
    for i, line in enumerate(lines):
        if BEGIN.match(line):
            if open_at is not None:
                raise ReleaseError(f"{filename}:{i + 1}: BEGIN SOLUTION inside the block opened at line {open_at + 1}")
            open_at = i
        elif END.match(line):
            if open_at is None:
                raise ReleaseError(f"{filename}:{i + 1}: END SOLUTION without a BEGIN SOLUTION")
            m = BEGIN.match(lines[open_at])
            assert m is not None, "open_at is only set on a BEGIN line"
            function = _enclosing_function(lines, open_at, len(m["indent"]))
            if function is None:
                raise ReleaseError(f"{filename}:{open_at + 1}: a solution block must be inside a function")
            blocks.append(Block(m["task"], function, open_at, i, lines[open_at + 1 : i]))
            open_at = None
        elif "BEGIN SOLUTION" in line or "END SOLUTION" in line:
            raise ReleaseError(f"{filename}:{i + 1}: malformed marker (write '### BEGIN SOLUTION N.M' or '### END SOLUTION')")
    if open_at is not None:
        raise ReleaseError(f"{filename}:{open_at + 1}: BEGIN SOLUTION has no END SOLUTION")
    return blocks


def _enclosing_function(lines: list[str], at: int, indent: int) -> str | None:
    for line in reversed(lines[:at]):
        m = DEF.match(line)
        if m and len(m["indent"]) < indent:
            return m["name"]
    return None


class StripSolutions:
    """Replace each solution block with its hints and a NotImplementedError naming the task."""

    def __init__(self, assignment: Assignment):
        self.tasks = {t.id for t in assignment.tasks}

    def __call__(self, text: str, filename: str) -> str:
        lines = text.splitlines()
        out, last = [], 0
        for b in solution_blocks(text, filename):
            if b.task not in self.tasks:
                raise ReleaseError(f"{filename}:{b.start + 1}: task {b.task} is not in course.yaml")
            m = BEGIN.match(lines[b.start])
            assert m is not None, "a block starts on its BEGIN line"
            indent = m["indent"]
            out += lines[last : b.start]
            out += [line for line in b.body if HINT.match(line)]
            out.append(f'{indent}raise NotImplementedError("Task {b.task}: {b.function} is not implemented yet")')
            last = b.end + 1
        out += lines[last:]
        return "\n".join(out) + "\n"


class FillTaskHeadings:
    """`{{task N.M}}` -> `Task N.M: Title (P points)`; `{{tasks}}` -> the task table."""

    def __init__(self, assignment: Assignment):
        self.assignment = assignment

    def __call__(self, text: str, filename: str) -> str:
        a = self.assignment

        def heading(m: re.Match) -> str:
            try:
                t = a.task(m.group(1))
            except KeyError as exc:
                raise ReleaseError(f"{filename}: {exc.args[0]}") from None
            return f"Task {t.id}: {t.title} ({t.points:g} points)"

        rows = "\n".join(f"| {t.id} | {t.title} | {t.points:g} |" for t in a.tasks)
        table = f"| task | title | points |\n|---|---|---|\n{rows}\n| | **total** | **{a.points:g}** |"
        return TASK_HEADING.sub(heading, text.replace("{{tasks}}", table))


def student_files(course: Course, assignment: Assignment) -> dict[str, str | bytes]:
    """The student's version of every file of one assignment, by relative path."""
    src = course.root / "solutions" / assignment.folder
    if not src.is_dir():
        raise ReleaseError(f"{src}: missing; a built assignment needs its solutions folder")
    steps: dict[str, list[Callable[[str, str], str]]] = {
        ".py": [StripSolutions(assignment)],
        ".md": [FillTaskHeadings(assignment)],
    }
    out: dict[str, str | bytes] = {}
    for path in sorted(src.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(src).as_posix()
        pipeline = steps.get(path.suffix)
        if pipeline is None:
            out[rel] = path.read_bytes()
            continue
        text = path.read_text(encoding="utf-8")
        for step in pipeline:
            text = step(text, f"solutions/{assignment.folder}/{rel}")
        out[rel] = text
    return out


def release_assignments(course: Course, check: bool = False) -> list[str]:
    """Write assignments/ from solutions/; with `check`, write nothing and return what differs."""
    differences = []
    for a in course.assignments:
        if not a.built:
            continue
        target = course.root / "assignments" / a.folder
        files = student_files(course, a)
        existing = (
            {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
            if target.is_dir()
            else set()
        )
        for rel, content in files.items():
            path = target / rel
            data = content.encode("utf-8") if isinstance(content, str) else content
            if path.is_file() and path.read_bytes() == data:
                continue
            differences.append(f"assignments/{a.folder}/{rel}")
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        for rel in sorted(existing - set(files)):
            differences.append(f"assignments/{a.folder}/{rel} (not generated)")
            if not check:
                (target / rel).unlink()
    return differences


# -- the student distribution -----------------------------------------------------------------

DISTRIBUTED = ("course.yaml", "pyproject.toml", "README.md", ".gitignore", "assignments", "datasets", "grader")


def _ignore(folder: str, names: list[str]) -> set[str]:
    skip = {n for n in names if n in ("__pycache__", ".pytest_cache", "heldout") or n.endswith(".egg-info")}
    if Path(folder).parent.name == "suites" or Path(folder).parent.parent.name == "suites":
        skip |= {n for n in names if n == "hidden"}
    return skip


def release_student(course: Course, out: Path) -> list[str]:
    """Write the student distribution to `out` (no solutions/, no hidden suites); return leaks found."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise CourseError(f"{out}: exists and is not empty")
    if release_assignments(course, check=True):
        raise CourseError("assignments/ is out of date with solutions/; run `course release` first")
    out.mkdir(parents=True, exist_ok=True)
    for name in DISTRIBUTED:
        src = course.root / name
        if src.is_dir():
            shutil.copytree(src, out / name, ignore=_ignore)
        elif src.is_file():
            shutil.copy2(src, out / name)
    return scan_for_leaks(course, out)


def _windows(lines, size: int = 3) -> set[tuple[str, ...]]:
    """Runs of `size` consecutive code lines (stripped; blank lines and comments skipped)."""
    code = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    return {tuple(code[i : i + size]) for i in range(len(code) - size + 1)}


def _held_out(course: Course) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """What must not ship, as data: sha256 -> name for every held-out and solution file, and
    (name, snippet) pairs sampled from the held-out texts, to find one pasted into another file."""
    from grader.data import heldout_files

    digests, snippets = {}, []
    files = heldout_files() + [
        p for a in course.assignments if a.built for p in (course.root / "solutions" / a.folder).rglob("*") if p.is_file()
    ]
    for path in files:
        data = path.read_bytes()
        name = path.relative_to(course.root).as_posix()
        digests[hashlib.sha256(data).hexdigest()] = name
        if "heldout" in path.parts and path.suffix == ".txt":
            text = data.decode("utf-8", "replace")
            snippets += [(name, text[i : i + 200]) for i in range(0, max(1, len(text) - 200), 400)]
    return digests, snippets


def scan_for_leaks(course: Course, out: Path) -> list[str]:
    """Places in `out` that hold solution code (three consecutive lines of a solution block),
    a solution marker, a solutions folder, a hidden suite, a held-out data folder, or the bytes of
    a held-out or solution file (by content hash, whatever the file is called, and for held-out
    text, any 600 characters of it inside another file). Generated stubs and handouts, which
    match their solutions by design, are checked for markers and code, not by hash."""
    fingerprints: set[tuple[str, ...]] = set()
    for a in course.assignments:
        if not a.built:
            continue
        for path in (course.root / "solutions" / a.folder).rglob("*.py"):
            for b in solution_blocks(path.read_text(), str(path)):
                fingerprints |= _windows(b.body)
    digests, snippets = _held_out(course)
    generated = {
        p.relative_to(course.root).as_posix()
        for a in course.assignments
        if a.built
        for p in (course.root / "assignments" / a.folder).rglob("*")
        if p.is_file()
    }
    leaks = []
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if path.is_dir() and (path.name in ("hidden", "heldout") or rel == "solutions"):
            leaks.append(f"{rel}/: must not be distributed")
            continue
        if not path.is_file():
            continue
        data = path.read_bytes()
        same = digests.get(hashlib.sha256(data).hexdigest())
        if same and rel not in generated:
            leaks.append(f"{rel}: holds the bytes of {same}")
        if path.suffix not in (".py", ".md", ".txt", ".json", ".yaml", ".toml", ".ipynb", ".csv"):
            continue
        text = data.decode("utf-8", errors="replace")
        held = next((name for name, snippet in snippets if snippet in text), None)
        if held:
            leaks.append(f"{rel}: contains text of {held}")
        if any(BEGIN.match(line) for line in text.splitlines()) and rel != "grader/release.py":
            leaks.append(f"{rel}: contains a solution marker")
        found = fingerprints & _windows(text.splitlines())
        if found:
            leaks.append(f"{rel}: contains solution code: {next(iter(sorted(found)))[0][:60]}")
    return leaks
