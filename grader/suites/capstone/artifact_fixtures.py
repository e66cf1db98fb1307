"""The shared run of task 6.6's tests: the submission's files judged once per submission and text
(artifact.judge), kept beside the submission object (public and hidden test modules share it)."""

from __future__ import annotations

import weakref

from grader.errors import StudentError
from grader.suites.capstone import artifact

_JUDGED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def judged(submission, seed_of, name: str, text: str) -> artifact.Judged:
    """artifact.judge of the submission on `text`, computed once; a failure is every caller's."""
    done = _JUDGED.setdefault(submission, {})
    if name not in done:
        try:
            done[name] = artifact.judge(submission, text, seed_of("causality probe"))
        except (AssertionError, StudentError) as e:
            done[name] = e
    if isinstance(done[name], Exception):
        raise done[name]
    return done[name]


def causal(j: artifact.Judged) -> None:
    """The rate tests' gate: a model that peeks ahead is not a compressor."""
    if j.causal:
        raise AssertionError(f"no points for the rates: {j.causal}")


def kept_rate(j: artifact.Judged, where: str) -> None:
    if j.loss > artifact.MAX_LOSS:
        raise AssertionError(
            f"on {where} the compressed model codes at {j.sqz_bpc:.4f} bits per character, {100 * j.loss:.2f}% above "
            f"the float32 checkpoint's {j.float_bpc:.4f}: more than the {100 * artifact.MAX_LOSS:.0f}% allowed"
        )
