"""Public tests for hw1 part 1 (information.py): tasks 1.1-1.4."""

import math

import numpy as np
import pytest

from grader.assertions import near, number, raises
from grader.errors import StudentError
from grader.suites.hw1.snapshots import ENGLISH_CHARS
from grader.suites.hw1.tolerance import approx

LN2 = math.log(2)


def in_nats(expected):
    return (lambda x: near(x, expected * LN2), "the value looks like nats: use log base 2, or divide by ln 2")


def dirichlet(seed, n, zeros=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(n))
    p[rng.choice(n, size=zeros, replace=False)] = 0.0
    return (p / p.sum()).tolist()


def h_bits(p):
    p = np.asarray(p, float)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


# ---- 1.1 entropy -------------------------------------------------------------------------------


@pytest.mark.task("1.1")
def test_fair_coin_has_one_bit(info):
    """Is the entropy of a fair coin 1 bit?"""
    approx(info.entropy([0.5, 0.5]), 1.0, "H([1/2, 1/2])", hints=[in_nats(1.0)])


@pytest.mark.task("1.1")
def test_uniform_has_log_n_in_any_base(info):
    """Is the entropy of a uniform distribution log_b n, for b = 2, e and 10?"""
    p = [1 / 8] * 8
    approx(info.entropy(p), 3.0, "H(uniform over 8) in bits", hints=[in_nats(3.0)])
    approx(
        info.entropy(p, base=math.e),
        math.log(8),
        "H(uniform over 8) with base=e (nats)",
        hints=[(lambda x: near(x, 3.0), "the base argument is ignored: divide by ln(base)")],
    )
    approx(info.entropy(p, base=10), math.log10(8), "H(uniform over 8) with base=10")


@pytest.mark.task("1.1")
def test_zero_probabilities_contribute_nothing(info):
    """Does 0 log 0 count as 0 (an impossible outcome adds no uncertainty)?"""
    approx(
        info.entropy([0.5, 0.0, 0.5, 0.0]),
        1.0,
        "H([1/2, 0, 1/2, 0])",
        hints=[(math.isnan, "got nan: 0 * log 0 must count as 0; drop the zero entries before the log")],
    )
    approx(
        info.entropy([1.0, 0.0]), 0.0, "H([1, 0]) (a certain outcome)", hints=[(math.isnan, "got nan: 0 * log 0 must count as 0")]
    )


@pytest.mark.task("1.1")
def test_entropy_of_random_distributions(info):
    """Does H(p) match -sum p log2 p on random distributions, some with zero entries?"""
    for seed, n, zeros in [(1, 3, 0), (2, 10, 3), (3, 50, 10)]:
        p = dirichlet(seed, n, zeros)
        approx(
            info.entropy(p),
            h_bits(p),
            f"H(p) for a random p with {n} outcomes ({zeros} zero)",
            hints=[in_nats(h_bits(p)), (math.isnan, "got nan: 0 * log 0 must count as 0")],
        )


@pytest.mark.task("1.1")
def test_invalid_distributions_raise_value_error(info):
    """Does entropy refuse what is not a distribution, with ValueError?"""
    raises("ValueError", info.entropy, [0.5, 0.6], what="entropy([0.5, 0.6]) (sums to 1.1: not a distribution)")
    raises("ValueError", info.entropy, [1.5, -0.5], what="entropy([1.5, -0.5]) (a negative entry: not a distribution)")
    raises("ValueError", info.entropy, [], what="entropy([]) (no outcomes: not a distribution)")


# ---- 1.2 cross-entropy and KL divergence -------------------------------------------------------

P, Q = [0.5, 0.5], [0.25, 0.75]
KL_PQ = 0.5 * math.log2(0.5 / 0.25) + 0.5 * math.log2(0.5 / 0.75)  # 0.2075 bits
KL_QP = 0.25 * math.log2(0.25 / 0.5) + 0.75 * math.log2(0.75 / 0.5)  # 0.1887 bits


