"""Task 6.6 on the grading side: the submitted files model.pt (the float32 checkpoint, gpt.save) and
model.sqz (the compressed model, read by the student's squeeze.unpack), judged on a text.

Read here, never executed: model.sqz's size is its length in bytes; model.pt is read with
torch.load(weights_only=True) (tensors and plain data only) and must be gpt.GPT's state for its
config; its bits per character are computed here with model.py. The compressed model runs in the
worker (its unpack, its forward) and returns its weights and its logits on the text; the rates are
computed here from those logits. A causality probe runs first: texts that differ only after a
position must get the same distributions up to it, or the rates are void.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import math
from dataclasses import dataclass

import torch

from grader.errors import StudentError
from grader.suites.capstone import model as M

CAP_BYTES = 1 << 20  # model.sqz at most 1 MiB: less than bz2 or xz make of the training corpus
MAX_LOSS = 0.03  # the compressed model's bpc at most 3% above the float32 checkpoint's
FULL_RATIO, MIN_RATIO = 12.0, 4.0
LOGIT_TOLERANCE = 1e-4  # the probe: same logits up to float rounding of a batch


@dataclass
class Files:
    pt: bytes | None
    sqz: bytes | None


def files(submission) -> Files:
    def read(name: str) -> bytes | None:
        p = submission.path / name
        return p.read_bytes() if p.is_file() and not p.is_symlink() else None

    return Files(read("model.pt"), read("model.sqz"))


def need(submission, f: Files) -> None:
    """AssertionError naming a missing file (after asking squeeze.unpack, so that unwritten code
    fails with its own NotImplementedError first)."""
    if f.pt is not None and f.sqz is not None:
        return
    try:
        submission.driver("artifact_unpack_probe")
    except StudentError as e:
        if e.cause == "not-implemented":
            raise
    missing = [n for n, d in (("model.pt", f.pt), ("model.sqz", f.sqz)) if d is None]
    raise AssertionError(
        f"{' and '.join(missing)} not found beside your modules: train (python train.py --config cpu --out model.pt) "
        "and compress it (python squeeze.py model.pt --out model.sqz), then submit both files"
    )


_CHECKPOINTS: dict[str, tuple[dict, dict]] = {}
_FLOAT_BPC: dict[tuple[str, str], float] = {}


def checkpoint(data: bytes) -> tuple[dict, dict]:
    """(config, state) of model.pt's bytes, checked to be gpt.GPT's; cached by content."""
    key = hashlib.sha256(data).hexdigest()
    if key not in _CHECKPOINTS:
        try:
            saved = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file is the student's
            raise AssertionError(f"model.pt cannot be read as gpt.save's checkpoint: {type(e).__name__}: {e}") from None
        if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict) or "state" not in saved:
            raise AssertionError('model.pt is not gpt.save\'s checkpoint {"config": ..., "state": ...}')
        config = {k: saved["config"].get(k) for k in ("d_model", "n_layer", "n_head", "context", "vocab")}
        if config["vocab"] != len(M.VOCAB) or not all(isinstance(v, int) and v > 0 for v in config.values()):
            raise AssertionError(f"model.pt's config {saved['config']} is not a gpt.GPT config over the 96-symbol VOCAB")
        if config["d_model"] % config["n_head"]:
            raise AssertionError(f"model.pt's config: n_head {config['n_head']} does not divide d_model {config['d_model']}")
        _CHECKPOINTS[key] = config, M.check_state(saved["state"], config, "model.pt's state")
    return _CHECKPOINTS[key]


def float_bpc(data: bytes, text: str) -> float:
    """model.pt's bits per character on `text`, computed here (cached: an audit grades one
    checkpoint many times)."""
    key = hashlib.sha256(data).hexdigest(), hashlib.sha256(text.encode()).hexdigest()
    if key not in _FLOAT_BPC:
        config, state = checkpoint(data)
        _FLOAT_BPC[key] = M.bits_per_char(state, config, M.ids_of(text))
    return _FLOAT_BPC[key]


def parameters(state: dict) -> int:
    return sum(t.numel() for t in state.values())


COMPRESSORS = {
    "gzip": lambda raw: gzip.compress(raw, 9, mtime=0),
    "bz2": lambda raw: bz2.compress(raw, 9),
    "xz": lambda raw: lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME),
}


def compressed_bytes(text: str) -> dict[str, int]:
    """The bytes gzip -9, bz2 -9 and xz -9e make of `text`, measured here."""
    raw = text.encode("ascii")
    return {name: len(compress(raw)) for name, compress in COMPRESSORS.items()}


def baselines(text: str) -> dict[str, float]:
    """Bits per character of gzip -9, bz2 -9 and xz -9e on `text`, measured here."""
    return {k: 8 * v / len(text) for k, v in compressed_bytes(text).items()}


def probe_texts(ids: torch.Tensor, context: int, seed: int) -> tuple[list[torch.Tensor], list[int]]:
    """Two windows of `ids`, and copies whose characters from position m on are redrawn, for a few m
    (the window starts, inside and at the last position): (texts, ms), texts[0] the original."""
    base = ids[: 2 * context].clone()
    g = torch.Generator().manual_seed(seed)
    ms = sorted({1, 2, context // 2, context - 1, context, context + 1, context + context // 3, 2 * context - 1})
    texts = [base]
    for m in ms:
        t = base.clone()
        t[m:] = (t[m:] + torch.randint(1, len(M.VOCAB), (len(t) - m,), generator=g)) % len(M.VOCAB)
        texts.append(t)
    return texts, ms


def log2_distributions(logits, n: int, what: str) -> torch.Tensor:
    """log2 of the distributions (n, 96) float64 the logits define; AssertionError unless they are
    n rows of 96 finite numbers."""
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (n, len(M.VOCAB)):
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise AssertionError(f"{what}: the model's logits should be ({n}, {len(M.VOCAB)}), one row per character; got {got}")
    x = logits.double()
    if not bool(torch.isfinite(x).all()):
        raise AssertionError(f"{what}: the model's logits hold NaN or infinite values")
    return x.log_softmax(-1) / math.log(2)


@dataclass
class Judged:
    """What the grading side made of a submission's files on a text."""

    config: dict
    params: int
    float_bytes: int  # 4 bytes per parameter of model.pt
    sqz_bytes: int
    float_bpc: float
    sqz_bpc: float
    causal: str  # "" when the probe passed, else what it found
    baselines: dict[str, float]

    @property
    def ratio(self) -> float:
        return self.float_bytes / self.sqz_bytes

    @property
    def loss(self) -> float:
        return self.sqz_bpc / self.float_bpc - 1


