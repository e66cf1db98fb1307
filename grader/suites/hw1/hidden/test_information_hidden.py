"""Hidden tests for hw1 part 1: held-out text, other bases, larger and degenerate inputs."""

import math

import numpy as np
import pytest

from grader.assertions import near, raises
from grader.data import load_text
from grader.suites.hw1.hidden.reference import conditional_entropy_bits, entropy_bits
from grader.suites.hw1.public.test_information import ce_hints, mi_hints, mutual_information
from grader.suites.hw1.tolerance import approx

LN2 = math.log(2)


def nats_hint(expected):
    return (lambda x: near(x, expected * LN2), "the value looks like nats: use log base 2")


@pytest.mark.task("1.1")
def test_entropy_large_sparse_distribution(info):
    """Is H right for 10,000 outcomes, half of them impossible, in bits and in base 3?"""
    rng = np.random.default_rng(11)
    p = rng.random(10_000) * (rng.random(10_000) < 0.5)
    p /= p.sum()
    approx(
        info.entropy(p.tolist()),
        entropy_bits(p),
        "H(p) over 10,000 outcomes",
        hints=[nats_hint(entropy_bits(p)), (math.isnan, "got nan: 0 * log 0 must count as 0")],
    )
    approx(info.entropy(p.tolist(), base=3), entropy_bits(p) / math.log2(3), "H(p) in base 3")


@pytest.mark.task("1.1")
def test_entropy_of_a_certain_outcome_is_zero(info):
    """Is H([1]) = 0, and does a sum off by more than the tolerance raise ValueError?"""
    approx(info.entropy([1.0]), 0.0, "H([1])")
    approx(info.entropy([0.1] * 10), math.log2(10), "H(uniform over 10) (sums to 1 up to rounding)")
    raises("ValueError", info.entropy, [0.3, 0.3, 0.3], what="entropy([0.3, 0.3, 0.3]) (sums to 0.9)")
    raises("ValueError", info.entropy, [float("nan"), 1.0], what="entropy([nan, 1])")


@pytest.mark.task("1.2")
def test_divergences_on_random_pairs_in_nats(info):
    """Do H(p, q) and D(p||q) match their definitions on random pairs, with base=e?"""
    rng = np.random.default_rng(12)
    for n in (2, 7, 30):
        p, q = rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(n))
        kl = float((p * np.log(p / q)).sum())
        approx(
            info.kl_divergence(p.tolist(), q.tolist(), base=math.e),
            kl,
            f"D(p||q) in nats, {n} outcomes",
            hints=[(lambda x, p=p, q=q: near(x, float((q * np.log(q / p)).sum())), "that is D(q||p)")],
        )
        ce = float(-(p * np.log(q)).sum())
        approx(info.cross_entropy(p.tolist(), q.tolist(), base=math.e), ce, f"H(p, q) in nats, {n} outcomes")


@pytest.mark.task("1.2")
def test_divergence_ignores_outcomes_p_rules_out(info):
    """Does D(p||q) skip terms with p = 0 and stay finite, even where q = 0 there too?"""
    approx(info.kl_divergence([0.5, 0.5, 0.0], [0.25, 0.25, 0.5]), 1.0, "D([1/2, 1/2, 0] || [1/4, 1/4, 1/2])")
    approx(
        info.kl_divergence([1.0, 0.0], [1.0, 0.0]),
        0.0,
        "D([1, 0] || [1, 0])",
        hints=[(math.isnan, "got nan: 0 log(0/0) counts as 0")],
    )
    approx(
        info.cross_entropy([0.0, 1.0], [0.0, 1.0]), 0.0, "H([0, 1], [0, 1])", hints=[(math.isnan, "got nan: 0 log 0 counts as 0")]
    )
    raises("ValueError", info.kl_divergence, [0.5, 0.5], [1 / 3] * 3, what="kl_divergence with 2 and 3 outcomes")


@pytest.mark.task("1.3")
def test_mutual_information_identities(info):
    """Is I(X;Y) = H(X) + H(Y) - H(X,Y) on random 5x3 and 2x6 tables, in bits and nats?"""
    rng = np.random.default_rng(13)
    for shape in ((5, 3), (2, 6)):
        j = rng.dirichlet(np.ones(shape[0] * shape[1])).reshape(shape)
        expected = entropy_bits(j.sum(1)) + entropy_bits(j.sum(0)) - entropy_bits(j.ravel())
        what = f"I(X;Y) for a {shape[0]}x{shape[1]} table"
        approx(mutual_information(info, j.tolist(), what), expected, what, hints=mi_hints(j))
        what = f"I(X;Y) with base=e for a {shape[0]}x{shape[1]} table"
        approx(
            mutual_information(info, j.tolist(), what, base=math.e),
            expected * LN2,
            what,
            hints=[(lambda x, e=expected: near(x, e), "the base argument is ignored: divide by ln(base)")],
        )


@pytest.mark.task("1.3")
def test_mutual_information_rejects_invalid_tables(info):
    """Does mutual_information raise ValueError for a table that is not a joint distribution?"""
    raises(
        "ValueError",
        info.mutual_information,
        [[0.5, 0.5], [0.5, 0.5]],
        what="mutual_information of a 2x2 table summing to 2 (not a joint distribution)",
    )
    raises("ValueError", info.mutual_information, [0.5, 0.5], what="mutual_information of a 1-D table (not a joint distribution)")


@pytest.mark.task("1.4")
@pytest.mark.parametrize("k", range(4))
def test_conditional_entropy_of_held_out_text(info, k):
    """On The Tempest (held out), does F_k match the reference (one k per test)?"""
    text = load_text("valid")
    expected = [conditional_entropy_bits(text, j) for j in range(k + 1)]
    approx(
        info.conditional_entropy(text, k),
        expected[k],
        f"F for k={k} on held-out text",
        hints=ce_hints(expected[k], k, len(text), previous=expected[k - 1] if k else None, blocks=sum(expected)),
    )


@pytest.mark.task("1.4")
def test_conditional_entropy_in_other_bases_and_unicode(info):
    """Is conditional_entropy right with base=e, on non-ASCII text, and at the largest k?"""
    text = "ἀρχὴ ἥμισυ παντός · " * 7 + "naïve café"
    for k in (0, 2, 5):
        expected = conditional_entropy_bits(text, k)
        approx(info.conditional_entropy(text, k, base=math.e), expected * LN2, f"F for k={k} in nats on Greek text")
    approx(info.conditional_entropy("abcd", 3), 0.0, "conditional_entropy('abcd', k=3) (one position)")