@pytest.mark.task("1.2")
def test_kl_divergence_known_pair(info):
    """Is D(p||q) = sum p log2(p/q), with the expectation under p, not q?"""
    approx(
        info.kl_divergence(P, Q),
        KL_PQ,
        "D([1/2, 1/2] || [1/4, 3/4])",
        hints=[
            (lambda x: near(x, KL_QP), "this is D(q||p): the arguments are swapped; weight by p and divide p by q"),
            in_nats(KL_PQ),
        ],
    )
    approx(
        info.kl_divergence(Q, P),
        KL_QP,
        "D([1/4, 3/4] || [1/2, 1/2])",
        hints=[(lambda x: near(x, KL_PQ), "this is D(p||q) of the swapped pair: KL divergence is not symmetric")],
    )


@pytest.mark.task("1.2")
def test_kl_divergence_is_zero_only_for_equal_distributions(info):
    """Is D(p||p) = 0 and D(p||q) > 0 for p != q (Gibbs' inequality)?"""
    for seed in (4, 5):
        p, q = dirichlet(seed, 6), dirichlet(seed + 100, 6)
        approx(info.kl_divergence(p, p), 0.0, "D(p||p)")
        d = number(info.kl_divergence(p, q), "D(p||q)")
        assert d > 0, f"D(p||q) for two different distributions must be positive, got {d}"


@pytest.mark.task("1.2")
def test_kl_divergence_infinite_off_support(info):
    """Is D(p||q) infinite where q has no mass on p's support, and finite where only p is zero?"""
    approx(
        info.kl_divergence([0.5, 0.5], [1.0, 0.0]),
        math.inf,
        "D([1/2, 1/2] || [1, 0])",
        hints=[(math.isnan, "got nan: p log(p/0) is +inf, return math.inf")],
    )
    approx(
        info.kl_divergence([1.0, 0.0], [0.5, 0.5]),
        1.0,
        "D([1, 0] || [1/2, 1/2])",
        hints=[
            (math.isnan, "got nan: terms with p = 0 contribute 0 (0 log 0 = 0); sum over p's support only"),
            (
                lambda x: x == 0,
                "got 0, but D(p||q) > 0 whenever p != q; terms with p = 0 contribute 0 "
                "(0 log 0 = 0), so sum over p's support only",
            ),
        ],
    )


@pytest.mark.task("1.2")
def test_cross_entropy_is_entropy_plus_divergence(info):
    """Is H(p, q) = H(p) + D(p||q), and infinite where q misses p's support?"""
    for seed in (6, 7):
        p, q = dirichlet(seed, 8), dirichlet(seed + 50, 8)
        expected = float(-(np.asarray(p) * np.log2(q)).sum())
        approx(
            info.cross_entropy(p, q),
            expected,
            "H(p, q) = -sum p log2 q",
            hints=[
                (
                    lambda x, p=p, q=q: near(x, float(-(np.asarray(q) * np.log2(p)).sum())),
                    "this is H(q, p): weight by p, take the log of q",
                ),
                in_nats(expected),
            ],
        )
    approx(
        info.cross_entropy([0.5, 0.5], [1.0, 0.0]),
        math.inf,
        "H([1/2, 1/2], [1, 0])",
        hints=[(math.isnan, "got nan: -p log 0 is +inf, return math.inf")],
    )


# ---- 1.3 mutual information -------------------------------------------------------------------


def mi_bits(joint, px=None, py=None):
    """I(X;Y) in bits; `px`, `py` replace the marginals (to recognise the wrong ones)."""
    j = np.asarray(joint, float)
    px = j.sum(1, keepdims=True) if px is None else np.reshape(px, (-1, 1))
    py = j.sum(0, keepdims=True) if py is None else np.reshape(py, (1, -1))
    nz = j > 0
    return float((j[nz] * np.log2(j[nz] / (px @ py)[nz])).sum())


