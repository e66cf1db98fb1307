"""`course nbgrader init DIR`: a real nbgrader course directory made from solutions/ and the handouts.

For every built assignment, `source/<id>/<id>.ipynb`:

    markdown   the handout's introduction
    code       the imports of the assignment's modules                      (read-only)
    code       per module with no solution block (given whole), its code    (read-only)
    per task:
      markdown the handout's section for the task
      code     helpers the task's code uses, given                          (read-only)
      code     the task's functions and classes, the reference code between
               `### BEGIN SOLUTION` / `### END SOLUTION`                     (answer cell)
      code     `grade_task(id, task)`                                        (test cell, the task's points)

The test cells run the course's own graders on the saved notebook in isolated workers
(`grader.nbgrade.grade_task`) and end with the task's points, which nbgrader takes as the cell's
partial credit. nbgrader's commands then work unchanged: generate_assignment, autograde, export.

A test cell is the same in the source and the released notebook, so nbgrader's checksum of it
(source, grade_id, points, locked) agrees from generate_assignment to autograde: no "Attribute
'checksum' for cell tests_N_M has changed!" warning unless a student did change a read-only cell.
It holds no `### BEGIN HIDDEN TESTS` block because nbgrader stores a locked cell's checksum before
it strips that block and compares the stripped one at autograde (nbgrader issue #1961), which warned
on every test cell of every notebook. The hidden tests still run at autograde: `grade_task` adds
them while NBGRADER_EXECUTION=autograde, where the hidden suites are installed. To see them on the
source notebook, run `course check ID --solution`, or `grade_task(ID, TASK, hidden=True)` in a cell.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

from grader.config import Assignment, Course
from grader.errors import CourseError
from grader.release import BEGIN, END, HINT, FillTaskHeadings, solution_blocks

SCHEMA_VERSION = 3
HEADER = "# Written by `course nbgrader init` from course.yaml; change course.yaml and run it again."
TASK_SECTION = re.compile(r"^## Task (\d+\.\d+):", re.MULTILINE)
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


@dataclass
class Chunk:
    """One top-level statement of a solution module (with the comments above it)."""

    text: str
    task: str | None  # the task of its first solution block, or the task given code belongs to
    given: bool = False  # no solution block: code the student is given


def is_main_guard(node: ast.stmt) -> bool:
    """`if __name__ == "__main__":`, a script's entry point: in a notebook it would run at once."""
    return isinstance(node, ast.If) and ast.unparse(node.test) in ("__name__ == '__main__'", '__name__ == "__main__"')


def split_module(text: str, filename: str, modules: tuple[str, ...]) -> tuple[list[str], list[Chunk]]:
    """A module's imports, and its other top-level statements as chunks (its entry point left out).
    An import of the assignment's own modules is dropped (one namespace in the notebook), except
    that `import coder` becomes `coder = sys.modules[__name__]`, so `coder.name` reads the
    notebook's own name, in Jupyter and in the modules written from the notebook alike."""
    solution_blocks(text, filename)  # well-formed markers, or a ReleaseError naming the line
    tree = ast.parse(text, filename)
    lines = text.splitlines()
    own = re.compile(
        rf"^\s*(from\s+({'|'.join(map(re.escape, modules))})\s+import\s|import\s+({'|'.join(map(re.escape, modules))})\s*$)"
    )
    starts = [min([n.lineno, *(d.lineno for d in getattr(n, "decorator_list", []))]) - 1 for n in tree.body]
    imports, chunks = [], []
    for i, node in enumerate(tree.body):
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue  # the module docstring: the handout says it
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for line in lines[starts[i] : node.end_lineno]:
                m = own.match(line)
                imports += [line] if not m else ["import sys", f"{m[3]} = sys.modules[__name__]"] if m[3] else []
            continue
        if is_main_guard(node):
            continue
        # from the comments just above the statement to the next statement's own comments
        start = starts[i]
        while start > 0 and lines[start - 1].startswith("#"):
            start -= 1
        end = starts[i + 1] if i + 1 < len(tree.body) else len(lines)
        assert node.end_lineno is not None, "ast.parse sets it on every statement"
        while end > node.end_lineno and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
            end -= 1
        body = [line for line in lines[start:end] if not own.match(line)]
        found = next((m["task"] for line in body if (m := BEGIN.match(line))), None)
        chunks.append(Chunk("\n".join(body).strip("\n"), found))
    return imports, chunks


