"""Public tests for hw1 part 1 (information.py): tasks 1.1-1.4."""

import math

import numpy as np
import pytest

from grader.checks import close, near, raises

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
    close(info.entropy([0.5, 0.5]), 1.0, "H([1/2, 1/2])", hints=[in_nats(1.0)])


@pytest.mark.task("1.1")
def test_uniform_has_log_n_in_any_base(info):
    """Is the entropy of a uniform distribution log_b n, for b = 2, e and 10?"""
    p = [1 / 8] * 8
    close(info.entropy(p), 3.0, "H(uniform over 8) in bits", hints=[in_nats(3.0)])
    close(info.entropy(p, base=math.e), math.log(8), "H(uniform over 8) with base=e (nats)",
          hints=[(lambda x: near(x, 3.0), "the base argument is ignored: divide by ln(base)")])
    close(info.entropy(p, base=10), math.log10(8), "H(uniform over 8) with base=10")


@pytest.mark.task("1.1")
def test_zero_probabilities_contribute_nothing(info):
    """Does 0 log 0 count as 0 (an impossible outcome adds no uncertainty)?"""
    close(info.entropy([0.5, 0.0, 0.5, 0.0]), 1.0, "H([1/2, 0, 1/2, 0])",
          hints=[(math.isnan, "got nan: 0 * log 0 must count as 0; drop the zero entries before the log")])
    close(info.entropy([1.0, 0.0]), 0.0, "H([1, 0]) (a certain outcome)",
          hints=[(math.isnan, "got nan: 0 * log 0 must count as 0")])


@pytest.mark.task("1.1")
def test_entropy_of_random_distributions(info):
    """Does H(p) match -sum p log2 p on random distributions, some with zero entries?"""
    for seed, n, zeros in [(1, 3, 0), (2, 10, 3), (3, 50, 10)]:
        p = dirichlet(seed, n, zeros)
        close(info.entropy(p), h_bits(p), f"H(p) for a random p with {n} outcomes ({zeros} zero)", tol=1e-9,
              hints=[in_nats(h_bits(p)), (math.isnan, "got nan: 0 * log 0 must count as 0")])


@pytest.mark.task("1.1")
def test_invalid_distributions_raise_value_error(info):
    """Does entropy refuse what is not a distribution, with ValueError?"""
    raises("ValueError", info.entropy, [0.5, 0.6], what="entropy([0.5, 0.6]) (sums to 1.1)")
    raises("ValueError", info.entropy, [1.5, -0.5], what="entropy([1.5, -0.5]) (negative entry)")
    raises("ValueError", info.entropy, [], what="entropy([]) (no outcomes)")


# ---- 1.2 cross-entropy and KL divergence -------------------------------------------------------

P, Q = [0.5, 0.5], [0.25, 0.75]
KL_PQ = 0.5 * math.log2(0.5 / 0.25) + 0.5 * math.log2(0.5 / 0.75)  # 0.2075 bits
KL_QP = 0.25 * math.log2(0.25 / 0.5) + 0.75 * math.log2(0.75 / 0.5)  # 0.1887 bits


@pytest.mark.task("1.2")
def test_kl_divergence_known_pair(info):
    """Is D(p||q) = sum p log2(p/q), with the expectation under p, not q?"""
    close(info.kl_divergence(P, Q), KL_PQ, "D([1/2, 1/2] || [1/4, 3/4])",
          hints=[(lambda x: near(x, KL_QP), "this is D(q||p): the arguments are swapped; weight by p and divide p by q"),
                 in_nats(KL_PQ)])
    close(info.kl_divergence(Q, P), KL_QP, "D([1/4, 3/4] || [1/2, 1/2])",
          hints=[(lambda x: near(x, KL_PQ), "this is D(p||q) of the swapped pair: KL divergence is not symmetric")])


@pytest.mark.task("1.2")
def test_kl_divergence_is_zero_only_for_equal_distributions(info):
    """Is D(p||p) = 0 and D(p||q) > 0 for p != q (Gibbs' inequality)?"""
    for seed in (4, 5):
        p, q = dirichlet(seed, 6), dirichlet(seed + 100, 6)
        close(info.kl_divergence(p, p), 0.0, "D(p||p)", tol=1e-12)
        d = info.kl_divergence(p, q)
        assert d > 0, f"D(p||q) for two different distributions must be positive, got {d}"


@pytest.mark.task("1.2")
def test_kl_divergence_infinite_off_support(info):
    """Is D(p||q) infinite where q has no mass on p's support, and finite where only p is zero?"""
    close(info.kl_divergence([0.5, 0.5], [1.0, 0.0]), math.inf, "D([1/2, 1/2] || [1, 0])",
          hints=[(math.isnan, "got nan: p log(p/0) is +inf, return math.inf")])
    close(info.kl_divergence([1.0, 0.0], [0.5, 0.5]), 1.0, "D([1, 0] || [1/2, 1/2])",
          hints=[(math.isnan, "got nan: terms with p = 0 contribute 0")])


@pytest.mark.task("1.2")
def test_cross_entropy_is_entropy_plus_divergence(info):
    """Is H(p, q) = H(p) + D(p||q), and infinite where q misses p's support?"""
    for seed in (6, 7):
        p, q = dirichlet(seed, 8), dirichlet(seed + 50, 8)
        expected = float(-(np.asarray(p) * np.log2(q)).sum())
        close(info.cross_entropy(p, q), expected, "H(p, q) = -sum p log2 q", tol=1e-9,
              hints=[(lambda x: near(x, float(-(np.asarray(q) * np.log2(p)).sum())), "this is H(q, p): weight by p, take the log of q"),
                     in_nats(expected)])
    close(info.cross_entropy([0.5, 0.5], [1.0, 0.0]), math.inf, "H([1/2, 1/2], [1, 0])",
          hints=[(math.isnan, "got nan: -p log 0 is +inf, return math.inf")])


