"""Stubs, handouts and the student distribution are generated from solutions/ and leak nothing."""

import ast
import subprocess
import sys

import pytest

from grader.config import load_course
from grader.release import ReleaseError, StripSolutions, release_assignments, release_student, solution_blocks
from tests.conftest import BUILT, ROOT


def test_an_assignments_artifacts_are_not_the_students(course):
    """The capstone's reference model (model.pt, model.sqz, course.yaml's `artifacts`) stays in
    solutions/: a student makes their own."""
    from grader.release import student_files

    capstone = course.assignment("capstone")
    assert capstone.artifacts == ("model.pt", "model.sqz")
    assert all((ROOT / "solutions" / capstone.folder / name).is_file() for name in capstone.artifacts)
    files = student_files(course, capstone)
    assert "gpt.py" in files and not set(capstone.artifacts) & set(files)


def test_committed_assignments_are_what_release_generates():
    """Every file a release generates is this checkout's assignments/ as committed (git HEAD), or as it
    is now (a release not committed yet); a learner's edits to the stubs do not make it fail."""
    from grader.release import _blob_id, _committed, generated_files

    real = load_course(ROOT)
    files = generated_files(real)
    committed = _committed(ROOT)
    stale = []
    for path, data in files.items():
        here = (ROOT / path).read_bytes() if (ROOT / path).is_file() else None
        in_git = committed is not None and path in committed and committed[path] == _blob_id(data, committed[path])
        if here != data and not in_git:
            stale.append(path)
    assert not stale, f"out of date with solutions/ (run `course release`): {stale}"
    if committed is not None:
        folders = tuple(f"assignments/{a.folder}/" for a in real.assignments if a.built)
        extra = sorted(p for p in committed if p.startswith(folders) and p not in files)
        assert not extra, f"committed but not generated from solutions/: {extra}"


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


# -- a student's edits survive `course release` ----------------------------------------------------


def release(root, *args):
    from click.testing import CliRunner

    from grader.cli import main

    return CliRunner(env={"COURSE_ROOT": str(root)}).invoke(main, ["release", *args])


@pytest.fixture
def released(small_course):
    """The small course after one `course release` (outside git): its record in .course/release.json."""
    result = release(small_course.root)
    assert result.exit_code == 0, result.output
    return small_course.root


def test_a_release_records_what_it_generated(released):
    import hashlib
    import json

    record = json.loads((released / ".course" / "release.json").read_text())["files"]
    stub = released / "assignments" / "intro" / "entropy.py"
    assert record == {
        "assignments/intro/README.md": hashlib.sha256((released / "assignments/intro/README.md").read_bytes()).hexdigest(),
        "assignments/intro/entropy.py": hashlib.sha256(stub.read_bytes()).hexdigest(),
    }


def test_release_refuses_to_overwrite_an_edited_file_and_names_it(released):
    stub = released / "assignments" / "intro" / "entropy.py"
    stub.write_text("def entropy(p):\n    return 42  # my work\n")
    (released / "solutions" / "intro" / "entropy.py").write_text(SOLUTION_V2)  # the release would change it
    handout = (released / "assignments" / "intro" / "README.md").read_bytes()
    result = release(released)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "course: assignments/intro/entropy.py: edited since the last release"
    assert "--force" in lines[-1] and "--out DIR" in lines[-1] and len(lines) == 2, result.output
    assert "my work" in stub.read_text() and (released / "assignments" / "intro" / "README.md").read_bytes() == handout
    # --check keeps its meaning: assignments/ differs from what would be generated
    result = release(released, "--check")
    assert result.exit_code == 1 and "out of date: assignments/intro/entropy.py" in result.output


SOLUTION_V2 = '''"""Entropy, version 2."""

import math


def entropy(p):
    """Entropy in bits of the distribution p."""
    ### BEGIN SOLUTION 1.1
    # HINT: skip zero probabilities; log base 2
    return -sum(x * math.log2(x) for x in p if x > 0)
    ### END SOLUTION
'''


def test_an_unedited_file_is_regenerated_without_asking(released):
    (released / "solutions" / "intro" / "entropy.py").write_text(SOLUTION_V2)
    result = release(released)
    assert result.exit_code == 0 and "regenerated 1 file(s)" in result.output, result.output
    assert "# HINT: skip zero probabilities; log base 2" in (released / "assignments" / "intro" / "entropy.py").read_text()


def test_force_replaces_the_edit_and_keeps_a_copy(released):
    stub = released / "assignments" / "intro" / "entropy.py"
    stub.write_text("def entropy(p):\n    return 42  # my work\n")
    result = release(released, "--force")
    assert result.exit_code == 0, result.output
    (backup,) = (released / ".course" / "backup").iterdir()
    assert f"kept a copy of each edited file it replaced in .course/backup/{backup.name}/" in result.output
    assert (backup / "assignments" / "intro" / "entropy.py").read_text() == "def entropy(p):\n    return 42  # my work\n"
    assert "raise NotImplementedError" in stub.read_text()
    assert release(released).exit_code == 0, "after --force, the record is of the new release"