MENTION = re.compile(r"\bTask (\d+\.\d+)\b")


def assign_given(chunks: list[Chunk], filename: str) -> list[Chunk]:
    """Give each chunk of given code a task: the one it names ("Task N.M"), else the task before
    it in the file, else the task after it (a module with no solution block is given whole, before
    the tasks: build_notebook)."""
    out, previous = [], None
    for i, chunk in enumerate(chunks):
        if chunk.task is not None:
            previous = chunk.task
            out.append(chunk)
            continue
        named = MENTION.search(chunk.text)
        after = next((c.task for c in chunks[i + 1 :] if c.task is not None), None)
        task = named[1] if named else previous or after
        if task is None:
            raise CourseError(f"{filename}: no solution block, so its code belongs to no task")
        out.append(Chunk(chunk.text, task, given=True))
    return out


def nbgrader_markers(text: str) -> str:
    """`### BEGIN SOLUTION N.M` -> nbgrader's `### BEGIN SOLUTION`, the block's hints moved above
    it (nbgrader removes everything between the markers)."""
    out, block = [], None
    for line in text.splitlines():
        m = BEGIN.match(line)
        if m:
            block = [f"{m['indent']}### BEGIN SOLUTION"]
        elif block is not None and END.match(line):
            out += block + [line]
            block = None
        elif block is not None:
            if HINT.match(line):
                out.append(line)
            else:
                block.append(line)
        else:
            out.append(line)
    if block is not None:
        raise CourseError(f"a solution block has no END SOLUTION: {block[0].strip()}")
    return "\n".join(out)


def handout_sections(text: str) -> tuple[str, dict[str, str]]:
    """The rendered handout's introduction, and its section per task (from `## Task N.M:` on)."""
    marks = list(TASK_SECTION.finditer(text))
    intro = text[: marks[0].start()] if marks else text
    sections = {m[1]: text[m.start() : (marks[i + 1].start() if i + 1 < len(marks) else len(text))] for i, m in enumerate(marks)}
    return intro.strip(), {k: v.strip() for k, v in sections.items()}


def cell(
    kind: str,
    source: str,
    cell_id: str,
    nbgrader_cell: bool = True,
    *,
    solution=False,
    grade=False,
    locked=False,
    points: float | None = None,
) -> dict:
    """A cell; an `nbgrader_cell` carries nbgrader's metadata with `cell_id` as their grade_id."""
    c: dict = {"cell_type": kind, "id": cell_id, "metadata": {}, "source": source}
    if nbgrader_cell:
        meta = {
            "grade": grade,
            "grade_id": cell_id,
            "locked": locked,
            "schema_version": SCHEMA_VERSION,
            "solution": solution,
            "task": False,
        }
        if grade:
            meta["points"] = points
        c["metadata"]["nbgrader"] = meta
    if kind == "code":
        c.update(execution_count=None, outputs=[])
    return c


