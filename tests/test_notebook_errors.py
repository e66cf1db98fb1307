"""A notebook's errors are placed where the student sees them: cell N, line L of the notebook, not a
line of the module the notebook is written out as for the graders."""

from __future__ import annotations

import json
from pathlib import Path

from grader.notebook import cell_place, notebook_module, submission_folder
from grader.remote import _student_error
from grader.runner import run_assignment


def code_cell(source: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "source": source, "outputs": [], "execution_count": None}


def write_notebook(path: Path, *cells: dict) -> Path:
    path.write_text(json.dumps({"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


ENTROPY_WITH_A_TYPO = '''\
def entropy(p, base=2.0):
    """Entropy of p."""
    total = 0.0
    return totl  # line 4 of cell 4
'''


def test_the_line_map_gives_each_module_line_its_cell_and_line(tmp_path):
    path = write_notebook(
        tmp_path / "hw1.ipynb",
        {"cell_type": "markdown", "metadata": {}, "source": "# hw1"},
        code_cell("import math\n%matplotlib inline\nx = 1"),
        code_cell("%%time\nfrom __future__ import annotations\ny = x + 1\nz = y"),
    )
    code, lines = notebook_module(path)
    module = code.splitlines()
    assert module[0] == "from __future__ import annotations" and lines[1] == (3, 2)
    for text, (cell, line) in [("import math", (2, 1)), ("x = 1", (2, 3)), ("y = x + 1", (3, 3)), ("z = y", (3, 4))]:
        assert lines[module.index(text) + 1] == (cell, line), text
    assert lines[module.index("# %% cell 3") + 1] == (3, 0)


def test_errors_in_a_notebook_are_placed_by_cell_and_line_and_others_are_not(course, tmp_path):
    path = write_notebook(tmp_path / "hw1.ipynb", code_cell("import math"), code_cell("def f(x)\n    return x"))
    error = {"type": "NameError", "mro": ["NameError", "Exception"], "message": "name 'totl' is not defined"}
    assert str(_student_error({**error, "where": "information.py:7"}, ["information"])).startswith(
        "NameError at information.py:7:"
    )
    with submission_folder(path, course, course.built("hw1")) as folder:
        module = (folder / "information.py").read_text().splitlines()
        at = module.index("import math") + 1
        named = _student_error({**error, "where": f"information.py:{at}"}, ["information"])
        assert str(named) == "NameError at cell 1, line 1: name 'totl' is not defined" and named.where == "cell 1, line 1"
        elsewhere = _student_error({**error, "where": f"huffman.py:{at}"}, ["information", "huffman"])
        assert str(elsewhere).startswith(f"NameError at huffman.py:{at}:")
        # cell 2 does not compile: its stand-in says where, once
        stand_in = module.index("def f(*args, **kwargs):") + 2
        syntax = {"type": "SyntaxError", "mro": ["SyntaxError", "Exception"], "where": f"information.py:{stand_in}"}
        syntax["message"] = "cell 2, line 1: expected ':' (so f could not be defined)"
        assert (
            str(_student_error(syntax, ["information"]))
            == "SyntaxError: cell 2, line 1: expected ':' (so f could not be defined)"
        )
    assert cell_place(f"information.py:{at}") is None  # the notebook is no longer being graded


def test_a_name_error_in_a_notebook_cell_is_reported_at_that_cell_and_line(course, tmp_path):
    path = write_notebook(
        tmp_path / "hw1.ipynb",
        {"cell_type": "markdown", "metadata": {}, "source": "# Information theory"},
        code_cell("import math\nimport numpy as np"),
        {"cell_type": "markdown", "metadata": {}, "source": "## Task 1.1"},
        code_cell(ENTROPY_WITH_A_TYPO),
    )
    result = run_assignment(course, "hw1", path, select="test_fair_coin_has_one_bit")
    (test,) = result.tests
    assert test.cause == "error" and "NameError at cell 4, line 4: name 'totl' is not defined" in test.feedback, test.feedback
    assert "information.py" not in test.feedback


def test_a_folder_of_modules_keeps_its_file_and_line(course, tmp_path):
    folder = tmp_path / "hw1"
    folder.mkdir()
    (folder / "information.py").write_text(ENTROPY_WITH_A_TYPO)
    (folder / "huffman.py").write_text("")
    result = run_assignment(course, "hw1", folder, select="test_fair_coin_has_one_bit")
    (test,) = result.tests
    assert "NameError at information.py:4: name 'totl' is not defined" in test.feedback, test.feedback


def test_running_out_of_memory_is_a_limit_however_it_is_said():
    """Python says MemoryError; torch's CPU allocator raises a RuntimeError that says it in words."""
    torch_says = "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried to allocate 4000000000 bytes."
    for t, message in (("MemoryError", ""), ("RuntimeError", torch_says)):
        err = _student_error({"type": t, "message": message, "where": "compress.py:9"}, ["compress"])
        assert err.cause == "limit" and "memory limit" in str(err), (t, str(err), err.cause)
    other = _student_error({"type": "RuntimeError", "message": "shape mismatch", "where": "compress.py:9"}, ["compress"])
    assert other.cause == "error"
