"""hw1 trusts nothing the student's process computes (DESIGN principle 2), gives no answer away in
its public helpers, and bounds the work it does on student values.

(a) The stubs plus one line that, at import time, replaces EVERY function of
    grader.worker.drivers.hw1 (which runs inside the student's worker) with a forger returning the
    most plausible fake (the public snapshot's digests and sizes, the corpus read from disk) score 0.
(b) Every comparison checks type, size and range before values: outputs that are empty, one short,
    one too long, of the wrong type, or absurdly large fail their tests with a one-line message in
    seconds (a code length of 300,000,000 once cost the grading side minutes of exact Kraft sums).
(c) hw1 bans no library; what it must not lend is its own grading helpers: a submission that
    answers with the grader's public helpers (an encoder, a Kraft sum) earns nothing.
(d) hw1 has no experiment a student reports on.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from grader.runner import run_assignment
from tests.fixtures.expect import copy_solution

PLAUSIBLE = '''
def _fake_hw1(*args, **kwargs):
    """What the snapshot and the disk give away: the stored digests and sizes, the corpus itself."""
    import hashlib, json
    try:  # the grading side's modules are not in the worker (grader.worker alone is)
        from grader import paths
        snap = json.loads((paths.SUITES / "hw1" / "_snapshots" / "reference.json").read_text())
    except Exception:
        snap = {}
    try:
        from grader.data import load_text
        corpus = load_text("train")
    except Exception:
        corpus = ""
    gamma = snap.get("corpus_gamma_code", {})
    n_bits = int(gamma.get("n_bits", 0))
    data = bytes((n_bits + 7) // 8)
    return {
        # the digests the drivers once returned
        "data_type": "bytes", "n_bits": n_bits, "sha256": gamma.get("sha256", ""),
        "decoded_type": "str", "decoded_sha256": hashlib.sha256(corpus.encode()).hexdigest(),
        "decoded_length": len(corpus),
        # raw outputs of the right types and sizes
        "out": (data, n_bits), "type": "tuple", "item_types": ["bytes", "int"],
        "data": data, "text": corpus, "decoded": corpus,
    }
'''


def forger(fake: str) -> str:
    """Student code run at import: replace every function of the hw1 drivers by one returning `fake`."""
    return (
        "\n\n# --- replaces every function the grader runs beside this module ---\n"
        "try:\n"
        "    import types as _types\n"
        "    import grader.worker.drivers.hw1 as _drivers\n"
        + "".join(f"    {line}\n" for line in fake.strip().splitlines())
        + "    for _name, _fn in list(vars(_drivers).items()):\n"
        "        if isinstance(_fn, _types.FunctionType) and _fn.__module__ == _drivers.__name__:\n"
        "            setattr(_drivers, _name, _fake_hw1)\n"
        "except Exception:\n"
        "    pass\n"
    )


@pytest.fixture(scope="module")
def stubs(course) -> Path:
    return course.root / "assignments" / "hw1"


@pytest.fixture(scope="module")
def solution(course) -> Path:
    return course.root / "solutions" / "hw1"


def make(source: Path, target: Path, appends: dict[str, str]) -> Path:
    copy_solution(source, target)
    for name, code in appends.items():
        path = target / name
        path.write_text(path.read_text() + code)
    return target


def grade(course, folder: Path, select: str | None = None):
    return run_assignment(course, "hw1", folder, ("public", "hidden"), select=select)


# ---- (a) forged drivers earn nothing ------------------------------------------------------------

def test_stubs_with_every_driver_forged_score_zero(course, stubs, tmp_path):
    """The stubs, plus a line in a student module that replaces every driver with a plausible fake."""
    folder = make(stubs, tmp_path / "forged", {"huffman.py": forger(PLAUSIBLE)})
    result = grade(course, folder)
    passed = [t.name for t in result.tests if t.passed]
    assert result.score == 0 and not passed, f"forged drivers earned {result.score}: {passed}"


def test_the_forger_does_replace_the_drivers(course, solution, tmp_path):
    """The forger is not a no-op: on the solution it costs exactly the tests that go through a driver."""
    folder = make(solution, tmp_path / "forged", {"huffman.py": forger(PLAUSIBLE)})
    result = grade(course, folder, select="whole_corpus")
    assert result.tests and all(not t.passed and t.cause == "wrong answer" for t in result.tests), \
        [(t.name, t.cause, t.feedback) for t in result.tests]


# ---- (b) malformed outputs fail every comparison, in one line, quickly --------------------------

def wrapper(fn: str, expr: str) -> str:
    """Student code: `fn` returns `expr` of the solution's own output `out` (and its args)."""
    return (f"\n\n_right_{fn} = {fn}\n\n\ndef {fn}(*args, **kwargs):\n"
            f"    out = _right_{fn}(*args, **kwargs)\n    return {expr}\n")