# ---- 1.3 mutual information -------------------------------------------------------------------

def mi_bits(joint):
    j = np.asarray(joint, float)
    px, py = j.sum(1, keepdims=True), j.sum(0, keepdims=True)
    nz = j > 0
    return float((j[nz] * np.log2(j[nz] / (px @ py)[nz])).sum())


@pytest.mark.task("1.3")
def test_mutual_information_of_copies_and_independent_variables(info):
    """Is I(X;X) = H(X) for a copied fair bit, and I(X;Y) = 0 for independent X and Y?"""
    close(info.mutual_information([[0.5, 0.0], [0.0, 0.5]]), 1.0, "I(X;Y) when Y = X is a fair bit", hints=[in_nats(1.0)])
    independent = np.outer([0.2, 0.3, 0.5], [0.6, 0.4]).tolist()
    close(info.mutual_information(independent), 0.0, "I(X;Y) for p(x,y) = p(x) p(y)", tol=1e-12)


@pytest.mark.task("1.3")
def test_mutual_information_on_a_rectangular_table(info):
    """Does I(X;Y) use p(x) = row sums and p(y) = column sums on a 3x2 table?"""
    joint = [[0.30, 0.05], [0.10, 0.15], [0.05, 0.35]]
    close(info.mutual_information(joint), mi_bits(joint), "I(X;Y) for a 3x2 joint table", tol=1e-9,
          hints=[in_nats(mi_bits(joint))])


@pytest.mark.task("1.3")
def test_mutual_information_is_symmetric_and_bounded(info):
    """Is I(X;Y) = I(Y;X) and 0 <= I(X;Y) <= min(H(X), H(Y)) on random tables?"""
    rng = np.random.default_rng(8)
    j = rng.dirichlet(np.ones(12)).reshape(3, 4)
    a, b = info.mutual_information(j.tolist()), info.mutual_information(j.T.tolist())
    close(a, mi_bits(j), "I(X;Y) for a random 3x4 table", tol=1e-9,
          hints=[(lambda x: near(x, mi_bits(j.T[:3, :3])), "check which axis gives p(x) and which p(y)")])
    close(b, a, "I(Y;X) (the transposed table) against I(X;Y)", tol=1e-9)
    hx, hy = h_bits(j.sum(1)), h_bits(j.sum(0))
    assert 0 <= a <= min(hx, hy) + 1e-9, f"I(X;Y) = {a} must lie in [0, min(H(X), H(Y))] = [0, {min(hx, hy):.6f}]"


# ---- 1.4 conditional entropy of English -----------------------------------------------------------

@pytest.mark.task("1.4")
def test_conditional_entropy_order_zero_is_character_entropy(info):
    """With k = 0, is F the entropy of the single-character frequencies?"""
    text = "abracadabra"
    counts = np.array([5, 2, 2, 1, 1]) / 11
    close(info.conditional_entropy(text, 0), h_bits(counts), "conditional_entropy('abracadabra', k=0)", tol=1e-9,
          hints=[in_nats(h_bits(counts))])


@pytest.mark.task("1.4")
def test_conditional_entropy_of_a_predictable_text(info):
    """Is the next character of 'abab...' certain given one character of context (F = 0 at k = 1)?"""
    text = "ab" * 50
    close(info.conditional_entropy(text, 1), 0.0, "conditional_entropy('abab...', k=1)", tol=1e-12,
          hints=[(lambda x: near(x, 1.0), "1 bit is the k=0 answer: the context should be the k characters before position i")])
    # contexts from position 2: ab->c, bc->a, ca->b, ab->c, bc->a, ca->b, ab->d; only 'ab' is uncertain
    expected = 2 / 7 * math.log2(3 / 2) + 1 / 7 * math.log2(3)
    close(info.conditional_entropy("abcabcabd", 2), expected, "conditional_entropy('abcabcabd', k=2)", tol=1e-9,
          hints=[(lambda x: near(x, 0.0), "0 is too little: count every position i >= k, the last 'ab' is followed by 'd'"),
                 (lambda x: near(x, expected * LN2), "the value looks like nats")])


@pytest.mark.task("1.4")
def test_conditional_entropy_of_english_by_order(info, corpus, snapshot):
    """On the course corpus, does F_k for k = 0..3 match the reference to 1e-3 bits and decrease with k?"""
    expected = snapshot["conditional_entropy_train"]
    got = [info.conditional_entropy(corpus, k) for k in range(4)]
    for k in range(4):
        close(got[k], expected[k], f"F for context length k={k} on the corpus (bits/character)", tol=1e-3, rel=0,
              hints=[(lambda x, k=k: k > 0 and near(x, expected[k - 1], 1e-3), f"this is the k={k - 1} value: the context is one character short"),
                     (lambda x, k=k: near(x, expected[k] * LN2, 1e-3), "the value looks like nats")])
    assert got == sorted(got, reverse=True), f"F_k must not increase with k (more context never hurts), got {got}"


@pytest.mark.task("1.4")
def test_conditional_entropy_rejects_bad_orders(info):
    """Does conditional_entropy raise ValueError for k < 0 or a text no longer than k?"""
    raises("ValueError", info.conditional_entropy, "abc", -1, what="conditional_entropy('abc', k=-1)")
    raises("ValueError", info.conditional_entropy, "abc", 3, what="conditional_entropy('abc', k=3)")