def build_notebook(course: Course, a: Assignment) -> dict:
    """The source notebook of one assignment, as nbformat 4.5 JSON."""
    src = course.root / "solutions" / a.folder
    imports, chunks, whole = [], [], {}
    for module in a.modules:
        path = src / f"{module}.py"
        if not path.is_file():
            raise CourseError(f"{path}: missing; a built assignment needs its solution modules")
        found_imports, found_chunks = split_module(path.read_text(encoding="utf-8"), str(path), tuple(a.modules))
        imports += found_imports
        if found_chunks and all(c.task is None for c in found_chunks):
            whole[module] = found_chunks  # no solution block: the module is given whole
        else:
            chunks += assign_given(found_chunks, str(path))
    future = [line for line in imports if "__future__" in line]
    aliases = [line for line in imports if " = sys.modules[__name__]" in line]  # after every import
    rest = [line for line in imports if "__future__" not in line and line not in aliases]
    imports = list(dict.fromkeys(future + rest + aliases))
    handout = FillTaskHeadings(a)((src / "README.md").read_text(encoding="utf-8"), f"solutions/{a.folder}/README.md")
    intro, sections = handout_sections(handout)
    note = (
        f"*This is {a.id} as a notebook.* Write your code in the answer cells (`YOUR CODE HERE`). Each task "
        "ends with a read-only test cell: it runs the course's graders on this notebook **as saved** "
        f"(save first), in an isolated process, and prints the task's tests and points. "
        f"`course check {a.id} --path {a.id}.ipynb` runs them all from a terminal."
    )
    cells = [
        cell("markdown", f"{intro}\n\n{note}", "intro", nbgrader_cell=False),
        cell("code", "# The imports every answer below may use (read-only).\n" + "\n".join(imports), "setup", locked=True),
    ]
    for module, given in whole.items():
        text = "\n\n\n".join(c.text for c in given)
        cells.append(cell("code", f"# Given: {module}.py, whole (read-only).\n{text}", f"given_{module}", locked=True))
    for task in a.tasks:
        key = task.id.replace(".", "_")
        if task.id in sections:
            cells.append(cell("markdown", sections[task.id], f"handout_{key}", nbgrader_cell=False))
        # the task's code in file order, given and answer cells alternating where they alternate
        runs: list[list[Chunk]] = []
        for chunk in (c for c in chunks if c.task == task.id):
            if runs and runs[-1][0].given == chunk.given:
                runs[-1].append(chunk)
            else:
                runs.append([chunk])
        used: dict[str, int] = {}
        for run in runs:
            kind = "given" if run[0].given else "answer"
            used[kind] = used.get(kind, 0) + 1
            cell_id = f"{kind}_{key}" + (f"_{used[kind]}" if used[kind] > 1 else "")
            if run[0].given:
                cells.append(cell("code", "# Given (read-only).\n" + "\n\n\n".join(c.text for c in run), cell_id, locked=True))
            else:
                cells.append(cell("code", "\n\n\n".join(nbgrader_markers(c.text) for c in run), cell_id, solution=True))
        tests = (  # no hidden-tests block: see the module's docstring (grade_task adds them at autograde)
            f"# Task {task.id} ({task.points:g} points): the course's graders on this notebook as saved.\n"
            "from grader.nbgrade import grade_task\n\n"
            f'grade_task("{a.id}", "{task.id}")'
        )
        cells.append(cell("code", tests, f"tests_{key}", grade=True, locked=True, points=task.points))
    return {
        "cells": cells,
        "metadata": {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def config_text(course: Course) -> str:
    built = [a for a in course.assignments if a.status == "built"]
    grade_s = max(a.limits.grader_s for a in built)
    # an answer cell may run as long as one test may (course.yaml: wall_s), by its task's assignment
    cell_s = {a.tasks[0].id.split(".")[0]: a.limits.wall_s for a in built if a.tasks}
    return f"""{HEADER}
import os

c = get_config()  # noqa: F821 (nbgrader provides it)

c.CourseDirectory.course_id = {course.id!r}

# Seconds a cell may run. A test cell grades the whole notebook (course.yaml: grader_s); an answer
# or given cell only defines code, and gets what one test gets (wall_s) in its assignment.
c.Execute.timeout = {grade_s:g}
ANSWER_CELL_S = {{{", ".join(f"{k!r}: {v:g}" for k, v in cell_s.items())}}}


def cell_timeout(cell):
    meta = cell.get("metadata", {{}}).get("nbgrader", {{}})
    if meta.get("grade"):
        return {grade_s:g}
    parts = str(meta.get("grade_id", "")).split("_")  # answer_1_4: a cell of task 1.4, in hw1's numbering
    return ANSWER_CELL_S.get(parts[1] if len(parts) > 2 else "", {course.limits.wall_s:g})


c.Execute.timeout_func = cell_timeout

# The course the notebooks came from: its graders and datasets.
os.environ.setdefault("COURSE_ROOT", {str(course.root)!r})
"""


def init_course(course: Course, directory: Path) -> list[Path]:
    """Write nbgrader_config.py and source/<id>/<id>.ipynb for every built assignment."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    config = directory / "nbgrader_config.py"
    if config.exists() and not config.read_text(encoding="utf-8").startswith(HEADER):
        raise CourseError(f"{config} exists and was not written by `course nbgrader init`; move it away first")
    config.write_text(config_text(course), encoding="utf-8")
    written.append(config)
    for a in course.assignments:
        if a.status != "built":
            continue
        target = directory / "source" / a.id / f"{a.id}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(build_notebook(course, a), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(target)
    return written
