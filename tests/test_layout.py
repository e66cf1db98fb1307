"""The shape of the code: the trust boundary is visible in the layout, and imports go one way.

- `grader/worker/` is what runs beside student code. It imports the standard library, numpy,
  torch and itself, nothing of the grading side; a worker process, started for real, holds no
  grading-side module, no suite and no solution.
- The grading side has no import cycles: a module imports only modules that do not import it back.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from grader import paths
from grader.config import load_course
from grader.remote import Submission
from tests.conftest import ISOLATIONS, ROOT

WORKER = paths.PACKAGE / "worker"
OUTSIDE_LIBRARIES = {"numpy", "torch"}  # all a worker-side module may import beyond the standard library


def imported_names(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in a file, function-level ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names if node.module == "grader"]
    return found


def test_worker_side_code_imports_nothing_from_the_grading_side():
    stdlib = set(sys.stdlib_module_names)
    bad = []
    for path in sorted(WORKER.rglob("*.py")):
        for line, name in imported_names(path):
            top = name.split(".")[0]
            if top == "grader":
                if not (name == "grader.worker" or name.startswith("grader.worker.")):
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
            elif top not in stdlib and top not in OUTSIDE_LIBRARIES and top != "pyseccomp":
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, "worker-side code reaches outside grader.worker: " + "; ".join(bad)


def test_the_layout_check_sees_a_grading_side_import(tmp_path):
    """The check above can fail: a file importing grader.runner is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from grader import runner\n    import grader.config\n")
    names = [n for _, n in imported_names(bad)]
    assert "grader.runner" in names and "grader.config" in names


PROBE = """
import sys

def loaded():
    return sorted(m for m in sys.modules if m == "grader" or m.startswith("grader."))

def files_seen():
    import os
    return sorted(os.path.basename(f) for f in (getattr(m, "__file__", None) or "" for m in list(sys.modules.values()))
                  if "/suites/" in f or "/solutions/" in f)
"""


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_worker_holds_no_grading_side_module_suite_or_solution(tmp_path, isolation):
    """For every built assignment: after its drivers are loaded, a worker process has imported
    grader.worker's modules (and its drivers) and nothing else of the package."""
    course = load_course(ROOT)
    for a in course.assignments:
        if not a.built:
            continue
        folder = tmp_path / a.id
        folder.mkdir()
        (folder / f"{a.modules[0]}.py").write_text(PROBE)
        sub = Submission.of(a, folder, isolation)
        try:
            sub.begin_test("layout", 0)
            probe = sub.module(a.modules[0])
            loaded = probe.loaded()
            outside = [m for m in loaded if m != "grader" and not m.startswith("grader.worker")]
            assert not outside, f"{a.id}: the worker imported {outside}"
            assert "grader.worker.server" in loaded
            assert (f"grader.worker.drivers.{a.id}" in loaded) == paths.drivers_file(a).exists()
            assert probe.files_seen() == []
        finally:
            sub.close()


def _grading_imports() -> dict[str, set[str]]:
    """grader.X -> the grader modules it imports (at any level), for the grading side's modules."""
    graph: dict[str, set[str]] = {}
    modules = {p.stem for p in paths.PACKAGE.glob("*.py")}
    for path in paths.PACKAGE.glob("*.py"):
        edges = set()
        for _, name in imported_names(path):
            parts = name.split(".")
            if parts[0] == "grader" and len(parts) > 1 and parts[1] in modules:
                edges.add(parts[1])
        graph[path.stem] = edges - {path.stem}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle's members (strongly connected components with more than one module)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                out.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_grading_side_has_no_import_cycles():
    found = cycles(_grading_imports())
    assert not found, "import cycles among grader modules: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"runner": {"notebook"}, "notebook": {"nbgrade"}, "nbgrade": {"runner"}, "cli": {"runner"}}) == [
        ["nbgrade", "notebook", "runner"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_drivers_in_parts_are_one_module_in_name_order(tmp_path):
    """An assignment's drivers may be a folder of parts (grader/worker/drivers/<id>/*.py): the worker
    gets them joined in name order, one namespace, as it gets a single file."""
    course = load_course(ROOT)
    capstone = course.assignment("capstone")
    parts = sorted(paths.drivers_file(capstone).glob("*.py"))
    assert paths.drivers_file(capstone).is_dir() and parts[0].name == "00_common.py"
    source = paths.drivers_source(capstone)
    assert source.index("class CourseGPT") < source.index("def artifact_run") < source.index("def train_run")
    namespace: dict = {}
    exec(compile(source, "<capstone drivers>", "exec"), namespace)  # the parts' names meet in one module
    assert callable(namespace["artifact_run"]) and namespace["CourseGPT"].__name__ == "CourseGPT"
