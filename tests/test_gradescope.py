"""The Gradescope autograder, run the way Gradescope runs it: `course gradescope hw1` writes the zip,
it is unpacked into a folder laid out like /autograder (source/, submission/, results/), setup.sh
installs the course from source/ into a fresh environment (its own pip step, offline: no apt-get, no
PyTorch step, nothing downloaded), and run_autograder grades what is put in submission/. Every
results.json is checked against Gradescope's format (fixtures/gradescope_results.schema.json, written
from Gradescope's autograder specifications)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest
from click.testing import CliRunner

from grader import results
from grader.audit import load_variants, make_submission
from grader.command import CourseGroup
from grader.gradescope import ROOT_ENV, SCRIPTS, command
from grader.nbcourse import build_notebook
from grader.release import scan_for_leaks
from grader.report import gradescope
from tests.conftest import BUILT

SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "gradescope_results.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
CLI = CourseGroup(commands={"gradescope": command})  # as grader/cli.py registers it: `course gradescope`
HIDDEN_SOURCE = "from grader.suites.hw1.hidden.reference import"  # a line of the hidden tests, not of their names


def build(course_root: Path, *args: str):
    return CliRunner().invoke(CLI, ["gradescope", *args], env={"COURSE_ROOT": str(course_root)})


@pytest.fixture(scope="module")
def autograder(course, tmp_path_factory):
    """hw1's zip, unpacked as Gradescope unpacks it, set up by its own setup.sh (one environment for
    the module's tests)."""
    work = tmp_path_factory.mktemp("gradescope")
    built = build(course.root, "hw1", "--out", str(work / "autograder.zip"))
    assert built.exit_code == 0, built.output
    root = work / "autograder"
    with zipfile.ZipFile(work / "autograder.zip") as z:
        z.extractall(root / "source")
        for info in z.infolist():  # extractall leaves modes out; Gradescope keeps them
            (root / "source" / info.filename).chmod(info.external_attr >> 16 & 0o777)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")  # where Gradescope puts it
    env = {**os.environ, ROOT_ENV: str(root), "COURSE_SETUP_OFFLINE": "1", "PYTHON": sys.executable}
    setup = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True, timeout=600)
    assert setup.returncode == 0, setup.stderr
    return SimpleNamespace(root=root, zip=work / "autograder.zip")


def grade(ag, fill, isolation: str | None = None):
    """Empty submission/ and results/, let `fill(root)` put the student's upload in, run run_autograder
    as Gradescope does (in the root, by its path); (the process, results.json or None)."""
    for name in ("submission", "results"):
        shutil.rmtree(ag.root / name, ignore_errors=True)
        (ag.root / name).mkdir()
    fill(ag.root)
    env = {k: v for k, v in os.environ.items() if k != "COURSE_ROOT"} | {ROOT_ENV: str(ag.root)}
    if isolation:
        env["COURSE_AUTOGRADER_ISOLATION"] = isolation
    proc = subprocess.run([str(ag.root / "run_autograder")], cwd=ag.root, env=env, capture_output=True, text=True, timeout=600)
    path = ag.root / "results" / "results.json"
    data = json.loads(path.read_text()) if path.is_file() else None
    if data is not None:
        VALIDATOR.validate(data)
    return proc, data


def copy_files(src: Path):
    return lambda root: [shutil.copy(p, root / "submission" / p.name) for p in src.glob("*.py")]


def check_visibility(data: dict) -> None:
    """Public tests visible, hidden ones after the due date; the top-level output (always shown) names
    no hidden test and gives no total."""
    hidden = [t for t in data["tests"] if "hidden" in t["tags"]]
    public = [t for t in data["tests"] if "public" in t["tags"]]
    assert hidden and public and len(hidden) + len(public) == len(data["tests"])
    assert {t["visibility"] for t in hidden} == {"after_due_date"} and {t["visibility"] for t in public} == {"visible"}
    for t in hidden:
        assert t["name"] not in data["output"] and (not t["output"] or t["output"] not in data["output"])
    points = round(sum(t["score"] for t in public), 2)
    assert f"public tests {points:g} / " in data["output"], data["output"]
    assert f"{data['score']:g} / 100" not in data["output"], data["output"]


def test_the_zip_holds_hw1_and_nothing_of_the_other_assignments(autograder, course):
    with zipfile.ZipFile(autograder.zip) as z:
        modes = {i.filename: i.external_attr >> 16 for i in z.infolist()}
    names = set(modes)
    for script in SCRIPTS:
        assert modes[script] & 0o111, f"{script} is not executable"
    assert any(n.startswith("grader/suites/hw1/hidden/test_") for n in names)
    assert any(n.startswith("grader/suites/hw1/public/test_") for n in names)
    for other in set(BUILT) - {"hw1"}:
        assert not [n for n in names if n.startswith((f"grader/suites/{other}/", f"grader/worker/drivers/{other}"))], other
    assert not [n for n in names if n.startswith("solutions/") or Path(n).name.startswith("variants")]
    assert {n for n in names if n.startswith("datasets/")} == {
        "datasets/shakespeare/README.md",
        "datasets/shakespeare/SHA256SUMS",
        "datasets/shakespeare/train.txt",
        "datasets/shakespeare/heldout/SHA256SUMS",
        "datasets/shakespeare/heldout/valid.txt",  # The Tempest, which the hidden tests read; no other held-out play
    }
    # the release's leak scan: no solution code, marker or file anywhere; hw1's hidden tests and held-out play, by design
    expected = ("grader/suites/hw1/hidden/:", "datasets/shakespeare/heldout/")
    assert [leak for leak in scan_for_leaks(course, autograder.root / "source") if not leak.startswith(expected)] == []


