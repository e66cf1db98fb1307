"""Export scikit-learn's bundled 8x8 handwritten digits to `digits.npz`, once.

Run by the maintainers (scikit-learn is not a course dependency); the output is committed:

    pip install scikit-learn
    python datasets/digits/build.py

`digits.npz` holds `images` (1797, 8, 8) uint8 in 0..16, `labels` (1797,) uint8 and a fixed
`split` (1797,) uint8 (0 train, 1 validation, 2 test) drawn once with seed 0, stratified by label.
The test split's labels are held out: in `digits.npz` they read 255 (WITHHELD), and the true ones
are in `heldout/test-labels.npz` (`labels`, in the order of the test images), which only the
instructor's copy holds (`course release --out` leaves `heldout/` folders out).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main() -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.uint8)
    labels = digits.target.astype(np.uint8)
    rng = np.random.default_rng(0)
    split = np.zeros(len(labels), dtype=np.uint8)
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = n_test = round(0.15 * len(idx))
        split[idx[:n_val]] = 1
        split[idx[n_val:n_val + n_test]] = 2
    write(images, labels, split)


WITHHELD = 255  # the label digits.npz gives a test image


def write(images, labels, split) -> None:
    """digits.npz (test labels withheld) and heldout/test-labels.npz, each with its SHA256SUMS."""
    public = np.where(split == 2, WITHHELD, labels).astype(np.uint8)
    (HERE / "heldout").mkdir(exist_ok=True)
    for folder, name, arrays in ((HERE, "digits.npz", dict(images=images, labels=public, split=split)),
                                 (HERE / "heldout", "test-labels.npz", dict(labels=labels[split == 2]))):
        with open(folder / name, "wb") as f:
            np.savez(f, **arrays)
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        (folder / "SHA256SUMS").write_text(f"{digest}  {name}\n")
        print(f"{name}: sha256 {digest}")
    print(f"{len(labels)} images, split {np.bincount(split).tolist()}")


if __name__ == "__main__":
    main()
