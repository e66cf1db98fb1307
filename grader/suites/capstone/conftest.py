"""Fixtures for the capstone suites. The grading side's own model (model.py) computes every rate and
bits-per-character figure from weights or from the logits a worker returns; the texts are the
course's (datasets/shakespeare), the hidden play only in hidden suites (hidden/conftest.py)."""

from __future__ import annotations

import pytest

from grader.data import load_text


@pytest.fixture(scope="session")
def public_text() -> str:
    """hw1's training text (seven plays, in every release): what public tests read."""
    return load_text("train")


@pytest.fixture
def gpt(submission):
    return submission.module("gpt")


@pytest.fixture
def train(submission):
    return submission.module("train")


@pytest.fixture
def coder(submission):
    return submission.module("coder")


@pytest.fixture
def squeeze(submission):
    return submission.module("squeeze")


@pytest.fixture
def tradeoff(submission):
    return submission.module("tradeoff")
