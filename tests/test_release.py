"""Stubs, handouts and the student distribution are generated from solutions/ and leak nothing."""

import ast
import subprocess
import sys

import pytest

from grader.config import load_course
from grader.release import ReleaseError, StripSolutions, release_assignments, release_student, solution_blocks
from tests.conftest import BUILT, ROOT


def test_committed_assignments_are_what_release_generates(course):
    assert release_assignments(course, check=True) == []


def signatures(source: str) -> dict:
    """Functions and methods (not helpers nested inside a solution) with their arguments,
    return annotations and docstrings."""
    tree = ast.parse(source)
    nodes = [*tree.body, *(n for c in tree.body if isinstance(c, ast.ClassDef) for n in c.body)]
    return {
        node.name: (ast.dump(node.args), ast.dump(node.returns) if node.returns else None, ast.get_docstring(node))
        for node in nodes if isinstance(node, ast.FunctionDef)
    }


# Every module of every built assignment, as course.yaml declares them.
MODULES = [(a.folder, m) for a in load_course(ROOT).assignments if a.built for m in a.modules]


@pytest.mark.parametrize("folder,module", MODULES)
def test_stubs_keep_signatures_hints_and_docstrings(course, folder, module):
    solution = (course.root / "solutions" / folder / f"{module}.py").read_text()
    stub = (course.root / "assignments" / folder / f"{module}.py").read_text()
    assert signatures(stub) == signatures(solution)
    assert "BEGIN SOLUTION" not in stub
    for line in solution.splitlines():
        if line.strip().startswith("# HINT:"):
            assert line in stub
    for block in solution_blocks(solution, module):
        assert f'raise NotImplementedError("Task {block.task}: {block.function} is not implemented yet")' in stub


@pytest.mark.parametrize(
    "source,message",
    [
        ("def f():\n    ### BEGIN SOLUTION 1.1\n    return 1\n", "has no END SOLUTION"),
        ("def f():\n    return 1\n    ### END SOLUTION\n", "END SOLUTION without a BEGIN"),
        ("### BEGIN SOLUTION 1.1\nx = 1\n### END SOLUTION\n", "must be inside a function"),
        ("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n", "malformed marker"),
        ("def f():\n    ### BEGIN SOLUTION 9.9\n    return 1\n    ### END SOLUTION\n", "task 9.9 is not in course.yaml"),
    ],
)
def test_is_an_error_raised_for_a_broken_marker(course, source, message):
    with pytest.raises(ReleaseError, match=message):
        StripSolutions(course.assignment("hw1"))(source, "x.py")


@pytest.mark.parametrize("assignment", BUILT)
def test_handout_headings_come_from_course_yaml(course, assignment):
    handout = (course.root / "assignments" / assignment / "README.md").read_text()
    assert "{{" not in handout
    for task in course.assignment(assignment).tasks:
        assert f"Task {task.id}: {task.title} ({task.points:g} points)" in handout


def test_student_distribution_has_no_solutions_no_hidden_suite_and_no_variants(course, tmp_path):
    out = tmp_path / "student"
    assert release_student(course, out) == []
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert not any(f.startswith("solutions/") or "/hidden/" in f for f in files)
    assert not any(f.endswith("variants.py") for f in files), "the audit's variants hold solution code"
    assert "grader/suites/hw1/public/test_huffman.py" in files
    assert "assignments/hw1/README.md" in files and "datasets/shakespeare/train.txt" in files
    assert not any("/heldout/" in f for f in files), "held-out data (test labels, unseen text) stays with the graders"
    # the distribution is a working course: its own `course check` runs the public suite on the stubs
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "check", "hw1"], cwd=out, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "COURSE_ROOT": str(out), "PYTHONPATH": str(out)})
    assert proc.returncode == 1 and "0 / 100" in proc.stdout, proc.stdout + proc.stderr


def test_the_leak_scan_finds_planted_solution_code(course, tmp_path):
    out = tmp_path / "student"
    release_student(course, out)
    solution = (course.root / "solutions" / "hw1" / "huffman.py").read_text()
    (out / "assignments" / "hw1" / "notes.py").write_text(solution)
    body = solution_blocks(solution, "huffman.py")[0].body
    (out / "grader" / "copied.py").write_text("def f(freqs):\n" + "\n".join(body) + "\n")
    (out / "grader" / "suites" / "hw1" / "hidden").mkdir()
    from grader.release import scan_for_leaks

    leaks = scan_for_leaks(course, out)
    assert any("notes.py: contains a solution marker" in leak for leak in leaks)
    assert any("hidden/: must not be distributed" in leak for leak in leaks)
    assert any("grader/copied.py: contains solution code" in leak for leak in leaks)


def test_held_out_data_is_not_shipped_and_the_scan_finds_it_by_content(course, tmp_path):
    import shutil

    out = tmp_path / "student"
    assert release_student(course, out) == []
    probe = ("import numpy, sys; sys.path.insert(0, sys.argv[1]); from grader import data; "
             "images, labels, split = data.load_digits(); print(sorted(set(labels[split == 2].tolist())), "
             "sorted(set(labels[split != 2].tolist())) == list(range(10)))")
    proc = subprocess.run([sys.executable, "-c", probe, str(out)], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "COURSE_ROOT": str(out), "PYTHONPATH": str(out)})
    assert proc.stdout.split() == ["[255]", "True"], proc.stdout + proc.stderr
    shutil.copy(course.root / "datasets" / "digits" / "heldout" / "test-labels.npz", out / "grader" / "weights.bin")
    valid = (course.root / "datasets" / "shakespeare" / "heldout" / "valid.txt").read_text()
    (out / "assignments" / "hw1" / "notes.md").write_text("# notes\n" + valid[40_000:41_000])
    (out / "datasets" / "shakespeare" / "heldout").mkdir()
    from grader.release import scan_for_leaks

    leaks = scan_for_leaks(course, out)
    assert "grader/weights.bin: holds the bytes of datasets/digits/heldout/test-labels.npz" in leaks
    assert "assignments/hw1/notes.md: contains text of datasets/shakespeare/heldout/valid.txt" in leaks
    assert "datasets/shakespeare/heldout/: must not be distributed" in leaks