def test_a_file_the_release_does_not_generate_is_never_deleted(released):
    notes = released / "assignments" / "intro" / "notes.py"
    notes.write_text("my scratch work\n")
    (released / "solutions" / "intro" / "README.md").unlink()  # the handout is no longer generated
    result = release(released)
    assert result.exit_code == 0, result.output
    assert notes.read_text() == "my scratch work\n" and "left assignments/intro/notes.py as it is" in result.output
    assert not (released / "assignments" / "intro" / "README.md").exists(), "a stale generated file, unedited, goes"
    assert "removed assignments/intro/README.md (no longer generated)" in result.output


def test_at_most_a_few_edited_files_are_named(tmp_path):
    from grader.release import MAX_NAMED, ReleaseRefused

    edited = [f"assignments/hw/f{i}.py" for i in range(MAX_NAMED + 3)]
    lines = str(ReleaseRefused(edited)).splitlines()
    assert lines[:MAX_NAMED] == [f"{p}: edited since the last release" for p in edited[:MAX_NAMED]]
    assert lines[MAX_NAMED] == "... and 3 more" and len(lines) == MAX_NAMED + 2


def test_without_a_record_outside_git_only_files_that_differ_from_the_release_count_as_edits(small_course):
    root = small_course.root
    assert release_assignments(small_course) == ["assignments/intro/README.md", "assignments/intro/entropy.py"]
    (root / ".course" / "release.json").unlink()
    assert release(root).exit_code == 0, "identical files are fine"
    (root / ".course" / "release.json").unlink()
    (root / "assignments" / "intro" / "entropy.py").write_text("# mine\n")
    result = release(root)
    assert result.exit_code == 2 and "assignments/intro/entropy.py: edited" in result.output, result.output


def git(root, *args):
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True, capture_output=True)


def test_without_a_record_in_git_what_is_committed_is_the_previous_release(small_course, monkeypatch):
    """A fresh clone (no .course/): a stub that differs from HEAD is the student's edit; one equal to
    HEAD is not, so an instructor who changed solutions/ releases without --force. One git call."""
    import grader.release

    root = small_course.root
    release_assignments(small_course)
    (root / ".course" / "release.json").unlink()
    git(root, "init", "-q")
    git(root, "add", "course.yaml", "solutions", "assignments")
    git(root, "commit", "-q", "-m", "course")
    (root / "solutions" / "intro" / "entropy.py").write_text(SOLUTION_V2)
    calls = []
    real_run = subprocess.run
    monkeypatch.setattr(grader.release.subprocess, "run", lambda *a, **k: calls.append(a) or real_run(*a, **k))
    assert grader.release.edited_files(small_course, grader.release.generated_files(small_course)) == []
    assert len(calls) == 1
    (root / "assignments" / "intro" / "entropy.py").write_text("# the student's\n")
    assert grader.release.edited_files(small_course, grader.release.generated_files(small_course)) == [
        "assignments/intro/entropy.py"
    ]
    monkeypatch.undo()
    git(root, "checkout", "--", "assignments")
    result = release(root)
    assert result.exit_code == 0 and "regenerated 1 file(s)" in result.output, result.output


def test_a_student_release_can_be_written_beside_edited_assignments(course, tmp_path):
    """`--out DIR`, which a refused release suggests, writes the stubs from solutions/ whatever
    assignments/ holds."""
    import shutil

    root = tmp_path / "root"
    shutil.copytree(course.root, root)
    (root / "assignments" / "hw1" / "information.py").write_text("# my work\n")
    edited = load_course(root)
    out = tmp_path / "student"
    assert release_student(edited, out) == []
    assert (out / "assignments" / "hw1" / "information.py").read_text() == (
        course.root / "assignments" / "hw1" / "information.py"
    ).read_text()


# -- the student distribution's README --------------------------------------------------------------


def readme_commands(text):
    """The `course ...` command lines in the code blocks of a README."""
    blocks = text.split("```")[1::2]
    return [line.split("#")[0].strip() for block in blocks for line in block.splitlines() if line.strip().startswith("course ")]


