"""Fixtures for the hw1 suites: the student's two modules, the corpus, the stored reference values."""

import json
from collections import Counter

import pytest

from grader import paths
from grader.data import load_text
from grader.suites.hw1.codes import char_counts, gamma_packed


@pytest.fixture
def info(submission):
    return submission.module("information")


@pytest.fixture
def huff(submission):
    return submission.module("huffman")


@pytest.fixture(scope="session")
def corpus() -> str:
    return load_text("train")


@pytest.fixture(scope="session")
def corpus_counts(corpus) -> Counter:
    return char_counts(corpus)


@pytest.fixture(scope="session")
def corpus_packed(corpus) -> tuple[bytes, int]:
    """The corpus encoded by the grader (session scope: computed before a test's time starts)."""
    return gamma_packed(corpus)


@pytest.fixture(scope="session")
def snapshot() -> dict:
    """Reference values made from the solutions by `course snapshot hw1` (see snapshots.py)."""
    return json.loads((paths.snapshot_dir("hw1") / "reference.json").read_text())
