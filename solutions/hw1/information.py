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
    ### BEGIN SOLUTION 1.1
    arr = np.asarray(p, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of probabilities")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has a non-finite entry")
    if np.any(arr < 0):
        raise ValueError(f"{name} has a negative entry")
    if abs(arr.sum() - 1.0) > TOLERANCE:
        raise ValueError(f"{name} sums to {arr.sum():.6g}, not 1")
    return arr
    ### END SOLUTION


def entropy(p, base: float = 2.0) -> float:
    """Task 1.1. Shannon entropy H(p) = -sum_i p_i log_base p_i, with 0 log 0 = 0 (bits for base 2).

    >>> entropy([0.5, 0.5])
    1.0
    Raises ValueError (via check_distribution) for an invalid distribution.
    """
    ### BEGIN SOLUTION 1.1
    # HINT: mask the zero entries before taking the logarithm; divide by log(base) to change units.
    p = check_distribution(p)
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum() / math.log(base)) + 0.0
    ### END SOLUTION


def check_pair(p, q) -> tuple[np.ndarray, np.ndarray]:
    """Task 1.2. p and q as distributions (see check_distribution) over the same number of outcomes.

    Raises ValueError if either is not a distribution or their lengths differ.
    """
    ### BEGIN SOLUTION 1.2
    p, q = check_distribution(p, "p"), check_distribution(q, "q")
    if p.shape != q.shape:
        raise ValueError(f"p has {p.size} outcomes and q has {q.size}")
    return p, q
    ### END SOLUTION


def cross_entropy(p, q, base: float = 2.0) -> float:
    """Task 1.2. Cross-entropy H(p, q) = -sum_i p_i log_base q_i.

    Infinite when q_i = 0 for some i with p_i > 0. p and q must have the same length.
    """
    ### BEGIN SOLUTION 1.2
    p, q = check_pair(p, q)
    support = p > 0
    if np.any(q[support] == 0):
        return math.inf
    return float(-(p[support] * np.log(q[support])).sum() / math.log(base)) + 0.0
    ### END SOLUTION


def kl_divergence(p, q, base: float = 2.0) -> float:
    """Task 1.2. Kullback-Leibler divergence D(p || q) = sum_i p_i log_base (p_i / q_i).

    Zero exactly when p = q; infinite when q has no mass somewhere p has. Not symmetric.
    """
    ### BEGIN SOLUTION 1.2
    p, q = check_pair(p, q)
    support = p > 0
    if np.any(q[support] == 0):
        return math.inf
    ps, qs = p[support], q[support]
    return max(0.0, float((ps * np.log(ps / qs)).sum() / math.log(base)))
    ### END SOLUTION


def mutual_information(joint, base: float = 2.0) -> float:
    """Task 1.3. I(X; Y) = sum_{x,y} p(x,y) log_base [p(x,y) / (p(x) p(y))].

    `joint` is a 2-D table with joint[x, y] = p(x, y): rows are values of X, columns values of Y.
    Raises ValueError unless it is a non-empty 2-D table whose entries are a distribution (finite,
    non-negative, summing to 1 within TOLERANCE).
    """
    ### BEGIN SOLUTION 1.3
    pxy = np.asarray(joint, dtype=float)
    if pxy.ndim != 2 or pxy.size == 0:
        raise ValueError("joint must be a non-empty 2-D table")
    check_distribution(pxy.ravel(), "joint")
    px = pxy.sum(axis=1, keepdims=True)  # (|X|, 1)
    py = pxy.sum(axis=0, keepdims=True)  # (1, |Y|)
    nz = pxy > 0
    ratio = pxy[nz] / (px @ py)[nz]
    return max(0.0, float((pxy[nz] * np.log(ratio)).sum() / math.log(base)))
    ### END SOLUTION


def conditional_entropy(text: str, k: int, base: float = 2.0) -> float:
    """Task 1.4. F_k: the empirical entropy of the next character given the k before it.

    (Shannon (1951) calls it F_{k+1}, numbering by the block of k + 1 characters.)

    Count every position i >= k of `text`: the context c = text[i-k:i] and the character x = text[i].
    With n(c, x) those counts, n(c) = sum_x n(c, x) and N = len(text) - k,

        F = -sum_{c,x} n(c, x)/N * log_base( n(c, x) / n(c) ).

    N is the number of positions, and only that. k = 0 gives the entropy of single characters.
    Raises ValueError if k < 0 or len(text) <= k.
    """
    ### BEGIN SOLUTION 1.4
    # HINT: a Counter of the (k+1)-character windows gives n(c, x); sum them by their first k characters for n(c).
    if k < 0 or len(text) <= k:
        raise ValueError(f"need 0 <= k < len(text), got k={k} for {len(text)} characters")
    _, ids = np.unique(np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32), return_inverse=True)
    n, size = len(ids), int(ids.max()) + 1
    context = np.zeros(n - k, dtype=np.int64)  # context[i - k] numbers text[i - k : i]
    for j in range(k):
        context = context * size + ids[j : j + n - k]
        if context.max() >= 2**62 // size:  # renumber before the next step could overflow
            _, context = np.unique(context, return_inverse=True)
    pairs, pair_counts = np.unique(context * size + ids[k:], return_counts=True)
    contexts, context_counts = np.unique(context, return_counts=True)
    context_counts = context_counts[np.searchsorted(contexts, pairs // size)]
    return float(-(pair_counts / (n - k) * np.log(pair_counts / context_counts)).sum() / math.log(base)) + 0.0
    ### END SOLUTION
