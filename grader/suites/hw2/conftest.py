"""Fixtures for the hw2 suites: the student's modules, the digits, the stored reference values."""

import json

import numpy as np
import pytest

from grader import paths
from grader.data import load_digits


@pytest.fixture
def pid_mod(submission):
    return submission.module("pid")


@pytest.fixture
def plant_mod(submission):
    return submission.module("plant")


@pytest.fixture
def lrc(submission):
    return submission.module("lr_control")


@pytest.fixture(scope="session")
def digits():
    """(x (n, 64) in [0, 1], labels, split): split 0 train, 1 validation, 2 test."""
    images, labels, split = load_digits()
    return images.reshape(-1, 64).astype(np.float32) / 16.0, labels.astype(np.int64), split


@pytest.fixture(scope="session")
def snapshot() -> dict:
    """Reference values made from the solutions by `course snapshot hw2` (see snapshots.py)."""
    return json.loads((paths.snapshot_dir("hw2") / "reference.json").read_text())
