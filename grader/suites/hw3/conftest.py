"""Fixtures for the hw3 suites."""

import pytest

from grader.data import digit_features


@pytest.fixture
def opt_mod(submission):
    return submission.module("optimizers")


@pytest.fixture(scope="session")
def digits():
    return digit_features()
