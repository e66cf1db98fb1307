"""Export scikit-learn's bundled 8x8 handwritten digits to `digits.npz`, once.

Run by the maintainers (scikit-learn is not a course dependency); the output is committed:

    pip install scikit-learn
    python datasets/digits/build.py

`digits.npz` holds `images` (1797, 8, 8) uint8 in 0..16, `labels` (1797,) uint8 and a fixed
`split` (1797,) uint8 (0 train, 1 validation, 2 test) drawn once with seed 0, stratified by label.
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
    out = HERE / "digits.npz"
    with open(out, "wb") as f:
        np.savez(f, images=images, labels=labels, split=split)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    (HERE / "SHA256SUMS").write_text(f"{digest}  digits.npz\n")
    print(f"digits.npz: {len(labels)} images, split {np.bincount(split).tolist()}, sha256 {digest}")


if __name__ == "__main__":
    main()
