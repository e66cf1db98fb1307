"""The one tolerance of hw1's numeric comparisons, stated once in the handout.

|got - expected| <= ABS + REL * |expected|. Correct float64 answers that sum in another order, use
log2 instead of log / log 2, or loop instead of vectorising differ by about 1e-13 relative; REL
sits well above that (and above float32 round-off), and far below any mistake in a formula.
Integers (code lengths, bit counts) and bytes are compared exactly.
"""

from __future__ import annotations

from grader.assertions import close

REL = 1e-6
ABS = 1e-9


def approx(value, expected: float, what: str, hints=()) -> float:
    """`grader.assertions.close` with hw1's tolerance (an integer too large for a float is refused first)."""
    if type(value) is int and value.bit_length() > 1000:
        raise AssertionError(f"{what}: got an integer of {value.bit_length()} bits, expected {expected:.10g}")
    return close(value, expected, what, tol=ABS, rel=REL, hints=hints)
