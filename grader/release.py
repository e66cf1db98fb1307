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
import json
import re
import shutil
import subprocess
import time
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
    """The student's version of every file of one assignment, by relative path; the reference's
    artifacts (its trained model) are not the student's."""
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
        if rel in assignment.artifacts:
            continue
        pipeline = steps.get(path.suffix)
        if pipeline is None:
            out[rel] = path.read_bytes()
            continue
        text = path.read_text(encoding="utf-8")
        for step in pipeline:
            text = step(text, f"solutions/{assignment.folder}/{rel}")
        out[rel] = text
    return out


def generated_files(course: Course) -> dict[str, bytes]:
    """What a release writes in assignments/, by path from the course root, for every built assignment."""
    out = {}
    for a in course.assignments:
        if a.built:
            for rel, content in student_files(course, a).items():
                out[f"assignments/{a.folder}/{rel}"] = content.encode("utf-8") if isinstance(content, str) else content
    return out


def _present(course: Course) -> set[str]:
    """The files now in the built assignments' folders, by path from the course root."""
    found = set()
    for a in course.assignments:
        target = course.root / "assignments" / a.folder
        if a.built and target.is_dir():
            found |= {
                p.relative_to(course.root).as_posix() for p in target.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            }
    return found


def release_assignments(course: Course, check: bool = False, force: bool = False) -> list[str]:
    """Write assignments/ from solutions/; with `check`, write nothing and return what differs.
    Writing refuses (ReleaseRefused) to replace a file the student edited, unless `force`."""
    if not check:
        return write_release(course, force=force).changed
    files = generated_files(course)
    differences = [path for path, data in files.items() if _read(course.root / path) != data]
    differences += [f"{path} (not generated)" for path in sorted(_present(course) - set(files))]
    return differences


# -- a student's edits in assignments/ -------------------------------------------------------

MAX_NAMED = 5  # edited files a refusal names, one line each


class ReleaseRefused(CourseError):
    """`course release` would replace files the student edited; `edited` names them."""

    def __init__(self, edited: list[str]):
        self.edited = edited
        lines = [f"{path}: edited since the last release" for path in edited[:MAX_NAMED]]
        if len(edited) > MAX_NAMED:
            lines.append(f"... and {len(edited) - MAX_NAMED} more")
        lines.append(
            "course release would overwrite these edits: `course release --force` replaces them and keeps a copy "
            "of each in .course/backup/, `course release --out DIR` writes the release elsewhere"
        )
        super().__init__("\n".join(lines))


@dataclass
class Released:
    """What `write_release` did, by path from the course root."""

    changed: list[str]  # written: new, or different from what was there
    kept: list[str]  # in assignments/ but not generated: left as they are
    removed: list[str]  # generated by the previous release, unchanged since, and no longer generated
    backup: Path | None  # where `force` kept a copy of each edited file it replaced


