"""`course merge`: one class's outputs, graded in shards (`course grade --shard K/N`, one per task of a
cluster job), combined into one folder, as one `course grade` over the whole class writes it.

Each student's reports are copied as they are (result.json, results.json, feedback.txt and the
.done stamp), and the class reports are written by the function a single run uses
(`grader.batch.write_class_reports`), over the students in the same order: the merged grades.csv is
byte for byte the single run's.

Everything is checked before anything is written. Refused, with one line: a folder that is not an
output of `course grade` (no valid class.json), folders of different assignments, course versions or
numbers of shards, a student not finished in its folder or graded differently in two, and an --out
that is one of the folders. A shard of N that no folder holds is named, and the rest is merged.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch import DONE, LOCK, class_lock, finished, student_dir, write_class_reports
from grader.config import Course
from grader.errors import CourseError
from grader.manifest import MANIFEST, Manifest, course_version, read_manifest, version_difference
from grader.results import RunResult, printable, writing

REPORTS = ("result.json", "results.json", "feedback.txt")  # a student's reports, with DONE stamping them


@dataclass
class MergeSummary:
    assignment: str
    students: list[str] = field(default_factory=list)
    shards: list[int] = field(default_factory=list)  # the shards merged, of `of`
    of: int = 1
    missing: list[int] = field(default_factory=list)  # shards of `of` that no folder held


def merge(course: Course, folders: list[Path], out: Path) -> MergeSummary:
    """Merge the `course grade` outputs in `folders` into `out`; see the module docstring."""
    folders = list({f.resolve(): Path(f) for f in folders}.values())  # a folder named twice counts once
    if not folders:
        raise CourseError("no folders to merge")
    out = Path(out)
    if any(f.resolve() == out.resolve() for f in folders):
        raise CourseError(f"{out}: is one of the folders to merge; merge into another --out")
    manifests = [(f, read_manifest(f)) for f in folders]
    a = course.built(_agree(manifests, course))
    sources = _students(manifests)
    _check_out(out, a.id, manifests[0][1].course_version)
    of = manifests[0][1].of
    shards = sorted({k for _, m in manifests for k in m.shards})
    names = sorted(sources)  # the order of `students()`: folder names of one parent, sorted
    merged = Manifest(a.id, manifests[0][1].course_version, shards, of, names, written_by="course merge")
    with class_lock(out):
        merged.write(out)
        for name in names:
            _copy_student(sources[name], student_dir(out, name))
        write_class_reports(a, names, out)
    return MergeSummary(a.id, names, shards, of, [k for k in range(1, of + 1) if k not in shards])


def _agree(manifests: list[tuple[Path, Manifest]], course: Course) -> str:
    """The assignment every folder holds, once they agree on it, on the course version (and this
    course's) and on the number of shards."""
    first, m0 = manifests[0]
    for folder, m in manifests[1:]:
        if m.assignment != m0.assignment:
            raise CourseError(f"{first} holds {m0.assignment} but {folder} holds {m.assignment}: merge one assignment's folders")
        if m.course_version != m0.course_version:
            change = version_difference(m0.course_version, m.course_version)
            raise CourseError(
                f"{first} and {folder} were graded with different versions of the course ({change}): grade every shard with one"
            )
        if m.of != m0.of:
            raise CourseError(f"{first} holds shards of {m0.of} but {folder} shards of {m.of}: merge the shards of one split")
    here = course_version(course, course.built(m0.assignment))
    if here != m0.course_version:
        change = version_difference(m0.course_version, here)
        raise CourseError(f"{first} was graded with another version of the course than this one ({change}): merge with that one")
    return m0.assignment


def _students(manifests: list[tuple[Path, Manifest]]) -> dict[str, Path]:
    """name -> the student's folder to copy: every student of every folder, finished, and graded
    alike where two folders hold them."""
    for folder, _ in manifests:
        _not_being_graded(folder)
    sources: dict[str, Path] = {}
    for folder, m in manifests:
        for name in m.students:
            here = student_dir(folder, name)
            if not finished(here):
                raise CourseError(f"{here}: not finished (its `course grade` stopped early); run it again, then merge")
            if name not in sources:
                sources[name] = here
            elif _verdict(sources[name]) != _verdict(here):
                raise CourseError(
                    f"{printable(name, 200)}: graded differently in {sources[name]} and {here}; grade both again with --force, or merge one"
                )
    return sources


def _not_being_graded(folder: Path) -> None:
    """Refuse a folder a `course grade` is still writing (its lock is held)."""
    try:
        fd = os.open(folder / LOCK, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        raise CourseError(
            f"{folder}: a `course grade` (pid {holder}) is still writing there; merge when it has finished"
        ) from None
    finally:
        os.close(fd)


def _verdict(folder: Path) -> tuple:
    """What a student was given: the score, each test's outcome and points, each task's points (not
    the timings, nor feedback that may quote them)."""
    try:
        r = RunResult.from_dict(json.loads((folder / "result.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise CourseError(f"{folder / 'result.json'}: not a result ({printable(exc, 200)})") from None
    tests = [(t.nodeid, t.passed, t.points, t.cause) for t in r.tests]
    return r.score, tests, [(t.id, t.points) for t in r.tasks]


def _check_out(out: Path, assignment: str, version: dict[str, str]) -> None:
    """An --out that already holds grades must hold this assignment's, made with this version."""
    if not (out / MANIFEST).exists():
        return
    earlier = read_manifest(out)
    if earlier.assignment != assignment:
        raise CourseError(f"{out}: holds the grades of {earlier.assignment}; merge {assignment} into another --out")
    if earlier.course_version != version:
        change = version_difference(earlier.course_version, version)
        raise CourseError(f"{out}: holds grades made with another version of the course ({change}); merge into another --out")


def _copy_student(source: Path, dest: Path) -> None:
    """A student's reports, byte for byte, each through a temporary file and a rename, the stamp
    last (as `grader.batch.save_student` writes them)."""
    with writing(dest):
        dest.mkdir(parents=True, exist_ok=True)
        (dest / DONE).unlink(missing_ok=True)
        for name in (*REPORTS, DONE):
            tmp = dest / f".{name}.merge.tmp"
            shutil.copyfile(source / name, tmp)
            os.replace(tmp, dest / name)