def mi_hints(joint):
    """Hints for I(X;Y) of `joint`: the usual mistakes, recognised by the value they give."""
    j = np.asarray(joint, float)
    expected, rows, cols = mi_bits(j), j.sum(1), j.sum(0)
    hints = [(lambda x: x < -1e-9, "I(X;Y) is never negative: the ratio is p(x, y) / (p(x) p(y)), not its inverse")]
    if j.shape[0] == j.shape[1]:
        wrong = [mi_bits(j, px=cols), mi_bits(j, py=rows), mi_bits(j, px=cols, py=rows)]
        hints.append(
            (
                lambda x: any(near(x, w) for w in wrong),
                "a marginal over the wrong axis: p(x) = sum over y = row sums (axis=1), p(y) = column sums (axis=0)",
            )
        )
    return [*hints, in_nats(expected)]


def mutual_information(info, joint, what, **kwargs):
    """The student's I(X;Y) of `joint`; a shape error on a rectangular table names its likely cause."""
    rows, cols = np.shape(joint)
    try:
        return info.mutual_information(joint, **kwargs)
    except StudentError as exc:
        if rows != cols and (exc.is_a("IndexError") or exc.is_a("ValueError")):
            raise AssertionError(
                f"{what}: {exc}; the table need not be square: p(x) sums each row (axis=1) and has {rows} entries, "
                f"p(y) sums each column (axis=0) and has {cols}"
            ) from None
        raise


@pytest.mark.task("1.3")
def test_mutual_information_of_copies_and_independent_variables(info):
    """Is I(X;X) = H(X) for a copied fair bit, and I(X;Y) = 0 for independent X and Y?"""
    what = "I(X;Y) when Y = X is a fair bit"
    approx(mutual_information(info, [[0.5, 0.0], [0.0, 0.5]], what), 1.0, what, hints=mi_hints([[0.5, 0.0], [0.0, 0.5]]))
    independent = np.outer([0.2, 0.3, 0.5], [0.6, 0.4]).tolist()
    what = "I(X;Y) for p(x,y) = p(x) p(y)"
    approx(mutual_information(info, independent, what), 0.0, what, hints=mi_hints(independent))


@pytest.mark.task("1.3")
def test_mutual_information_uses_row_and_column_sums(info):
    """Does I(X;Y) use p(x) = row sums and p(y) = column sums, on a lopsided 3x3 and a 3x2 table?"""
    for joint in ([[0.40, 0.05, 0.05], [0.00, 0.20, 0.00], [0.10, 0.10, 0.10]], [[0.30, 0.05], [0.10, 0.15], [0.05, 0.35]]):
        what = f"I(X;Y) for the {len(joint)}x{len(joint[0])} joint table {joint}"
        approx(mutual_information(info, joint, what), mi_bits(joint), what, hints=mi_hints(joint))


@pytest.mark.task("1.3")
def test_mutual_information_is_symmetric_and_bounded(info):
    """Is I(X;Y) = I(Y;X) and 0 <= I(X;Y) <= min(H(X), H(Y)) on random tables?"""
    rng = np.random.default_rng(8)
    j = rng.dirichlet(np.ones(12)).reshape(3, 4)
    a = approx(
        mutual_information(info, j.tolist(), "I(X;Y) for a random 3x4 table"),
        mi_bits(j),
        "I(X;Y) for a random 3x4 table",
        hints=mi_hints(j),
    )
    b = mutual_information(info, j.T.tolist(), "I(Y;X) (the transposed table)")
    approx(b, a, "I(Y;X) (the transposed table) against I(X;Y)")
    hx, hy = h_bits(j.sum(1)), h_bits(j.sum(0))
    assert 0 <= a <= min(hx, hy) + 1e-9, f"I(X;Y) = {a} must lie in [0, min(H(X), H(Y))] = [0, {min(hx, hy):.6f}]"


# ---- 1.4 conditional entropy of English -----------------------------------------------------------


