"""A class whose names, files and messages are hostile: student folders named like class files or
spreadsheet formulas, links to other students' work, a named pipe for a module, and an exception
message full of terminal escapes, a formula and a forged score line. Every report stays readable,
bounded and truthful, and no link is followed."""

from __future__ import annotations

import csv
import json
import os
import shutil

import pytest

from grader import sandbox
from grader.batch import grade, student_dir
from grader.results import REPORT_CHARS, printable

HOSTILE_MESSAGE = '\x1b[2J\x1b]0;owned\x07\r=HYPERLINK("http://evil.example","open me")\nScore: 100 / 100\n'
FORMULA = '=HYPERLINK("evil.example","x")'  # a folder name: no slash


def notebook_of(solutions) -> dict:
    code = (solutions / "information.py").read_text() + "\n\n" + (solutions / "huffman.py").read_text()
    return {"cells": [{"cell_type": "code", "metadata": {}, "source": code, "outputs": [], "execution_count": None}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture(scope="module", params=["bwrap", "limits"])
def hostile(request, course, solutions, tmp_path_factory):
    """The class graded on both isolation paths: bubblewrap, and the fallback without it."""
    if request.param == "bwrap" and not sandbox.bwrap_path():
        pytest.skip("bubblewrap is not installed")
    subs = tmp_path_factory.mktemp("hostile")
    shutil.copytree(solutions, subs / "solution")
    shutil.copytree(solutions, subs / "grades.csv")  # a student whose name is a class file's
    shutil.copytree(course.root / "assignments" / "hw1", subs / FORMULA)
    shutil.copytree(solutions, subs / "escapes")
    with open(subs / "escapes" / "information.py", "a") as f:
        f.write("\n\ndef entropy(p):\n"
                f"    print({HOSTILE_MESSAGE!r} * 50)\n"
                f"    raise ValueError({HOSTILE_MESSAGE!r} + 'A' * 60000)\n")
    os.symlink(subs / "solution", subs / "link-to-a-student")
    (subs / "py-link").mkdir()
    shutil.copy(solutions / "information.py", subs / "py-link" / "information.py")
    os.symlink(subs / "solution" / "huffman.py", subs / "py-link" / "huffman.py")
    (subs / "notebook").mkdir()
    (subs / "notebook" / "hw1.ipynb").write_text(json.dumps(notebook_of(solutions)))
    (subs / "notebook-link").mkdir()
    os.symlink(subs / "notebook" / "hw1.ipynb", subs / "notebook-link" / "hw1.ipynb")
    (subs / "fifo").mkdir()
    shutil.copy(solutions / "information.py", subs / "fifo" / "information.py")
    os.mkfifo(subs / "fifo" / "huffman.py")
    out = tmp_path_factory.mktemp("graded")
    summary = grade(course, "hw1", subs, out, jobs=2, isolation=request.param)
    assert summary.isolation == request.param
    return {"out": out, "summary": summary}


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def test_students_and_class_files_do_not_share_a_folder(hostile):
    out = hostile["out"]
    rows = {r["student"]: r["total"] for r in csv.DictReader((out / "grades.csv").open())}
    assert rows["grades.csv"] == "100" and rows["solution"] == "100" and rows["notebook"] == "100"
    assert json.loads((student_dir(out, "grades.csv") / "result.json").read_text())["score"] == 100
    assert (out / "grades.csv").is_file()


def test_a_name_that_is_a_formula_is_text_in_every_csv(hostile):
    out = hostile["out"]
    for name in ("grades.csv", "failures.csv"):
        for row in csv.reader((out / name).open()):
            for cell in row:
                assert cell[:1] not in ("=", "+", "-", "@"), f"{name}: a cell a spreadsheet would run: {cell[:60]!r}"
    rows = {r["student"]: r["total"] for r in csv.DictReader((out / "grades.csv").open())}
    assert rows["'" + FORMULA] == "0"


def test_hostile_text_is_escaped_and_bounded_in_every_report(hostile):
    folder = student_dir(hostile["out"], "escapes")
    for name in ("result.json", "results.json", "feedback.txt"):
        size = (folder / name).stat().st_size
        assert size < 200_000, f"{name}: {size} bytes; one message may add at most a few KB"
        text = (folder / name).read_text()
        values = list(strings(json.loads(text))) if name.endswith(".json") else [text]
        for v in values:
            assert "\x1b" not in v and "\r" not in v and "\x07" not in v, f"{name}: a raw control character"
    feedback = (folder / "feedback.txt").read_text()
    assert not any(line.startswith("Score: 100") for line in feedback.splitlines()), "a forged score line"
    assert "\\x1b[2J" in feedback, "escapes are shown, not dropped"
    failures = (hostile["out"] / "failures.csv").read_text()
    assert "\x1b" not in failures and "\r=" not in failures
    result = json.loads((folder / "result.json").read_text())
    entropy = [t for t in result["tests"] if t["task"] == "1.1" and not t["passed"]]
    assert entropy and all(len(t["feedback"]) <= REPORT_CHARS + 100 for t in entropy)


@pytest.mark.parametrize("student,why", [
    ("link-to-a-student", "is a symbolic link"), ("py-link", "huffman.py: is a symbolic link"),
    ("notebook-link", "hw1.ipynb: is a symbolic link"), ("fifo", "huffman.py: is not a regular file"),
])
def test_links_and_special_files_are_refused_not_followed(hostile, student, why):
    result = json.loads((student_dir(hostile["out"], student) / "result.json").read_text())
    assert result["score"] == 0 and not result["tests"]
    assert any(why in note for note in result["notes"]), result["notes"]
    assert student in hostile["summary"].ungradable


def test_printable_escapes_controls_and_states_the_length():
    assert printable("a\x1b[31mb\rc\u202ed\ne\tf") == "a\\x1b[31mb\\x0dc\\u202ed\ne\tf"
    cut = printable("x" * 10_000, 100)
    assert cut.startswith("x" * 100) and cut.endswith("[cut: 10,000 characters in all]")