def test_the_solution_scores_full_marks(autograder, solutions):
    proc, data = grade(autograder, copy_files(solutions))
    assert proc.returncode == 0, proc.stderr
    assert data["score"] == 100 and all(t["status"] == "passed" for t in data["tests"])
    check_visibility(data)
    assert "100 / 100" in proc.stdout  # the instructor's log (Gradescope shows students none of it)


def test_a_wrong_answer_loses_its_tasks_and_only_those(autograder, course, solutions):
    a = course.assignment("hw1")
    wrong, _ = load_variants(a)
    variant = next(v for v in wrong if v.name == "kl_arguments_swapped")
    proc, data = grade(autograder, lambda root: make_submission(solutions, variant, root / "submission"))
    assert proc.returncode == 0, proc.stderr
    failed = [t for t in data["tests"] if t["status"] == "failed"]
    assert {t["number"] for t in failed} == set(variant.loses)  # the tasks of its mistake, no other
    lost = sum(t["max_score"] for t in failed)
    assert 0 < lost <= sum(a.task(t).points for t in variant.loses) and data["score"] == pytest.approx(a.points - lost)
    assert any("hidden" in t["tags"] for t in failed) and all(t["score"] == 0 and t["output"] for t in failed)
    check_visibility(data)


def test_an_empty_submission_scores_zero_and_says_why(autograder):
    proc, data = grade(autograder, lambda root: (root / "submission" / "notes.txt").write_text("no code here"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "none of hw1's files (information.py, huffman.py)" in proc.stderr
    assert data["score"] == 0 and data["tests"] == [] and "none of hw1's files" in data["output"]


def test_a_submission_that_forges_results_and_reads_the_hidden_tests_earns_nothing(autograder, course, tmp_path):
    """Without bubblewrap the worker sees the file system (isolation: limits): the stubs, which earn 0,
    try to write a results.json of full marks and print the hidden tests' source when imported. As
    root the worker drops to an unprivileged user first (where that user can read Python), and then
    both are refused; either way the results.json left is the grader's, without the hidden source."""
    stubs = course.root / "assignments" / "hw1"
    witness = tmp_path / "witness"  # where any user may write: proof that the attack ran
    witness.mkdir()
    witness.chmod(0o1777)
    attack = f"""
import json as _json, pathlib as _pathlib
_root = _pathlib.Path({str(autograder.root)!r})
(_pathlib.Path({str(witness)!r}) / "ran").write_text("the submission was here")
(_root / "results" / "results.json").write_text(_json.dumps({{"score": 100.0, "output": "forged", "tests": []}}))
for _f in sorted((_root / "source" / "grader" / "suites" / "hw1" / "hidden").glob("*.py")):
    print(_f.read_text())
"""

    def fill(root):
        copy_files(stubs)(root)
        with open(root / "submission" / "information.py", "a") as f:
            f.write(attack)

    proc, data = grade(autograder, fill, isolation="limits")
    assert proc.returncode == 0, proc.stderr
    assert (witness / "ran").is_file(), "the attack did not run: this test proves nothing"
    assert data["score"] == 0 and data["output"] != "forged" and len(data["tests"]) > 50
    assert all(t["status"] == "failed" for t in data["tests"])
    assert HIDDEN_SOURCE not in (autograder.root / "results" / "results.json").read_text()


def test_a_zip_holding_a_folder_with_a_notebook_is_graded(autograder, course):
    """Both ways, with the corrupt ones below: a zip is unpacked, its folder searched, a notebook graded."""
    notebook = json.dumps(build_notebook(course, course.assignment("hw1")))

    def fill(root):
        with zipfile.ZipFile(root / "submission" / "my-work.zip", "w") as z:
            z.writestr("my-work/hw1.ipynb", notebook)

    proc, data = grade(autograder, fill)
    assert proc.returncode == 0, proc.stderr
    assert data["score"] == 100


def remove(name):
    return lambda root: shutil.rmtree(root / name)


def write(name: str, data: bytes):
    return lambda root: (root / "submission" / name).write_bytes(data)


@pytest.mark.parametrize(
    "fill, cause",
    [
        (remove("submission"), "submission: no such folder"),
        (write("hw1.ipynb", b'{"cells": [ not json'), "hw1.ipynb: not a notebook (invalid JSON"),
        (write("hw1.zip", b"PK\x03\x04 not a zip at all"), "hw1.zip: not a zip archive"),
        (remove("results"), "results: no such folder"),
    ],
    ids=["no-submission-folder", "corrupt-notebook", "corrupt-zip", "no-results-folder"],
)
def test_bad_input_is_one_line_and_a_score_of_zero(autograder, fill, cause):
    proc, data = grade(autograder, fill)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and cause in proc.stderr, proc.stderr
    if (autograder.root / "results").is_dir():
        assert data["score"] == 0 and data["tests"] == [] and cause in data["output"]
    else:  # nowhere to tell the student: none is made
        assert data is None and not (autograder.root / "results").exists()


def test_course_gradescope_refuses_what_it_cannot_build(course, small_course, tmp_path):
    (tmp_path / "a-file").write_text("")
    cases = [
        (course.root, ["hw9", "--out", str(tmp_path / "x.zip")], "unknown assignment 'hw9'"),
        (small_course.root, ["later", "--out", str(tmp_path / "x.zip")], "is not built yet"),
        (small_course.root, ["intro", "--out", str(tmp_path / "x.zip")], "the hidden suite is not here"),
        (course.root, ["hw1", "--out", str(tmp_path / "a-file" / "x.zip")], "cannot be written"),
        (course.root, ["hw1", "--out", str(tmp_path)], "is a folder"),
    ]
    for root, args, cause in cases:
        result = build(root, *args)
        assert result.exit_code == 2 and cause in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert not list(tmp_path.rglob("*.zip")) and not list(tmp_path.glob(".x.zip*"))


def test_gradescope_results_follow_the_format_and_keep_hidden_tests_hidden(course):
    """A run of two tests, one public and one hidden that failed (no grading: the results are made here)."""
    a = course.assignment("hw1")
    tests = [
        results.TestResult("p", "Is the public question right?", "1.1", "public", 10.0, 10.0, True),
        results.TestResult("h", "Is the secret question right?", "1.1", "hidden", 0.0, 5.0, False, "wrong answer", "SECRET"),
    ]
    result = results.RunResult(
        "hw1", "x", "limits", ["public", "hidden"], tests, [results.TaskScore("1.1", "Entropy", 10.0, 15.0, 1, 2)]
    )
    for hidden in ("after_due_date", "after_published"):
        data = gradescope(result, a, hidden)
        VALIDATOR.validate(data)
        assert [t["visibility"] for t in data["tests"]] == ["visible", hidden]
        assert "secret" not in data["output"].lower() and "10 / 15" not in data["output"]
        assert data["output"].startswith("hw1: public tests 10 / 10 points (1 of 1 passed)")
    assert "when the grades are published" in data["output"]
    board = [{"name": "bits per character", "value": 2.31, "order": "asc"}]
    VALIDATOR.validate(gradescope(result, a, leaderboard=board))
    with pytest.raises(ValueError):
        gradescope(result, a, "visible")


@pytest.mark.parametrize(
    "doc",
    [
        {"score": 1, "tests": [{"score": 1, "visibility": "secret"}]},
        {"score": 1, "tests": [{"score": 1, "status": "ok"}]},
        {"score": 1, "tests": [{"score": 1, "number": 1.2}]},
        {"score": 1, "tests": [{"score": 1, "max_points": 2}]},
        {"tests": [{"name": "no score anywhere"}]},
        {"score": 1, "leaderboard": [{"name": "accuracy"}]},
        {"score": "100"},
    ],
)
def test_the_schema_refuses_what_gradescope_would_not_read(doc):
    assert not VALIDATOR.is_valid(doc)


def test_the_schema_takes_the_specification_example():
    VALIDATOR.check_schema(SCHEMA)
    VALIDATOR.validate(
        {
            "score": 44.0,
            "execution_time": 136,
            "output": "Text relevant to the entire submission",
            "output_format": "simple_format",
            "visibility": "after_due_date",
            "stdout_visibility": "visible",
            "extra_data": {},
            "tests": [
                {"score": 2.0, "max_score": 2.0, "status": "passed", "name": "Your name here", "number": "1.1"},
                {"output": "Giant multiline string", "tags": ["tag1"], "visibility": "visible", "score": 0},
            ],
            "leaderboard": [{"name": "Accuracy", "value": 0.926}, {"name": "Time", "value": 15.1, "order": "asc"}],
        }
    )
    VALIDATOR.validate({"tests": [{"score": 1.0}]})  # the score may be on each test instead


def test_setup_leaves_the_hidden_tests_and_held_out_data_to_root_alone(autograder):
    """setup.sh: what a worker must not read is root's alone; the code a worker imports is everyone's."""
    source = autograder.root / "source"
    hidden = source / "grader" / "suites" / "hw1" / "hidden"
    heldout = sorted(source.glob("datasets/**/heldout"))
    assert hidden.is_dir() and heldout
    for path in [hidden, *hidden.rglob("*"), *heldout, *(f for d in heldout for f in d.rglob("*"))]:
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
    for path, bits in (
        (source / "grader" / "worker" / "server.py", 0o004),
        (source / "grader" / "suites" / "hw1" / "public", 0o005),
    ):
        assert path.stat().st_mode & bits == bits, f"{path} is not readable by others"
