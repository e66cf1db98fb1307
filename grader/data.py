"""The course's committed data sets, checked against their sha256 on every load."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from grader.errors import CourseError
from grader.paths import course_root


def datasets_dir() -> Path:
    return course_root() / "datasets"


def _verified_bytes(folder: str, name: str) -> bytes:
    path = datasets_dir() / folder / name
    try:
        data = path.read_bytes()
        sums = (path.parent / "SHA256SUMS").read_text()
    except FileNotFoundError as exc:
        raise CourseError(f"{exc.filename}: missing; the datasets/ folder is incomplete") from None
    expected = {line.split()[1]: line.split()[0] for line in sums.splitlines() if line.strip()}
    digest = hashlib.sha256(data).hexdigest()
    if expected.get(name) != digest:
        raise CourseError(f"{path}: sha256 {digest[:12]}... does not match SHA256SUMS; rebuild it with build.py")
    return data


def heldout_files() -> list[Path]:
    """Every held-out file (what only graders may see): datasets/*/heldout/*, checksums aside."""
    return sorted(p for p in datasets_dir().glob("*/heldout/*") if p.is_file() and p.name != "SHA256SUMS")


HELD_OUT_PLAYS = ("valid", "twelfth_night", "richard_ii", "coriolanus")


@cache
def load_text(split: str = "train") -> str:
    """The Shakespeare corpus (datasets/shakespeare/README.md): "train" (hw1's seven plays),
    "more_plays" (26 more: the capstone trains on both), or a held-out play, only in the instructor's
    copy: "valid" (The Tempest), "twelfth_night", "richard_ii", "coriolanus"."""
    if split not in ("train", "more_plays") + HELD_OUT_PLAYS:
        raise ValueError(f"split must be one of train, more_plays, {', '.join(HELD_OUT_PLAYS)}; not {split!r}")
    folder = "shakespeare" if split in ("train", "more_plays") else "shakespeare/heldout"
    return _verified_bytes(folder, f"{split}.txt").decode("ascii")


WITHHELD = 255  # the label a test image has where the held-out labels are not here


def _images(folder: str, name: str):
    """(images, labels, split) of an image set saved by its build.py, the test split's labels
    filled in from `folder`/heldout/ where that is here (the instructor's copy), else WITHHELD."""
    import io

    import numpy as np

    with np.load(io.BytesIO(_verified_bytes(folder, name))) as z:
        images, labels, split = z["images"], z["labels"].copy(), z["split"]
    if (datasets_dir() / folder / "heldout").is_dir():
        with np.load(io.BytesIO(_verified_bytes(f"{folder}/heldout", "test-labels.npz"))) as z:
            labels[split == 2] = z["labels"]
    return images, labels, split


@cache
def load_digits():
    """The 8x8 digits as (images uint8 (1797, 8, 8), labels uint8 (1797,), split uint8 (1797,)).
    The test split's labels come from datasets/digits/heldout/ (the instructor's copy); where that
    is absent, as in the student distribution, they read WITHHELD."""
    return _images("digits", "digits.npz")


@cache
def load_mnist():
    """The 5,000 28x28 MNIST digits as (images uint8 (5000, 28, 28) in 0..255, labels uint8 (5000,),
    split uint8 (5000,): 0 train 3,000, 1 validation 1,000, 2 test 1,000). The test split's labels
    come from datasets/mnist5k/heldout/ (the instructor's copy), else they read WITHHELD."""
    return _images("mnist5k", "mnist5k.npz")


def digit_features():
    """The digits as a model reads them: (x float32 (1797, 64) in [0, 1], labels int64, split),
    split 0 train, 1 validation, 2 test."""
    import numpy as np

    images, labels, split = load_digits()
    return images.reshape(-1, 64).astype(np.float32) / 16.0, labels.astype(np.int64), split


def mnist_features():
    """The 28x28 digits as a model reads them: (x float32 (5000, 1, 28, 28) in [0, 1], labels
    int64, split), split 0 train, 1 validation, 2 test."""
    import numpy as np

    images, labels, split = load_mnist()
    return images[:, None].astype(np.float32) / 255.0, labels.astype(np.int64), split


def mnist_tensors():
    """mnist_features as torch tensors: (x float32 (5000, 1, 28, 28), labels int64, split int64)."""
    import torch

    x, labels, split = mnist_features()
    return torch.from_numpy(x), torch.from_numpy(labels), torch.from_numpy(split.astype("int64"))


def mnist_split(which: int):
    """(x, labels) of one split of the 28x28 digits as torch tensors: 0 the 3,000 training digits,
    1 the 1,000 validation digits, 2 the 1,000 test digits (labels 255 without the held-out ones)."""
    x, labels, split = mnist_tensors()
    return x[split == which], labels[split == which]
