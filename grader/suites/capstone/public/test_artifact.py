"""Public tests for task 6.6: your submitted model.pt and model.sqz, on the public text.

Everything is measured on the grading side: model.sqz's size is its length in bytes (at most 1 MiB);
model.pt is read as tensors (torch.load, weights_only) and its bits per character computed by the
course's own model; model.sqz is loaded by your squeeze.unpack in the worker and its logits on the
text come back, turned into distributions and rates here. The hidden tests measure the same on a
play that is in no file of the release."""

from __future__ import annotations

import pytest

from grader.suites.capstone import artifact
from grader.suites.capstone.artifact_fixtures import causal, judged, kept_rate

PUBLIC_CHARS = 8_192


@pytest.fixture(scope="session")
def on_public(submission, seed_of, public_text):
    return lambda: judged(submission, seed_of, "public", public_text[:PUBLIC_CHARS])


@pytest.mark.task("6.6")
def test_your_files_load(on_public):
    """Do model.pt (gpt.save) and model.sqz (squeeze.unpack, at most 1 MiB) load as one gpt.GPT, the compressed one with model.pt's shapes?"""
    j = on_public()
    assert j.sqz_bytes <= artifact.CAP_BYTES, f"model.sqz has {j.sqz_bytes:,} bytes, over the cap of {artifact.CAP_BYTES:,}"


@pytest.mark.task("6.6")
def test_the_compressed_model_is_causal(on_public):
    """Does the distribution your compressed model gives character j stay the same when characters after j change?"""
    causal(on_public())


@pytest.mark.task("6.6")
def test_the_compressed_model_keeps_its_rate_on_the_public_text(on_public):
    """On the first 8,192 characters of train.txt, does model.sqz code within 3% of model.pt's bits per character?"""
    j = on_public()
    causal(j)
    kept_rate(j, "the public text")