def record_file(root: Path) -> Path:
    """What the last release generated (path -> sha256), beside the learner's progress."""
    from grader.paths import workspace_state

    return workspace_state(root).parent / "release.json"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _previous_release(root: Path) -> dict[str, str] | None:
    """path -> sha256 of what the last release generated; None when no release has been recorded."""
    try:
        files = json.loads(record_file(root).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return files if isinstance(files, dict) else None


def _committed(root: Path) -> dict[str, str] | None:
    """path -> git blob id of assignments/ as committed (HEAD), by one `git ls-tree`; None outside a
    git work tree (or without git, or before the first commit)."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "ls-tree", "-r", "-z", "HEAD", "--", "assignments"],
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    blobs = {}
    for entry in proc.stdout.decode("utf-8", "surrogateescape").split("\0"):
        meta, _, path = entry.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == "blob":
            blobs[path] = parts[2]
    return blobs


def _blob_id(data: bytes, like: str) -> str:
    """The git object id of `data` as a blob, in the hash the repository uses (`like` is one of its ids)."""
    algorithm = hashlib.sha256 if len(like) == 64 else hashlib.sha1
    return algorithm(b"blob %d\0" % len(data) + data).hexdigest()


def edited_files(course: Course, files: dict[str, bytes]) -> list[str]:
    """The files of assignments/ that a release of `files` would replace and that the student edited:
    they differ from what the previous release generated (.course/release.json); with no record of one,
    from what is committed (git HEAD), and outside git, from what this release generates."""
    replaced = {}
    for path, data in files.items():
        current = _read(course.root / path)
        if current is not None and current != data:
            replaced[path] = current
    if not replaced:
        return []
    previous = _previous_release(course.root)
    if previous is not None:
        return [path for path, current in replaced.items() if previous.get(path) != _sha256(current)]
    committed = _committed(course.root)
    if committed is not None:
        return [
            path
            for path, current in replaced.items()
            if path not in committed or committed[path] != _blob_id(current, committed[path])
        ]
    return list(replaced)


def _backup_folder(root: Path) -> Path:
    base = record_file(root).parent / "backup" / time.strftime("%Y%m%d-%H%M%S")
    folder, n = base, 1
    while folder.exists():
        folder, n = base.with_name(f"{base.name}-{n}"), n + 1
    return folder


def write_release(course: Course, force: bool = False) -> Released:
    """Write assignments/ from solutions/ and record what was written. A file the student edited is
    not replaced (ReleaseRefused names them, and nothing is written) unless `force`, which first keeps a
    copy of each under .course/backup/<time>/. A file the release does not generate is never deleted,
    save one the previous release generated that is still as it was generated."""
    files = generated_files(course)
    edited = edited_files(course, files)
    if edited and not force:
        raise ReleaseRefused(edited)
    backup = None
    if edited:
        backup = _backup_folder(course.root)
        for path in edited:
            (backup / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(course.root / path, backup / path)
    previous = _previous_release(course.root) or {}
    changed, kept, removed = [], [], []
    for path, data in files.items():
        target = course.root / path
        if _read(target) == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        changed.append(path)
    for path in sorted(_present(course) - set(files)):
        there = _read(course.root / path)
        if there is not None and previous.get(path) == _sha256(there):
            (course.root / path).unlink()
            removed.append(path)
        else:
            kept.append(path)
    from grader.results import write_json

    write_json(record_file(course.root), {"files": {path: _sha256(data) for path, data in files.items()}})
    return Released(changed, kept, removed, backup)


# -- the student distribution -----------------------------------------------------------------

DISTRIBUTED = ("course.yaml", "pyproject.toml", ".gitignore", "datasets", "grader")
STUDENT_README = Path(__file__).resolve().parent / "templates" / "student_README.md"


def _ignore(folder: str, names: list[str]) -> set[str]:
    skip = {n for n in names if n in ("__pycache__", ".pytest_cache", "heldout") or n.endswith(".egg-info")}
    if Path(folder).parent.name == "suites" or Path(folder).parent.parent.name == "suites":
        skip |= {n for n in names if n == "hidden"}
    return skip


def student_readme(course: Course) -> str:
    """The student's README.md: set-up, the commands, the assignments, how grading works, time limits."""
    built = [a for a in course.assignments if a.built]
    if not built:
        raise ReleaseError("course.yaml: no assignment is built yet; there is nothing to release")
    first = built[0]
    planned = len(course.assignments) - len(built)
    rows = [
        f"| {n} | {a.id} | {a.title} | {a.points:g} | {a.estimate_hours:g} | `assignments/{a.folder}/README.md` |"
        for n, a in enumerate(built, 1)
    ]
    assignments = "| # | id | title | points | hours | handout |\n|---|---|---|---|---|---|\n" + "\n".join(rows)
    if planned:
        assignments += f"\n\n{planned} more {'is' if planned == 1 else 'are'} planned; `course syllabus` lists them."
    tasks = "| assignment | task | title | points |\n|---|---|---|---|\n" + "\n".join(
        f"| {a.id} | {t.id} | {t.title} | {t.points:g} |" for a in built for t in a.tasks
    )
    limits = (
        "| assignment | seconds per test | memory (address space) | seconds for the whole check |\n|---|---|---|---|\n"
        + "\n".join(f"| {a.id} | {a.limits.wall_s:g} | {a.limits.memory_mb} MB | {a.limits.grader_s:g} |" for a in built)
    )
    fields = {
        "title": course.title,
        "first": first.id,
        "first_folder": first.folder,
        "first_module": first.modules[0],
        "first_task": first.tasks[0].id if first.tasks else "1.1",
        "assignments": assignments,
        "tasks": tasks,
        "limits": limits,
    }
    text = STUDENT_README.read_text(encoding="utf-8")
    for key, value in fields.items():
        text = text.replace(f"{{{{{key}}}}}", value)
    return text


def release_student(course: Course, out: Path) -> list[str]:
    """Write the student distribution to `out` (no solutions/, no hidden suites); return leaks found.
    Its assignments/ is generated from solutions/ (whatever the course root's assignments/ holds now),
    its README.md is the student's (set-up and commands that work in the distribution), and its
    grader/ is the course root's own or, for a root without one, the package that grades it."""
    from grader.paths import PACKAGE

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise CourseError(f"{out}: exists and is not empty")
    files = generated_files(course)
    readme = student_readme(course)
    out.mkdir(parents=True, exist_ok=True)
    for name in DISTRIBUTED:
        src = course.root / name
        if name == "grader" and not src.is_dir():
            src = PACKAGE
        if src.is_dir():
            shutil.copytree(src, out / name, ignore=_ignore)
        elif src.is_file():
            shutil.copy2(src, out / name)
    for path, data in files.items():
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_bytes(data)
    (out / "README.md").write_text(readme, encoding="utf-8")
    return scan_for_leaks(course, out)


def _windows(lines, size: int = 3) -> set[tuple[str, ...]]:
    """Runs of `size` consecutive code lines (stripped; blank lines and comments skipped)."""
    code = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    return {tuple(code[i : i + size]) for i in range(len(code) - size + 1)}


def _held_out(course: Course) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """What must not ship, as data: sha256 -> name for every held-out and solution file, and
    (name, snippet) pairs sampled from the held-out texts, to find one pasted into another file."""
    digests, snippets = {}, []
    heldout = (course.root / "datasets").glob("*/heldout/*")  # the released course's, wherever the command runs
    files = sorted(p for p in heldout if p.is_file() and p.name != "SHA256SUMS") + [
        p for a in course.assignments if a.built for p in (course.root / "solutions" / a.folder).rglob("*") if p.is_file()
    ]
    for path in files:
        data = path.read_bytes()
        name = path.relative_to(course.root).as_posix()
        digests[_sha256(data)] = name
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
    generated = set(generated_files(course))
    leaks = []
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if path.is_dir() and (path.name in ("hidden", "heldout") or rel == "solutions"):
            leaks.append(f"{rel}/: must not be distributed")
            continue
        if not path.is_file():
            continue
        data = path.read_bytes()
        same = digests.get(_sha256(data))
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
