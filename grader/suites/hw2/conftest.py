"""Fixtures for the hw2 suites: the student's modules, the digits, the stored reference values."""

import pytest

from grader.data import digit_features


@pytest.fixture
def pid_mod(submission):
    return submission.module("pid")


@pytest.fixture
def plant_mod(submission):
    return submission.module("plant")


@pytest.fixture(scope="session")
def digits():
    """(x (n, 64) in [0, 1], labels, split): split 0 train, 1 validation, 2 test."""
    return digit_features()