HUGE = "300_000_000"
LENGTHS = "test_code_lengths_are_optimal or test_code_lengths_of_the_corpus or test_code_lengths_optimal_on_random"
CANONICAL = "test_canonical_code_small or test_canonical_code_of_the_corpus or test_canonical_code_random"
KRAFT = "test_kraft_sum"
ENCODE = "test_encode_is_bit_exact or test_encode_the_whole_corpus or test_round_trip_random"
DECODE = "test_decode_stops_at_n_bits or test_decode_the_whole_corpus"
REPORT = "test_compression_report_small or test_compression_report_of_hamlet or test_compression_report_of_held_out"
ENTROPY = "test_fair_coin or test_entropy_of_random or test_entropy_large"
KL = "test_kl_divergence_is_zero_only"
CE = "test_conditional_entropy_of_english"

MALFORMED = [
    # code_lengths: a dict with one int length per symbol
    ("lengths_empty", "huffman.py", "code_lengths", "{}", LENGTHS),
    ("lengths_one_short", "huffman.py", "code_lengths", "dict(list(out.items())[:-1])", LENGTHS),
    ("lengths_one_extra", "huffman.py", "code_lengths", "{**out, 'extra symbol': 1}", LENGTHS),
    ("lengths_a_list", "huffman.py", "code_lengths", "list(out.values())", LENGTHS),
    ("lengths_floats", "huffman.py", "code_lengths", "{s: float(n) for s, n in out.items()}", LENGTHS),
    ("lengths_bools", "huffman.py", "code_lengths", "{s: n == 1 for s, n in out.items()}", LENGTHS),
    ("lengths_negative", "huffman.py", "code_lengths", "{s: -n for s, n in out.items()}", LENGTHS),
    ("lengths_huge", "huffman.py", "code_lengths", f"{{s: {HUGE} for s in out}}", LENGTHS),
    ("lengths_one_huge", "huffman.py", "code_lengths", f"{{**out, max(out, key=out.get): {HUGE}}}", LENGTHS),
    ("lengths_int_key", "huffman.py", "code_lengths", "{**dict(list(out.items())[:-1]), 7: 1}", LENGTHS),
    ("lengths_huge_dict", "huffman.py", "code_lengths", "{**out, **{f'x{i}': 20 for i in range(200_000)}}", LENGTHS),
    # canonical_code: a dict with one 0/1 string of the given length per symbol
    ("canonical_empty", "huffman.py", "canonical_code", "{}", CANONICAL),
    ("canonical_one_short", "huffman.py", "canonical_code", "dict(list(out.items())[:-1])", CANONICAL),
    ("canonical_one_extra", "huffman.py", "canonical_code", "{**out, 'extra symbol': '1' * 30}", CANONICAL),
    ("canonical_a_list", "huffman.py", "canonical_code", "list(out.values())", CANONICAL),
    ("canonical_int_words", "huffman.py", "canonical_code", "{s: int(w, 2) for s, w in out.items()}", CANONICAL),
    ("canonical_words_too_long", "huffman.py", "canonical_code", "{s: w + '0' for s, w in out.items()}", CANONICAL),
    ("canonical_huge_word", "huffman.py", "canonical_code", "{**out, min(out): '0' * 3_000_000}", CANONICAL),
    ("canonical_int_key", "huffman.py", "canonical_code", "{**dict(list(out.items())[1:]), 7: '0'}", CANONICAL),
    # kraft_sum: a number
    ("kraft_a_list", "huffman.py", "kraft_sum", "[out]", KRAFT),
    ("kraft_a_string", "huffman.py", "kraft_sum", "str(out)", KRAFT),
    ("kraft_huge_int", "huffman.py", "kraft_sum", "10 ** 400", KRAFT),
    # encode: (bytes, int) with 0 <= n_bits <= 8 * len(data) and no spare byte
    ("encode_empty", "huffman.py", "encode", "()", ENCODE),
    ("encode_one_short", "huffman.py", "encode", "(out[0],)", ENCODE),
    ("encode_one_too_long", "huffman.py", "encode", "(*out, 0)", ENCODE),
    ("encode_data_a_string", "huffman.py", "encode", "(out[0].decode('latin-1'), out[1])", ENCODE),
    ("encode_data_a_bytearray", "huffman.py", "encode", "(bytearray(out[0]), out[1])", "test_encode_the_whole_corpus"),
    ("encode_data_a_list", "huffman.py", "encode", "(list(out[0]), out[1])", ENCODE),
    ("encode_data_empty", "huffman.py", "encode", "(b'', out[1])", ENCODE),
    ("encode_data_one_byte_short", "huffman.py", "encode", "(out[0][:-1], out[1])", ENCODE),
    ("encode_data_one_byte_too_long", "huffman.py", "encode", "(out[0] + bytes(1), out[1])", ENCODE),
    ("encode_n_bits_float", "huffman.py", "encode", "(out[0], float(out[1]))", ENCODE),
    ("encode_n_bits_negative", "huffman.py", "encode", "(out[0], -out[1])", ENCODE),
    ("encode_n_bits_past_the_data", "huffman.py", "encode", "(out[0], 8 * len(out[0]) + 1)", ENCODE),
    ("encode_n_bits_huge", "huffman.py", "encode", "(out[0], 10 ** 400)", ENCODE),
    # decode: the text, a str
    ("decode_empty", "huffman.py", "decode", "''", DECODE),
    ("decode_one_short", "huffman.py", "decode", "out[:-1]", DECODE),
    ("decode_one_too_long", "huffman.py", "decode", "out + 'a'", DECODE),
    ("decode_bytes", "huffman.py", "decode", "out.encode()", DECODE),
    ("decode_a_list", "huffman.py", "decode", "list(out)", DECODE),
    ("decode_none", "huffman.py", "decode", "None", DECODE),
    # compression_report: a dict of numbers
    ("report_empty", "huffman.py", "compression_report", "{}", REPORT),
    ("report_a_list", "huffman.py", "compression_report", "list(out.values())", REPORT),
    ("report_no_ratios", "huffman.py", "compression_report", "{k: v for k, v in out.items() if k != 'ratio'}", REPORT),
    ("report_ratios_one_short", "huffman.py", "compression_report", "{**out, 'ratio': {k: v for k, v in out['ratio'].items() if k != 'lzma'}}", REPORT),
    ("report_bits_huge", "huffman.py", "compression_report", "{**out, 'huffman_bits': 10 ** 400}", REPORT),
    ("report_bits_float", "huffman.py", "compression_report", "{**out, 'huffman_bits': float(out['huffman_bits'])}", REPORT),
    ("report_entropy_a_string", "huffman.py", "compression_report", "{**out, 'entropy': str(out['entropy'])}", REPORT),
    # information: numbers
    ("entropy_a_list", "information.py", "entropy", "[out]", ENTROPY),
    ("entropy_a_string", "information.py", "entropy", "str(out)", ENTROPY),
    ("entropy_none", "information.py", "entropy", "None", ENTROPY),
    ("entropy_huge_int", "information.py", "entropy", "10 ** 400", ENTROPY),
    ("kl_a_list", "information.py", "kl_divergence", "out if args[0] == args[1] else [out]", KL),
    ("conditional_entropy_a_list", "information.py", "conditional_entropy", "[out]", CE),
]