def test_the_student_readme_is_for_students_and_every_command_in_it_runs_in_the_release(course, tmp_path):
    """The release's README.md is the student's: no instructor commands, every path it names is in the
    release, `pip install -e .` has a pyproject.toml to install, and each `course` command it shows
    runs there (on the stubs) with the exit status it should."""
    import re

    out = tmp_path / "student"
    assert release_student(course, out) == []
    text = (out / "README.md").read_text()
    assert "--solution" not in text and "pytest" not in text.replace("pytest)", "") and "install.sh" not in text
    assert "{{" not in text
    for a in course.assignments:
        if a.built:
            assert f"`assignments/{a.folder}/README.md`" in text
            assert all(f"| {a.id} | {t.id} | {t.title} | {t.points:g} |" in text for t in a.tasks)
            assert f"| {a.id} | {a.limits.wall_s:g} | {a.limits.memory_mb} MB |" in text
    for path in set(re.findall(r"`(assignments/[^`<>]+)`", text)):
        assert (out / path).exists(), f"the README names {path}, which is not in the release"
    assert "pip install -e ." in text
    pyproject = (out / "pyproject.toml").read_text()
    assert 'readme = "README.md"' in pyproject and 'course = "grader.cli:main"' in pyproject

    commands = readme_commands(text)
    assert {c.split()[1] for c in commands} == {"syllabus", "check", "plot"}, commands
    # `course` as installed here, in the release (its course.yaml, stubs, public suites and data): the
    # working directory left off sys.path, so that the grading side and its workers import one package
    course_command = "import sys; sys.path.remove(''); sys.argv[0] = 'course'; from grader.cli import main; main()"
    env = {"PATH": "/usr/bin:/bin", "COURSE_ROOT": str(out), "MPLBACKEND": "Agg"}
    for command in commands:
        proc = subprocess.run([sys.executable, "-c", course_command, *command.split()[1:]], cwd=out, env=env,
                              capture_output=True, text=True, timeout=600)
        said = proc.stdout + proc.stderr
        verb = command.split()[1]
        if verb == "syllabus":
            assert proc.returncode == 0 and course.title in said, (command, said)
        elif verb == "check":  # the stubs: every test fails, 0 points
            assert proc.returncode == 1 and re.search(r"Total.* 0 / \d+", said), (command, said)
            assert "not implemented yet" in said, (command, said)
        else:  # plot on the stubs: every figure skipped, saying what is not written yet, none drawn
            lines = said.strip().splitlines()
            assert proc.returncode == 2 and lines and all(ln.startswith("skipped ") for ln in lines), (command, said)
            assert all("not implemented yet" in ln for ln in lines), (command, said)


# -- the project's tests leave the learner's checkout alone ------------------------------------------


def test_the_session_guard_names_each_file_a_test_changed(tmp_path):
    """conftest's guard: the fingerprint of a checkout's progress, assignments/ and figures/ changes,
    file by file, when any of them is written, created or removed; nothing else counts."""
    from tests.conftest import fingerprint_changes, workspace_fingerprint

    (tmp_path / ".course").mkdir()
    (tmp_path / ".course" / "progress.json").write_text("{}")
    (tmp_path / "assignments" / "hw1").mkdir(parents=True)
    (tmp_path / "assignments" / "hw1" / "information.py").write_text("# my work\n")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "hw1.png").write_bytes(b"png")
    before = workspace_fingerprint(tmp_path)
    assert fingerprint_changes(before, workspace_fingerprint(tmp_path)) == []
    (tmp_path / ".course" / "progress.json").write_text('{"hw1": {"score": 0}}')
    (tmp_path / "assignments" / "hw1" / "information.py").write_text("# overwritten\n")
    (tmp_path / "figures" / "hw1.png").unlink()
    (tmp_path / "figures" / "hw2.png").write_bytes(b"png")
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "x.py").write_text("")  # not the learner's state
    assert fingerprint_changes(before, workspace_fingerprint(tmp_path)) == [
        ".course/progress.json: changed",
        "assignments/hw1/information.py: changed",
        "figures/hw1.png: removed",
        "figures/hw2.png: created",
    ]


def test_the_tests_course_is_a_copy_with_fresh_stubs(course):
    """The `course` fixture is not this checkout: a check there records progress in the copy."""
    from grader.release import release_assignments

    assert course.root.resolve() != ROOT.resolve() and not course.root.resolve().is_relative_to(ROOT.resolve())
    assert release_assignments(course, check=True) == []


def test_a_release_run_from_its_own_folder_grades_with_its_own_package(course, tmp_path):
    """`python -m grader.cli` started in a release imports the release's grader/; its workers must
    import that same copy (under bubblewrap only the grading side's own package is visible to them),
    not the one installed elsewhere: the stubs then fail as not implemented, not as crashed workers."""
    out = tmp_path / "student"
    assert release_student(course, out) == []
    env = {"PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "check", "hw1", "-k", "1.1"], cwd=out, env=env,
                          capture_output=True, text=True, timeout=600)
    said = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "not implemented yet" in said and "could not start" not in said, said[-2000:]
