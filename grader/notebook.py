"""Notebook submissions: a Jupyter notebook's code cells become the student's module.

`notebook_code()` turns an .ipynb into one Python module (autograder test cells left out, IPython
magics and shell lines dropped, `from __future__` imports moved to the top). `submission_folder()`
gives the graders a folder for any submission: a folder of .py files as it is, or a notebook (or a
folder holding one) written out as the assignment's modules, every module name importing the same
code. So `course check --path hw1.ipynb`, `course grade` over notebooks and nbgrader's test cells
(`grade_task`) all run the same isolated graders on the same code.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from grader.config import Assignment
from grader.errors import CourseError

FUTURE = re.compile(r"^from\s+__future__\s+import\s+.+$")
MAGIC = re.compile(r"^(?P<indent>\s*)[%!]")


def read_notebook(path: Path) -> dict:
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CourseError(f"{path}: cannot read the notebook ({exc})") from None
    except ValueError as exc:
        raise CourseError(f"{path}: not a notebook (invalid JSON: {exc})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise CourseError(f"{path}: not a notebook (no list of cells)")
    return nb


def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def is_test_cell(cell: dict) -> bool:
    """An autograder test cell in nbgrader's metadata: graded, and not an answer."""
    meta = (cell.get("metadata") or {}).get("nbgrader") or {}
    return bool(meta.get("grade")) and not meta.get("solution")


def read_only_cells(course, assignment: Assignment) -> dict[str, str]:
    """The read-only code cells of the assignment's generated notebook, by grade_id; empty where
    the solutions (and so the generated notebook) are not here."""
    from grader.nbcourse import build_notebook

    try:
        nb = build_notebook(course, assignment)
    except (CourseError, OSError):
        return {}
    return {
        c["metadata"]["nbgrader"]["grade_id"]: c["source"]
        for c in nb["cells"]
        if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("locked")
    }


def notebook_code(path: Path, read_only: dict[str, str] | None = None) -> str:
    """The module a notebook's code cells make, in order, each after a `# %% cell N` line.

    A cell whose grade_id is in `read_only` counts with that source, whatever the notebook holds
    there (as nbgrader's autograde restores locked cells). A cell with a syntax error costs only
    what it defines, as in Jupyter: its functions and classes are stand-ins that raise the error."""
    return notebook_module(path, read_only)[0]