@pytest.mark.parametrize("name,module,fn,expr,select", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_output_fails_in_one_line(course, solution, tmp_path, name, module, fn, expr, select):
    """The solution with one function's output made empty, short, long, mistyped or huge: every
    selected test fails as a wrong answer, says so in one line, and the grading side takes seconds."""
    folder = make(solution, tmp_path / name, {module: wrapper(fn, expr)})
    started = time.monotonic()
    result = grade(course, folder, select=select)
    seconds = time.monotonic() - started
    assert result.tests, f"{name}: no test selected by {select!r}"
    for t in result.tests:
        assert not t.passed, f"{name}: {t.nodeid} passed"
        assert t.cause == "wrong answer", f"{name}: {t.nodeid}: cause {t.cause}: {t.feedback}"
        assert "\n" not in t.feedback and len(t.feedback) < 600, f"{name}: {t.nodeid}: {t.feedback!r}"
        assert "could not be checked" not in t.feedback, f"{name}: {t.nodeid}: {t.feedback}"
    assert seconds < 30, f"{name}: grading took {seconds:.0f} s"


# ---- (c) the grader's public helpers give no answer away ----------------------------------------

HELPERS = '''

def _public_helper(*names):
    """A function from the grader's public hw1 modules (shipped to students), if one exists."""
    import importlib, pkgutil
    import grader.suites.hw1 as suite
    for info in pkgutil.walk_packages(suite.__path__, suite.__name__ + "."):
        if ".hidden" in info.name or info.name.rsplit(".", 1)[-1].startswith("test_"):
            continue
        try:
            module = importlib.import_module(info.name)
        except Exception:
            continue
        for name in names:
            if callable(getattr(module, name, None)):
                return getattr(module, name)
    raise NotImplementedError("no public helper: Task 1.x")


def kraft_sum(lengths):
    return float(_public_helper("kraft", "kraft_sum")(lengths))


def encode(text, code):
    if set(text) - set(code):
        raise ValueError("no codeword")
    bits = "".join(map(code.__getitem__, text))
    try:
        return _public_helper("encode_bits", "encode")(text, code)
    except NotImplementedError:
        return _public_helper("pack_bits")(bits), len(bits)


def canonical_code(lengths):
    return _public_helper("canonical", "canonical_code", "canonical_code_of")(lengths)
'''


def test_answering_with_the_graders_public_helpers_earns_nothing(course, stubs, tmp_path):
    """The stubs, with kraft_sum, encode and canonical_code taken from grader.suites.hw1's public modules."""
    folder = make(stubs, tmp_path / "helpers", {"huffman.py": HELPERS})
    result = grade(course, folder, select="kraft or canonical or encode or round_trip or empty_text")
    passed = [t.name for t in result.tests if t.passed]
    assert result.tests and not passed, f"the grader's public helpers answered {passed}"
