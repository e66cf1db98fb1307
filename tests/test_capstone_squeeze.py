"""The capstone's squeeze.py (task 6.4), the reference: global magnitude pruning against
torch.nn.utils.prune.global_unstructured, k-means levels against hw4's kmeans_share, the events and
the file against the grading side's own account (grader/suites/capstone/squeeze_checks.py, with the
course's coder patched in as the graders do), the file's round trip with the reference coder, and
the pipeline's figures on the reference's trained cpu model: the compressed file at least 16x
smaller than the float32 checkpoint file, at most 3% more bits per character on every held-out
play (grader/suites/capstone/model.py scores both). These are tests of the reference, not the graders."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch.nn.utils import prune as torch_prune

from grader.data import HELD_OUT_PLAYS, load_text
from grader.paths import module_from_file
from grader.suites.capstone import model as M
from grader.suites.capstone import squeeze_checks as C
from grader.suites.capstone.hidden import squeeze_reference as R
from grader.worker.drivers.capstone import squeeze as course_coder
from tests.conftest import ROOT

CAPSTONE = ROOT / "solutions" / "capstone"
# The reference's artifacts: the float32 cpu model (train.py) and the file squeeze.py's CLI made of it.
CHECKPOINT = CAPSTONE / "model.pt"
SQUEEZED = CAPSTONE / "model.sqz"
MIN_RATIO = 16.0  # against the checkpoint file's bytes
MAX_LOSS = 0.03  # bits per character above the float32 model's, on each held-out play

sys.path.insert(0, str(CAPSTONE))
try:
    GPT = module_from_file("gpt", CAPSTONE / "gpt.py")
    CODER = module_from_file("coder", CAPSTONE / "coder.py")
    S = module_from_file("squeeze", CAPSTONE / "squeeze.py")
    HW4 = module_from_file("_hw4_quantize_for_capstone", ROOT / "solutions" / "hw4" / "quantize.py")
finally:
    sys.path.remove(str(CAPSTONE))
    for name in ("gpt", "coder", "squeeze"):
        sys.modules.pop(name, None)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def with_course_coder(monkeypatch):
    """squeeze.py's coder replaced by the course's, as the graders run it."""
    for name, ours in course_coder.squeeze_CODER.items():
        monkeypatch.setattr(S.coder, name, ours, raising=False)


def model_of(config: dict, state: dict):
    model = GPT.GPT(**config)
    model.load_state_dict(state)
    return model.eval()


# -- 1. pruning --------------------------------------------------------------------------------------


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.7, 0.95, 1.0])
def test_global_masks_equal_torch_global_unstructured(sparsity):
    g = torch.Generator().manual_seed(1)
    linears = [torch.nn.Linear(i, o, bias=False) for i, o in ((20, 30), (30, 7), (7, 50))]
    for lin, scale in zip(linears, (0.1, 1.0, 0.4)):
        with torch.no_grad():
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) * scale)
    weights = {str(i): lin.weight.detach().clone() for i, lin in enumerate(linears)}
    total = sum(w.numel() for w in weights.values())
    torch_prune.global_unstructured(
        [(lin, "weight") for lin in linears], torch_prune.L1Unstructured, amount=round(sparsity * total)
    )
    masks = S.global_masks(weights, sparsity)
    for i, lin in enumerate(linears):
        assert torch.equal(masks[str(i)], lin.weight_mask.bool())
    assert sum(int((~m).sum()) for m in masks.values()) == round(sparsity * total)


def test_global_masks_refuse():
    for bad in (-0.1, 1.2, True, "0.5"):
        with pytest.raises(ValueError):
            S.global_masks({"a": torch.randn(3, 3)}, bad)
    with pytest.raises(ValueError):
        S.global_masks({}, 0.5)


# -- 2. k-means ------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_kmeans_levels_equal_hw4_kmeans_share(bits):
    values = torch.randn(5000, generator=torch.Generator().manual_seed(bits)) * 0.05
    values = values[values.abs() > 0.03]
    levels, indices = S.kmeans_levels(values, 2**bits, iters=25)
    codebook, shared = HW4.kmeans_share(values, bits, iters=25)
    torch.testing.assert_close(levels, codebook, rtol=0, atol=1e-7)
    assert torch.equal(indices, shared)


def test_compress_matches_the_grading_side(with_course_coder):
    state = M.random_state(M.TINY, 5)
    model = model_of(M.TINY, state)
    assert S.compress(model, 0.6, 3) is model
    got = GPT.GPT(**M.TINY).state_dict() | {k: v.clone() for k, v in model.state_dict().items()}
    C.check_compressed(
        {"same": True, "state": got}, M.TINY, state, 0.6, 3, R.compress_expected(M.TINY, state, 0.6, 3), "compress"
    )
    want = R.reference_compress(M.TINY, state, 0.6, 3)
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=1e-6)


# -- 3. events and the file ------------------------------------------------------------------------


def test_events_round_trip_and_match_the_grading_side():
    for codes, k, _ in C.event_cases():
        events = S.to_events(torch.tensor(codes), k)
        assert events == R.reference_events(codes, k)
        assert S.from_events(events, len(codes), k).tolist() == codes
        assert all(0 <= e <= C.RUN * k for e in events)


@pytest.mark.parametrize("shape,seed", [("tiny", 1), ("tiny", 2), ("small", 3)])
def test_pack_is_the_graders_file(with_course_coder, shape, seed):
    config, state = C.SHAPES[shape], C.case_state(shape, seed)
    data = S.pack(model_of(config, state))
    assert data == R.build(config, state) == S.pack(model_of(config, state))
    parsed = C.check_pack(data, config, state, data, "pack")
    assert S.breakdown(data) == parsed.parts and sum(parsed.parts.values()) == len(data)
    back = S.unpack(data)
    assert not back.training
    for name, t in back.state_dict().items():
        assert torch.equal(t, state[name])


def test_unpack_refuses_broken_files(with_course_coder):
    data = R.build(M.TINY, C.case_state("tiny", 1))
    for bad in (b"", b"XQZ1" + data[4:], data[:-1] if data[-1] else data[:-2], data + b"\0", data[:100]):
        with pytest.raises(ValueError):
            S.unpack(bad)


def test_round_trip_with_the_reference_coder():
    """The file as a student makes it, with the reference coder: exact and deterministic."""
    state = C.case_state("small", 4)
    data = S.pack(model_of(C.SMALL, state))
    assert data == S.pack(model_of(C.SMALL, state))
    for name, t in S.unpack(data).state_dict().items():
        assert torch.equal(t, state[name])
    assert sum(S.breakdown(data).values()) == len(data)


def test_pack_refuses_a_float_model():
    with pytest.raises(ValueError, match="distinct nonzero values"):
        S.pack(model_of(M.TINY, M.random_state(M.TINY, 0)))


def test_finetune_keeps_the_structure():
    check_structure = C.check_structure

    ids = M.ids_of(load_text("train")[:50_000])
    for steps in (0, 1, 7):
        out = S.finetune(model_of(M.TINY, M.random_state(M.TINY, 9)), ids, 0.6, 2, steps, batch=4)
        check_structure(out.state_dict(), M.TINY, 0.6, 2, f"finetune, {steps} steps")
        assert not out.training


def test_the_command_line(tmp_path):
    """`python squeeze.py model.pt --out model.sqz --steps N` on a tiny checkpoint."""
    checkpoint = tmp_path / "tiny.pt"
    GPT.save(model_of(M.TINY, M.random_state(M.TINY, 3)), checkpoint)
    out = subprocess.run(
        [sys.executable, str(CAPSTONE / "squeeze.py"), str(checkpoint), "--out", str(tmp_path / "tiny.sqz"), "--steps", "4"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "parts:" in out.stdout
    packed = (tmp_path / "tiny.sqz").read_bytes()
    assert sum(S.breakdown(packed).values()) == len(packed)


# -- 4. the figures on the trained cpu model ---------------------------------------------------------


@pytest.fixture(scope="module")
def reference():
    saved = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    config = {k: saved["config"][k] for k in C.CONFIG_KEYS}
    return config, M.check_state(saved["state"], config)


def test_the_squeezed_model_meets_the_issue(reference):
    """model.sqz: >= 16x smaller than the checkpoint file, <= 3% more bits per character on every
    held-out play (the first 20,000 characters of each)."""
    config, state = reference
    data = SQUEEZED.read_bytes()
    assert CHECKPOINT.stat().st_size / len(data) >= MIN_RATIO
    parts = S.breakdown(data)
    assert sum(parts.values()) == len(data)
    squeezed = {k: v.float() for k, v in S.unpack(data).state_dict().items()}
    for play in HELD_OUT_PLAYS:
        ids = M.ids_of(load_text(play)[:20_000])
        before, after = M.bits_per_char(state, config, ids), M.bits_per_char(squeezed, config, ids)
        assert after <= (1 + MAX_LOSS) * before, f"{play}: {before:.4f} -> {after:.4f}"