def notebook_module(path: Path, read_only: dict[str, str] | None = None) -> tuple[str, dict[int, tuple[int, int]]]:
    """`notebook_code`, and where each of its lines comes from: {module line: (cell number, line
    in that cell)}, both counted from 1 as Jupyter shows them; line 0 for a line the cell did not
    hold as such (its `# %% cell N` line, a syntax error's stand-ins)."""
    futures: list[tuple[str, tuple[int, int]]] = []
    body: list[tuple[str, tuple[int, int]]] = []
    for n, cell in enumerate(read_notebook(path)["cells"], 1):
        if cell.get("cell_type") != "code" or is_test_cell(cell):
            continue
        grade_id = ((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id")
        source = (read_only or {}).get(grade_id) if isinstance(grade_id, str) else None
        lines = list(enumerate((source if source is not None else cell_source(cell)).splitlines(), 1))
        if lines and lines[0][1].startswith("%%"):
            lines = lines[1:]  # a cell magic (%%time, %%capture): run its body as plain Python
        code: list[tuple[str, tuple[int, int]]] = []
        for k, line in lines:
            if FUTURE.match(line):
                futures.append((line, (n, k)))
            elif m := MAGIC.match(line):
                code.append((f"{m['indent']}pass  # IPython line dropped: {line.strip()}", (n, k)))
            else:
                code.append((line, (n, k)))
        broken = stand_ins([line for line, _ in code], n)
        body += [(f"# %% cell {n}", (n, 0)), *(((line, (n, 0)) for line in broken) if broken else code), ("", (n, 0))]
    first: dict[str, tuple[int, int]] = {}
    for line, at in futures:
        first.setdefault(line, at)  # each future import once, where it first was
    out = [*first.items(), *body]
    return "\n".join(line for line, _ in out) + "\n", {i: at for i, (_, at) in enumerate(out, 1)}


# The line map of the notebook being graded in this context (set by `submission_folder`), so that
# an error the worker reports at "<module>.py:LINE" is shown at the cell and line the student sees.
_CELLS: ContextVar[tuple[str, dict[int, tuple[int, int]]] | None] = ContextVar("notebook_cells", default=None)


def cell_place(where: str) -> str | None:
    """The place `cell N, line L` (or `cell N`) for a `where` like "information.py:42" in the module the
    notebook being graded was written out as; None for any other file, or when none is."""
    current = _CELLS.get()
    name, _, line = where.rpartition(":")
    if current is None or name != current[0] or not line.isdigit() or int(line) not in current[1]:
        return None
    n, k = current[1][int(line)]
    return f"cell {n}, line {k}" if k else f"cell {n}"


DEFINES = re.compile(r"^(?:async\s+)?(def|class)\s+([A-Za-z_]\w*)")


def stand_ins(code: list[str], n: int) -> list[str] | None:
    """For a cell that does not compile: each top-level function or class it defines, as one that
    raises its SyntaxError when used. None when the cell compiles."""
    try:
        compile("\n".join(code) + "\n", f"cell {n}", "exec", dont_inherit=True)
        return None
    except SyntaxError as exc:
        error = f"cell {n}, line {exc.lineno}: {exc.msg}"
    out = [f"# cell {n} does not compile ({error}); what it defines raises that error when used"]
    for kind, name in (m.groups() for line in code if (m := DEFINES.match(line))):
        why = repr(f"{error} (so {name} could not be defined)")
        if kind == "class":
            out += [f"class {name}:", "    def __init__(self, *args, **kwargs):", f"        raise SyntaxError({why})"]
        else:
            out += [f"def {name}(*args, **kwargs):", f"    raise SyntaxError({why})"]
    return out


def find_notebook(path: Path, assignment: Assignment) -> Path | None:
    """The notebook a submission path stands for, or None when it is a folder of .py files.

    A file ending in .ipynb is itself; a folder with none of the assignment's modules but a
    notebook (`<id>.ipynb`, `<folder>/<id>.ipynb` as nbgrader's submitted/ holds it, or its only
    .ipynb) stands for that notebook."""
    path = Path(path)
    if path.is_file():
        if path.suffix != ".ipynb":
            raise CourseError(f"{path}: give a folder of .py files or a .ipynb notebook")
        return path
    if not path.is_dir() or any((path / f"{m}.py").is_file() for m in assignment.modules):
        return None
    return notebook_in(path, assignment.id, path / assignment.folder / f"{assignment.id}.ipynb")


def notebook_in(folder: Path, assignment_id: str, *also: Path) -> Path | None:
    """`<id>.ipynb` in `folder`, else the first of `also` that exists, else the folder's only notebook."""
    for candidate in (folder / f"{assignment_id}.ipynb", *also):
        if candidate.is_file():
            return candidate
    found = [p for p in folder.glob("*.ipynb") if not p.name.startswith(".")]
    return found[0] if len(found) == 1 else None


def write_modules(code: str, assignment: Assignment, folder: Path) -> None:
    """The notebook's code as the first module; every other module name is the same module."""
    first, *others = assignment.modules
    (folder / f"{first}.py").write_text(code, encoding="utf-8")
    for name in others:
        (folder / f"{name}.py").write_text(
            f"# {name} is the notebook's code too: one namespace, as in the notebook\n"
            f"import sys\nimport {first}\n\nsys.modules[__name__] = {first}\n",
            encoding="utf-8",
        )


def own_files_only(path: Path, assignment: Assignment) -> None:
    """Refuse a submission that is, or whose modules or notebooks are, a symbolic link or not a
    regular file: a link could point at another student's work or the instructor's, and a named
    pipe would block the reader. Checked before anything is opened or resolved."""

    def refuse(p: Path, why: str):
        raise CourseError(f"{p.name}: {why}; a submission must hold its own files, not links to others")

    if path.is_symlink():
        refuse(path, "is a symbolic link")
    if not path.is_dir():
        if not path.is_file():
            refuse(path, "is not a regular file")
        return
    names = [f"{m}.py" for m in assignment.modules] + list(assignment.artifacts)
    candidates = [path / n for n in names] + [p for p in path.glob("*.ipynb")] + [path / assignment.folder]
    candidates += list((path / assignment.folder).glob("*.ipynb")) if (path / assignment.folder).is_dir() else []
    for p in candidates:
        if p.is_symlink():
            refuse(p, "is a symbolic link")
        if p.exists() and p.name != assignment.folder and not p.is_file():
            refuse(p, "is not a regular file")


@contextmanager
def submission_folder(path: Path, course, assignment: Assignment):
    """A folder of modules for the graders: `path` itself, or a notebook written out as modules
    (its read-only cells as generated, where the solutions are here to generate them). While a
    notebook's folder is in use, errors in its code are placed by cell and line (`cell_place`)."""
    own_files_only(Path(path), assignment)
    notebook = find_notebook(path, assignment)
    if notebook is None:
        yield Path(path)
        return
    code, lines = notebook_module(notebook, read_only_cells(course, assignment))
    with tempfile.TemporaryDirectory(prefix="course-notebook-") as tmp:
        write_modules(code, assignment, Path(tmp))
        for name in assignment.artifacts:  # the trained model beside the notebook goes with it
            if (notebook.parent / name).is_file():
                shutil.copyfile(notebook.parent / name, Path(tmp) / name)
        token = _CELLS.set((f"{assignment.modules[0]}.py", lines))
        try:
            yield Path(tmp)
        finally:
            _CELLS.reset(token)
