"""Hidden tests for task 6.6: your model.pt and model.sqz on the first 24,576 characters of Twelfth
Night, a play in no file of the release (datasets/shakespeare/heldout/, instructors only).

The ratio is model.pt's float32 size (4 bytes per parameter) over model.sqz's length in bytes, and
counts only while the compressed model codes within 3% of model.pt's bits per character: three
tests, at 4x, 8x and 12x (full points from 12x, none below 4x). The raw coding rate must beat bz2 -9
on the same characters, measured here. A model that peeks ahead scores nothing here."""

from __future__ import annotations

import pytest

from grader.data import load_text
from grader.suites.capstone import artifact
from grader.suites.capstone.artifact_fixtures import causal, judged, kept_rate

HIDDEN_PLAY, HIDDEN_CHARS = "twelfth_night", 24_576


@pytest.fixture(scope="session")
def on_hidden(submission, seed_of):
    return lambda: judged(submission, seed_of, "hidden", load_text(HIDDEN_PLAY)[:HIDDEN_CHARS])


def ratio_at_least(j: artifact.Judged, ratio: float) -> None:
    causal(j)
    kept_rate(j, "the hidden play")
    if j.ratio < ratio:
        raise AssertionError(
            f"model.pt's float32 size is {j.ratio:.2f} times model.sqz's ({j.float_bytes:,} bytes = 4 x {j.params:,} "
            f"parameters, against {j.sqz_bytes:,}): this test needs {ratio:g}x"
        )


@pytest.mark.task("6.6")
@pytest.mark.parametrize("ratio", [4.0, 8.0, 12.0])
def test_compressed_at_least(on_hidden, ratio):
    """On a hidden play, is model.sqz at least this many times smaller than model.pt's float32 size, with at most 3% more bits per character?"""
    ratio_at_least(on_hidden(), ratio)


@pytest.mark.task("6.6")
def test_beats_bz2_on_a_hidden_play(on_hidden):
    """On a hidden play, does your compressed model code in fewer bits per character than bz2 -9?"""
    j = on_hidden()
    causal(j)
    b = j.baselines
    if j.sqz_bpc >= b["bz2"]:
        raise AssertionError(
            f"the compressed model codes the hidden play at {j.sqz_bpc:.3f} bits per character; bz2 -9 at {b['bz2']:.3f} "
            f"(gzip -9 {b['gzip']:.3f}, xz -9e {b['xz']:.3f})"
        )
