"""Every failure a student can see says what went wrong: no bare `assert` in a grading suite."""

import ast

import pytest

from grader import paths

SUITE_FILES = sorted(p for p in paths.SUITES.rglob("*.py") if "_snapshots" not in p.parts)


def bare_asserts(source: str) -> list[int]:
    return [node.lineno for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Assert) and node.msg is None]


def test_the_check_finds_a_bare_assert():
    """Would a bare assert be noticed? (The check itself can fail.)"""
    assert bare_asserts("assert x == 1\nassert y, 'y is empty'\n") == [1], "a bare assert went unnoticed"


@pytest.mark.parametrize("path", SUITE_FILES, ids=lambda p: p.relative_to(paths.SUITES).as_posix())
def test_every_assert_in_a_suite_carries_a_message(path):
    lines = bare_asserts(path.read_text())
    assert not lines, f"{path.relative_to(paths.SUITES)}: assert without a message on line(s) {lines}"
