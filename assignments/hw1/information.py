"""hw1, part 1: entropy, cross-entropy, KL divergence, mutual information, and the entropy of English.

The functions of tasks 1.1-1.3 take probabilities as any array-like of numbers, conditional_entropy
a text; each takes a logarithm `base` (2, the default, gives bits; math.e gives nats) and returns a
Python float. Invalid input raises ValueError with a message saying what is wrong.
Conventions (Cover & Thomas, section 2.1): 0 log 0 = 0, 0 log (0/q) = 0, p log (p/0) = +inf.
"""

from __future__ import annotations

import math
import numpy as np

TOLERANCE = 1e-6  # how far from 1 a distribution's sum may be


def check_distribution(p, name: str = "p") -> np.ndarray:
    """Return `p` as a 1-D float array, or raise ValueError saying what is wrong with it.

    A distribution is non-empty, finite, has no negative entry, and sums to 1 within TOLERANCE.
    """
    raise NotImplementedError("Task 1.1: check_distribution is not implemented yet")


def entropy(p, base: float = 2.0) -> float:
    """Task 1.1. Shannon entropy H(p) = -sum_i p_i log_base p_i, with 0 log 0 = 0 (bits for base 2).

    >>> entropy([0.5, 0.5])
    1.0
    Raises ValueError (via check_distribution) for an invalid distribution.
    """
    # HINT: mask the zero entries before taking the logarithm; divide by log(base) to change units.
    raise NotImplementedError("Task 1.1: entropy is not implemented yet")


def check_pair(p, q) -> tuple[np.ndarray, np.ndarray]:
    """Task 1.2. p and q as distributions (see check_distribution) over the same number of outcomes.

    Raises ValueError if either is not a distribution or their lengths differ.
    """
    raise NotImplementedError("Task 1.2: check_pair is not implemented yet")


def cross_entropy(p, q, base: float = 2.0) -> float:
    """Task 1.2. Cross-entropy H(p, q) = -sum_i p_i log_base q_i.

    Infinite when q_i = 0 for some i with p_i > 0. p and q must have the same length.
    """
    raise NotImplementedError("Task 1.2: cross_entropy is not implemented yet")


def kl_divergence(p, q, base: float = 2.0) -> float:
    """Task 1.2. Kullback-Leibler divergence D(p || q) = sum_i p_i log_base (p_i / q_i).

    Zero exactly when p = q; infinite when q has no mass somewhere p has. Not symmetric.
    """
    raise NotImplementedError("Task 1.2: kl_divergence is not implemented yet")


def mutual_information(joint, base: float = 2.0) -> float:
    """Task 1.3. I(X; Y) = sum_{x,y} p(x,y) log_base [p(x,y) / (p(x) p(y))].

    `joint` is a 2-D table with joint[x, y] = p(x, y): rows are values of X, columns values of Y.
    Raises ValueError unless it is a non-empty 2-D table whose entries are a distribution (finite,
    non-negative, summing to 1 within TOLERANCE).
    """
    raise NotImplementedError("Task 1.3: mutual_information is not implemented yet")


def conditional_entropy(text: str, k: int, base: float = 2.0) -> float:
    """Task 1.4. F_k: the empirical entropy of the next character given the k before it.

    (Shannon (1951) calls it F_{k+1}, numbering by the block of k + 1 characters.)

    Count every position i >= k of `text`: the context c = text[i-k:i] and the character x = text[i].
    With n(c, x) those counts, n(c) = sum_x n(c, x) and N = len(text) - k,

        F = -sum_{c,x} n(c, x)/N * log_base( n(c, x) / n(c) ).

    N is the number of positions, and only that. k = 0 gives the entropy of single characters.
    Raises ValueError if k < 0 or len(text) <= k.
    """
    # HINT: a Counter of the (k+1)-character windows gives n(c, x); sum them by their first k characters for n(c).
    raise NotImplementedError("Task 1.4: conditional_entropy is not implemented yet")
