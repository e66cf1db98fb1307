"""The code's habits, checked on every run: ruff (lint and format) and mypy are clean on grader/.

The tools come with the project's development install (`pip install -e ".[nbgrader,dev]"`, the
README's first command); their settings are in pyproject.toml.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def tool(*args: str) -> subprocess.CompletedProcess:
    if importlib.util.find_spec(args[0]) is None:
        pytest.fail(f"{args[0]} is not installed: pip install -e '.[nbgrader,dev]'")
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing_in_grader():
    run = tool("ruff", "check", "grader")
    assert run.returncode == 0, run.stdout[-4000:]


def test_grader_is_formatted_by_ruff():
    run = tool("ruff", "format", "--check", "grader")
    assert run.returncode == 0, run.stdout[-4000:]


def test_mypy_finds_nothing_in_grader():
    run = tool("mypy")
    assert run.returncode == 0, run.stdout[-4000:]
