"""Fixtures for the hw1 suites: the student's two modules, the corpus, the stored reference values."""

from collections import Counter

import pytest

from grader.data import load_text
from grader.suites.hw1.codes import char_counts, hex_coded


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
def backwards(corpus) -> str:
    """The corpus read backwards: a text of the corpus' size that is not on disk, for the decoder."""
    return corpus[::-1]


@pytest.fixture(scope="session")
def backwards_coded(backwards) -> tuple[dict, bytes, int]:
    """(code, data, n_bits): the backwards corpus under a code of whole hex digits (session scope: built before a test's time starts)."""
    return hex_coded(backwards)