def judge(submission, text: str, seed: int) -> Judged:
    f = files(submission)
    need(submission, f)
    assert f.pt is not None and f.sqz is not None, "need() found both files"
    config, state = checkpoint(f.pt)
    if len(f.sqz) > CAP_BYTES:
        raise AssertionError(f"model.sqz has {len(f.sqz):,} bytes, over the cap of {CAP_BYTES:,} (1 MiB)")
    ids = M.ids_of(text)
    probes, ms = probe_texts(ids, config["context"], seed)
    out = submission.driver("artifact_run", f.sqz, [ids, *probes])
    if not isinstance(out, dict) or not isinstance(out.get("logits"), list) or len(out["logits"]) != len(probes) + 1:
        raise AssertionError("squeeze.unpack's model did not give its logits on the texts")
    M.check_state(out.get("state"), config, "the unpacked model's state (it should have model.pt's shapes)")
    lp = log2_distributions(out["logits"][0], len(ids), "on the text")
    sqz_bpc = float(-lp.gather(1, ids[:, None]).mean())
    first = log2_distributions(out["logits"][1], len(probes[0]), "on the probe")
    causal = ""
    for m, logits in zip(ms, out["logits"][2:]):
        other = log2_distributions(logits, len(probes[0]), "on the probe")
        # row j is character j's distribution, from the characters before it: rows 0..m are the same
        moved = (other[: m + 1] - first[: m + 1]).abs().amax(dim=1)
        if bool((moved > LOGIT_TOLERANCE).any()):
            j = int((moved > LOGIT_TOLERANCE).nonzero()[0])
            causal = (
                f"the model peeks ahead: changing the characters from position {m} on changed its distribution of "
                f"character {j} (by up to {float(moved[j]):.3g} in log2 p), which may depend only on the characters "
                "before it (the causal mask)"
            )
            break
    return Judged(
        config,
        parameters(state),
        4 * parameters(state),
        len(f.sqz),
        float_bpc(f.pt, text),
        sqz_bpc,
        causal,
        baselines(text),
    )