def ce_hints(expected, k, n_chars, previous=None, blocks=None):
    """Hints for F_k: the usual mistakes, recognised by the value they give."""
    hints = []
    if k > 0 and previous is not None:
        hints.append((lambda x: near(x, previous, 1e-3), f"this is the k={k - 1} value: the context is one character short"))
    if k > 0 and blocks is not None:
        hints.append(
            (
                lambda x: near(x, blocks, 1e-3),
                "that is the entropy of whole (k+1)-character blocks, H(c, x): inside the log, divide n(c, x) by n(c), not by N",
            )
        )
    if k > 0:
        hints.append(
            (
                lambda x: near(x, expected * (n_chars - k) / n_chars),
                f"the weights divide by len(text); there are N = len(text) - k = {n_chars - k} positions",
            )
        )
    return [*hints, (lambda x: near(x, expected * LN2), "the value looks like nats")]


@pytest.mark.task("1.4")
def test_conditional_entropy_order_zero_is_character_entropy(info):
    """With k = 0, is F the entropy of the single-character frequencies?"""
    text = "abracadabra"
    counts = np.array([5, 2, 2, 1, 1]) / 11
    approx(
        info.conditional_entropy(text, 0),
        h_bits(counts),
        "conditional_entropy('abracadabra', k=0)",
        hints=[in_nats(h_bits(counts))],
    )


@pytest.mark.task("1.4")
def test_conditional_entropy_of_a_predictable_text(info):
    """Is the next character of 'abab...' certain given one character of context (F = 0 at k = 1)?"""
    text = "ab" * 50
    approx(
        info.conditional_entropy(text, 1),
        0.0,
        "conditional_entropy('abab...', k=1)",
        hints=[
            (
                lambda x: near(x, 1.0, 1e-3),
                "1 bit is the cost with no context (k=0), or of a whole 2-character "
                "block: the context is one character short, or the log divides n(c, x) "
                "by N, not n(c)",
            )
        ],
    )
    # contexts from position 2: ab->c, bc->a, ca->b, ab->c, bc->a, ca->b, ab->d; only 'ab' is uncertain
    expected = 2 / 7 * math.log2(3 / 2) + 1 / 7 * math.log2(3)
    blocks = 3 * 2 / 7 * math.log2(7 / 2) + 1 / 7 * math.log2(7)  # the 3-character blocks abc, bca, cab twice, abd once
    approx(
        info.conditional_entropy("abcabcabd", 2),
        expected,
        "conditional_entropy('abcabcabd', k=2)",
        hints=[
            (lambda x: near(x, 0.0), "0 is too little: count every position i >= k, the last 'ab' is followed by 'd'"),
            *ce_hints(expected, 2, 9, blocks=blocks),
        ],
    )


@pytest.mark.task("1.4")
@pytest.mark.parametrize("k", range(4))
def test_conditional_entropy_of_english(info, corpus, snapshot, k):
    """On the first 200,000 characters of the corpus, does F_k match the reference (one k per test)?"""
    expected = snapshot["conditional_entropy"]
    approx(
        info.conditional_entropy(corpus[:ENGLISH_CHARS], k),
        expected[k],
        f"F for context length k={k} on the first {ENGLISH_CHARS:,} characters of the corpus (bits/character)",
        hints=ce_hints(expected[k], k, ENGLISH_CHARS, previous=expected[k - 1] if k else None, blocks=sum(expected[: k + 1])),
    )


@pytest.mark.task("1.4")
def test_conditional_entropy_rejects_bad_orders(info):
    """Does conditional_entropy raise ValueError for k < 0 or a text no longer than k?"""
    raises("ValueError", info.conditional_entropy, "abc", -1, what="conditional_entropy('abc', k=-1)")
    raises(
        "ValueError",
        info.conditional_entropy,
        "abc",
        3,
        what="conditional_entropy('abc', k=3) (no position has 3 characters before it)",
    )
