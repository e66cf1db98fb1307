"""The course inside nbgrader: `course nbgrader init`, then nbgrader's own generate_assignment,
autograde and export, and the points it exports equal what `course grade` gives for the same code."""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from grader.audit import load_variants
from grader.batch import grade
from grader.cli import main
from grader.config import load_course
from grader.nbcourse import split_module
from grader.notebook import cell_source, notebook_code
from tests.fixtures.notebooks import cells, solved, submit, with_code_after, with_edit

ROOT = Path(__file__).resolve().parent.parent


def nbgrader(course_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg", "COURSE_ROOT": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course_dir, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def course_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("nbgrader-course")
    result = CliRunner().invoke(main, ["nbgrader", "init", str(d)])
    assert result.exit_code == 0, result.output
    nbgrader(d, "generate_assignment", "hw1")
    return d


def test_init_writes_a_config_and_a_source_notebook_per_built_assignment(course_dir):
    config = (course_dir / "nbgrader_config.py").read_text()
    assert "c.CourseDirectory.course_id = 'foundations-of-large-models'" in config and "c.Execute.timeout = 300" in config
    for a in load_course(ROOT).assignments:
        if not a.built:
            assert not (course_dir / "source" / a.id).exists()
            continue
        hw = a.id
        nb = json.loads((course_dir / "source" / hw / f"{hw}.ipynb").read_text())
        tests = cells(nb, "tests_")
        assert len(tests) == len(a.tasks)
        assert sum(c["metadata"]["nbgrader"]["points"] for c in tests) == a.points
        for c in tests:
            meta = c["metadata"]["nbgrader"]
            assert meta["grade"] and meta["locked"] and not meta["solution"] and meta["schema_version"] == 3
            assert c["source"].endswith(f'grade_task("{hw}", "{meta["grade_id"][6:].replace("_", ".")}")')
            assert "HIDDEN TESTS" not in c["source"]  # nbgrader would warn of a changed checksum (issue #1961)
        for c in cells(nb, "answer_"):
            meta = c["metadata"]["nbgrader"]
            assert meta["solution"] and not meta["grade"] and not meta["locked"]
            assert "### BEGIN SOLUTION\n" in c["source"] + "\n"
        ids = [c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"] if "nbgrader" in c["metadata"]]
        assert len(ids) == len(set(ids))


def test_init_again_rewrites_its_own_files_but_not_an_instructors_config(course_dir, tmp_path):
    assert CliRunner().invoke(main, ["nbgrader", "init", str(course_dir)]).exit_code == 0
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    result = CliRunner().invoke(main, ["nbgrader", "init", str(tmp_path)])
    assert result.exit_code == 2 and "was not written by `course nbgrader init`" in result.output
    assert (tmp_path / "nbgrader_config.py").read_text() == "c = get_config()\n"


def test_the_released_notebook_has_no_solutions_and_no_hidden_tests(course_dir, course, monkeypatch):
    monkeypatch.setenv("COURSE_ROOT", str(course.root))  # a check records progress in its course root: a copy
    text = (course_dir / "release" / "hw1" / "hw1.ipynb").read_text()
    assert "BEGIN SOLUTION" not in text and "hidden=True" not in text and "HIDDEN TESTS" not in text
    reference = (ROOT / "solutions" / "hw1" / "information.py").read_text()
    assert "nz = p[p > 0]" in reference and "nz = p[p > 0]" not in text
    result = CliRunner().invoke(main, ["check", "hw1", "--path", str(course_dir / "release" / "hw1" / "hw1.ipynb"), "--json"])
    graded = json.loads(result.output)
    assert graded["score"] == 0 and {t["cause"] for t in graded["tests"]} == {"not-implemented"}


def run_verify(*args: str):
    """`course nbgrader verify ARGS`, as the command line runs it (errors: one line, exit 2)."""
    return CliRunner().invoke(main, ["nbgrader", "verify", *args])


@pytest.fixture(scope="module")
def autograded(course_dir, tmp_path_factory):
    """hw1 submitted by five students, autograded and exported by nbgrader once for the module;
    then `course nbgrader verify` on it, keeping course grade's reports."""
    right = solved(course_dir, "hw1")
    wrong, _ = load_variants(load_course(ROOT).assignment("hw1"))
    nats = next(v for v in wrong if v.name == "nats_instead_of_bits")
    submissions = {
        "alice": right,
        "bob": with_edit(right, nats.old, nats.new),
        "carol": with_edit(right, "def mutual_information(joint, base: float = 2.0) -> float:",
                           "def mutual_information(joint, base: float = 2.0) -> float"),
        "dave": with_code_after(right, "answer_1_6", "\n\nwhile True:  # one more try\n    pass\n"),
        "erin": copy.deepcopy(right),  # edits a read-only cell: both restore it, as generated
    }
    (given,) = cells(submissions["erin"], "given_1_1")
    given["source"] = cell_source(given).replace("TOLERANCE = 1e-6", "TOLERANCE = 0.5")
    assert "TOLERANCE = 0.5" in given["source"]
    for student, nb in submissions.items():
        submit(course_dir, "hw1", student, nb)
    nbgrader(course_dir, "autograde", "hw1")
    nbgrader(course_dir, "export")
    with (course_dir / "grades.csv").open() as f:
        exported = {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(f) if row["assignment"] == "hw1"}
    out = tmp_path_factory.mktemp("verified") / "graded"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_ROOT", str(ROOT))
        verified = run_verify(str(course_dir), "hw1", "--out", str(out), "--jobs", "2")
    return SimpleNamespace(submissions=submissions, nats=nats, exported=exported, verified=verified, out=out)


def test_autograde_and_export_give_the_points_course_grade_gives(course_dir, autograded):
    """`course nbgrader verify` finds nbgrader's gradebook and `course grade` agreeing on every
    student, and its --out holds course grade's reports."""
    submissions, nats, exported, out = autograded.submissions, autograded.nats, autograded.exported, autograded.out
    assert autograded.verified.exit_code == 0, (autograded.verified.output, autograded.verified.exception)
    assert autograded.verified.stdout.splitlines() == [
        f"hw1: nbgrader and course grade agree on all 5 students (within 0.01 points); course grade's reports in {out}"
    ]
    assert sorted(p.name for p in (out / "students").iterdir()) == sorted(submissions)
    ours = {}
    for student in submissions:
        result = json.loads((out / "students" / student / "result.json").read_text())
        ours[student] = result["score"]
        lost = {t["id"] for t in result["tasks"] if t["points"] < t["max_points"]}
        # a syntax error costs what its cell defines, as in Jupyter; a cell that never ends, everything
        expected = {"bob": set(nats.loses), "carol": {"1.3"}, "dave": {t.id for t in load_course(ROOT).built("hw1").tasks}}
        assert lost == expected.get(student, set()), (student, lost)
    assert exported == pytest.approx(ours, abs=0.01), (exported, ours)
    # the autograded notebooks say why, in the test cells' output
    for student, cause in (("carol", "FAIL (syntax)"), ("dave", "FAIL (timeout)")):
        nb = json.loads((course_dir / "autograded" / student / "hw1" / "hw1.ipynb").read_text())
        printed = "".join(cell_source({"source": o.get("text", "")}) for c in cells(nb, "tests_1_3") for o in c["outputs"])
        assert cause in printed, printed


def test_verify_lists_the_student_whose_gradebook_score_was_changed(course_dir, autograded, tmp_path, monkeypatch):
    """A manual grade of 0 on alice's test cell of task 1.3 (in a copy of the gradebook): verify
    names alice alone, with both totals and the task, exits 1, and leaves the gradebook as it was."""
    from nbgrader.api import Gradebook

    monkeypatch.setenv("COURSE_ROOT", str(ROOT))
    copied = tmp_path / "course"
    copied.mkdir()
    for name in ("nbgrader_config.py", "gradebook.db"):
        shutil.copy(course_dir / name, copied / name)
    shutil.copytree(course_dir / "submitted", copied / "submitted")
    out = tmp_path / "graded"
    shutil.copytree(autograded.out, out)  # everyone is graded already: verify only reads them
    with Gradebook(f"sqlite:///{copied / 'gradebook.db'}", course_id="") as gb:
        cell = gb.find_grade("tests_1_3", "hw1", "hw1", "alice")
        task = cell.max_score
        assert cell.score == task
        cell.manual_score = 0.0
        gb.db.commit()
    before = (copied / "gradebook.db").read_bytes()
    result = run_verify(str(copied), "hw1", "--out", str(out))
    assert result.exit_code == 1, (result.output, result.exception)
    ours = json.loads((out / "students" / "alice" / "result.json").read_text())["score"]
    assert result.stdout.splitlines() == [
        f"alice: nbgrader {autograded.exported['alice'] - task:g} points, course grade {ours:g} points; "
        f"differ in task 1.3 (0 vs {task:g})",
        f"hw1: 1 of 5 students differ (by more than 0.01 points); course grade's reports in {out}",
    ]
    assert (copied / "gradebook.db").read_bytes() == before


def test_verify_lists_a_student_on_one_side_only_or_beyond_a_hundredth_of_a_point(tmp_path):
    """Which students does verify list, and what does it say of each?"""
    from grader.nbverify import Collected, Points, Verification, differences, render

    course = load_course(ROOT)
    a = course.built("hw1")
    full = {t.id: t.points for t in a.tasks}
    first = a.tasks[0]
    nbgrader_side = {
        "ann": Points(a.points, full),
        "ben": Points(a.points - 0.005, full),  # nbgrader's rounding: within the tolerance
        "cid": Points(a.points - first.points, {**full, first.id: 0.0}),
        "dee": Points(a.points, full),
        "eve": Points(50.0),  # no grade cells of the course's: no tasks to name
        "gus": Points(a.points, full),
    }
    course_side: dict[str, Points | str] = {
        "ann": Points(a.points, full),
        "ben": Points(a.points, full),
        "cid": Points(a.points, full),
        "dee": "hw1.ipynb: not a notebook",
        "eve": Points(60.0, full),
        "fay": Points(a.points, full),
    }
    collected = Collected(course, a, tmp_path, nbgrader_side, {}, {})
    found = differences(collected, course_side)
    assert [(d.student, d.nbgrader, d.course, d.tasks) for d in found] == [
        ("cid", a.points - first.points, a.points, [(first.id, 0.0, first.points)]),
        ("dee", a.points, None, []),
        ("eve", 50.0, 60.0, []),
        ("fay", None, a.points, []),
        ("gus", a.points, None, []),
    ]
    assert render(Verification("hw1", 7, found, None)).splitlines() == [
        f"cid: nbgrader {a.points - first.points:g} points, course grade {a.points:g} points; "
        f"differ in task {first.id} (0 vs {first.points:g})",
        f"dee: nbgrader {a.points:g} points, course grade none (course grade could not grade it: hw1.ipynb: not a notebook)",
        "eve: nbgrader 50 points, course grade 60 points",
        f"fay: nbgrader none, course grade {a.points:g} points (not autograded by nbgrader)",
        f"gus: nbgrader {a.points:g} points, course grade none (not in {tmp_path / 'submitted'})",
        "hw1: 5 of 7 students differ (by more than 0.01 points)",
    ]
    both = ("ann", "ben")
    same = differences(Collected(course, a, tmp_path, {n: nbgrader_side[n] for n in both}, {}, {}), {n: course_side[n] for n in both})
    agreed = Verification("hw1", 2, same, None)
    assert agreed.agree and render(agreed) == "hw1: nbgrader and course grade agree on all 2 students (within 0.01 points)"


def gradebook_with(path: Path, *assignments: str) -> None:
    """An nbgrader gradebook at `path` that knows `assignments`: nbgrader's own tables, made
    without its Gradebook(), which runs `alembic heads` in a subprocess to stamp a new one (seconds)."""
    from nbgrader.api import Assignment, Base, Course
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.merge(Course(id="verify"))
        session.add_all(Assignment(name=name, course_id="verify") for name in assignments)
        session.commit()
    engine.dispose()


def test_verify_names_what_it_lacks_on_one_line_and_exits_2(tmp_path, monkeypatch, small_course):
    """Each thing verify needs is named, when missing, on one line with exit status 2 before
    anything is graded; once it is there, the next one is named."""
    monkeypatch.setenv("COURSE_ROOT", str(ROOT))
    d = tmp_path / "course"

    def cause(assignment: str = "hw1") -> str:
        result = run_verify(str(d), assignment)
        assert result.exit_code == 2 and result.stdout == "", result.output
        (line,) = result.stderr.splitlines()
        return line

    assert cause() == f"course: {d}: no such folder"
    d.mkdir()
    assert cause("hw9").startswith("course: unknown assignment 'hw9'; valid ids: hw1")
    assert cause() == f"course: {d}: no nbgrader gradebook ({d / 'gradebook.db'} is missing); run `nbgrader autograde hw1` there first"
    (d / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.db_url = os.environ['DB']\n")
    assert cause() == f"course: {d / 'nbgrader_config.py'}:2: db_url is not a plain string, so the gradebook cannot be found"
    (d / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.db_url = 'sqlite:///grades/hw.db'\n")
    db = d / "grades" / "hw.db"
    assert cause() == f"course: {d}: no nbgrader gradebook ({db} is missing); run `nbgrader autograde hw1` there first"
    db.parent.mkdir()
    db.write_bytes(b"not a database")
    assert cause() == f"course: {db}: not a readable nbgrader gradebook (file is not a database)"
    assert db.read_bytes() == b"not a database"
    db.unlink()
    gradebook_with(db, "hw2")
    assert cause() == f"course: hw1: not in the gradebook {db} (it has: hw2); run `nbgrader autograde hw1` in {d} first"
    gradebook_with(db, "hw1")
    nothing = f"course: {d / 'submitted'}: no <student>/hw1/hw1.ipynb there; collect the submissions first"
    assert cause() == nothing
    (d / "submitted" / "alice" / "hw1").mkdir(parents=True)
    (d / "submitted" / "alice" / "hw1" / "notes.txt").write_text("")
    assert cause() == nothing
    monkeypatch.setenv("COURSE_ROOT", str(small_course.root))
    assert cause("later") == "course: later (Later - planned for a later release) is not built yet: it is planned for a later release"


def test_notebook_code_drops_test_cells_and_magics_and_hoists_future_imports(tmp_path):
    def code_cell(source, **nbgrader):
        meta = {"nbgrader": nbgrader} if nbgrader else {}
        return {"cell_type": "code", "metadata": meta, "source": source, "outputs": [], "execution_count": None}

    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "# title"},
        code_cell(["import math\n", "%matplotlib inline\n", "!ls\n"]),
        code_cell("from __future__ import annotations\ndef f(x: int) -> int:\n    %time y = 1\n    return x + 1"),
        code_cell("%%time\nz = f(1)"),
        code_cell("def g(x)\n    return x\n\nclass Model:\n    pass"),
        code_cell("assert f(1) == 2", grade=True, solution=False, locked=True, points=1),
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "hw.ipynb"
    path.write_text(json.dumps(nb))
    code = notebook_code(path)
    assert code.startswith("from __future__ import annotations\n")
    assert "assert f(1)" not in code
    assert not [line for line in code.splitlines() if line.strip().startswith(("%", "!"))]
    namespace: dict = {}
    exec(compile(code, "hw.py", "exec"), namespace)
    assert namespace["z"] == 2
    for broken in (namespace["g"], namespace["Model"]):  # the cell with a syntax error: stand-ins that say so
        with pytest.raises(SyntaxError, match="cell 5, line 1: expected ':' \\(so (g|Model) could not be defined"):
            broken(1)


def test_a_notebook_binds_sibling_module_names_and_leaves_out_entry_points():
    """`import coder` becomes `coder = sys.modules[__name__]` (the notebook is one namespace, so
    `coder.Encoder` is its own Encoder), `from gpt import GPT` goes, and `if __name__ == "__main__":`
    (a script's command line, which a notebook would run at once) is left out."""
    text = (
        '"""A module."""\nimport coder\nfrom gpt import GPT\nimport torch\n\n\ndef pack(m):\n    return coder.Encoder()\n\n\n'
        'if __name__ == "__main__":\n    pack(None)\n'
    )
    imports, chunks = split_module(text, "squeeze.py", ("gpt", "coder", "squeeze"))
    assert imports == ["import sys", "coder = sys.modules[__name__]", "import torch"]
    assert [c.text for c in chunks] == ["def pack(m):\n    return coder.Encoder()"]
    namespace = {"__name__": "notebook_ns"}
    sys.modules["notebook_ns"] = SimpleNamespace(Encoder=lambda: "mine")
    try:
        exec("\n".join(imports[:2]) + "\n" + chunks[0].text + "\nresult = pack(None)", namespace)
    finally:
        del sys.modules["notebook_ns"]
    assert namespace["result"] == "mine"


def test_check_reads_a_notebook_or_says_why_not(tmp_path, course, monkeypatch):
    monkeypatch.setenv("COURSE_ROOT", str(course.root))
    (tmp_path / "broken.ipynb").write_text("{not json")
    result = CliRunner().invoke(main, ["check", "hw1", "--path", str(tmp_path / "broken.ipynb")])
    assert result.exit_code == 2 and "not a notebook" in result.output and len(result.output.strip().splitlines()) == 1
    (tmp_path / "notes.txt").write_text("")
    result = CliRunner().invoke(main, ["check", "hw1", "--path", str(tmp_path / "notes.txt")])
    assert result.exit_code == 2 and ".ipynb notebook" in result.output


def test_a_definition_run_but_not_saved_is_pointed_out(tmp_path, monkeypatch):
    from grader.nbgrade import stale_names

    (tmp_path / "kernel_cells.py").write_text("def entropy(p):\n    return 0.0\n\n\ndef kraft_sum(lengths):\n    return 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import kernel_cells

    for f in (kernel_cells.entropy, kernel_cells.kraft_sum):
        f.__module__ = "__main__"  # as if run in the notebook's kernel
    saved = "def entropy(p):\n    return 0.0\n\n\ndef kraft_sum(lengths):\n    return 2.0\n"
    namespace = {"entropy": kernel_cells.entropy, "kraft_sum": kernel_cells.kraft_sum, "math": __import__("math")}
    assert stale_names(saved, namespace) == ["kraft_sum"]


def test_autograde_of_an_untouched_release_warns_of_no_changed_checksum(tmp_path):
    """nbgrader compares each locked cell's checksum at autograde with the one it stored at
    generate_assignment: the test cells are the same in both, so it has nothing to warn of
    (nbgrader issue #1961: a hidden-tests block in a locked cell made it warn for every test cell)."""
    assert CliRunner().invoke(main, ["nbgrader", "init", str(tmp_path)]).exit_code == 0
    generated = nbgrader(tmp_path, "generate_assignment", "hw1")
    submit(tmp_path, "hw1", "untouched", json.loads((tmp_path / "release" / "hw1" / "hw1.ipynb").read_text()))
    autograded = nbgrader(tmp_path, "autograde", "hw1")
    for proc in (generated, autograded):
        assert "checksum" not in (proc.stdout + proc.stderr).lower(), proc.stderr[-3000:]
    nb = json.loads((tmp_path / "autograded" / "untouched" / "hw1" / "hw1.ipynb").read_text())
    printed = "".join(cell_source({"source": o.get("text", "")}) for c in cells(nb, "tests_1_1") for o in c["outputs"])
    assert "[public, hidden tests]" in printed and "(hidden)" in printed, printed  # autograde still runs them


@pytest.mark.parametrize(
    "assignment, mistake",
    [("capstone", "ideal_bits_in_nats")],
)
def test_a_notebook_of_several_modules_autogrades_to_the_points_course_grade_gives(course_dir, tmp_path, assignment, mistake):
    """The capstone's five modules live in one notebook, with its trained model.pt and model.sqz beside
    it: gpt.py given whole, squeeze.py importing names from gpt.py and calling `coder.Encoder` (hw4's
    deep_compress and hw5's vit.py import by name the same way); a mistake in one task loses that
    task alone, in nbgrader as in `course grade`."""
    a = load_course(ROOT).assignment(assignment)
    if not a.built:
        pytest.skip(f"{assignment} is not built")
    nbgrader(course_dir, "generate_assignment", assignment)
    wrong, _ = load_variants(a)
    variant = next(v for v in wrong if v.name == mistake)
    artifacts = tuple(ROOT / "solutions" / a.folder / name for name in a.artifacts)
    submit(course_dir, assignment, "frank", with_edit(solved(course_dir, assignment), variant.old, variant.new), artifacts)
    nbgrader(course_dir, "autograde", assignment)
    nbgrader(course_dir, "export")
    with (course_dir / "grades.csv").open() as f:
        exported = {
            r["student_id"]: float(r["raw_score"])
            for r in csv.DictReader(f)
            if r["assignment"] == assignment and r["student_id"] == "frank"
        }

    shutil.copytree(course_dir / "submitted" / "frank", tmp_path / "submitted" / "frank")
    grade(load_course(ROOT), assignment, tmp_path / "submitted", tmp_path / "graded", jobs=1)
    result = json.loads((tmp_path / "graded" / "students" / "frank" / "result.json").read_text())
    assert {t["id"] for t in result["tasks"] if t["points"] < t["max_points"]} == set(variant.loses)
    assert exported == pytest.approx({"frank": result["score"]}, abs=0.01), (exported, result["score"])
