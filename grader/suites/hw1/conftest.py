"""Fixtures for the hw1 suites: the student's two modules, the corpus, the stored reference values."""

import json
from collections import Counter

import pytest

from grader import paths
from grader.data import load_text
from grader.suites.hw1.codes import char_counts


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
def snapshot() -> dict:
    """Reference values made from the solutions by `course snapshot hw1` (see snapshots.py)."""
    return json.loads((paths.snapshot_dir("hw1") / "reference.json").read_text())
