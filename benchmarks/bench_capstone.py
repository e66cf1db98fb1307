"""Capstone figures: the grading time of `course check capstone` on the reference, the reference's
rates and sizes against the issue's bars, the coder's throughput, and training runs of the `cpu` or
`gpu` configuration from scratch (with --train), on the CPU or a GPU.

    python benchmarks/bench_capstone.py [--no-suite] [--no-reference] [--coder-chars N]
        [--train cpu|gpu|tiny] [--device cuda] [--steps N] [--squeeze-steps N] [--out DIR]

(i) `course check capstone --solution` and `--path <copy>` (public), each a fresh process.
(ii) The reference: solutions/capstone/model.pt and model.sqz on each held-out play, in full: bits
    per character (float32 and compressed, computed with the grading side's model.py), gzip -9, bz2 -9
    and xz -9e, how far under bz2 (bar: >= 10% for the cpu model), the compression ratio (float32 size
    over model.sqz's bytes; bar: >= 16x) and the loss (bar: <= 3%), and the size after every stage
    (squeeze.stage_bytes of the reference's compressed model, float32 first).
(iii) The coder: compress_text and decompress_text (solutions/capstone/coder.py) of the reference's
    compressed model on the first --coder-chars characters of The Tempest, on the CPU (coding is
    pinned there): characters per second each way, and the code length against the ideal.
(iv) --train NAME: train.py's train on the corpus with gpt.CONFIGS[NAME] on --device (bfloat16
    autocast on CUDA), then bits per character on every held-out play against bz2 (bars: cpu <= 2.5
    and >= 10% under bz2; gpu <= 2.2 and >= 20% under bz2); with --squeeze-steps, squeeze.finetune
    on the same device and pack, the ratio and loss, and the compressed model's bits per character
    on The Tempest computed on the CPU and on the device (their agreement). With --out, the
    checkpoints and a JSON of every figure are written there.
Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions" / "capstone"
sys.path[:0] = [str(ROOT), str(SOLUTIONS)]

from grader.data import HELD_OUT_PLAYS, load_text  # noqa: E402
from grader.suites.capstone import artifact  # noqa: E402
from grader.suites.capstone import model as M  # noqa: E402

BARS = {"tiny": (4.5, 0.0, 4.0), "cpu": (2.5, 0.10, 16.0), "gpu": (2.2, 0.20, 20.0)}  # bpc, under bz2, ratio


def suite() -> None:
    from benchmarks.bench_check import progress_kept, timed

    with progress_kept(), tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "capstone"
        shutil.copytree(SOLUTIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
        for args in (["check", "capstone", "--solution"], ["check", "capstone", "--path", str(copy)]):
            seconds, result = timed(args)
            print(
                f"course {' '.join(args[:3])}{' <copy>' if '--path' in args else ''}: {seconds:.1f} s, "
                f"{result.get('score', '?')} / {result.get('max_score', '?')}"
            )


def rates(bpc_of, figures: dict, label: str, bars: tuple) -> None:
    """bpc_of(ids) -> bits per character, on every held-out play in full, against gzip, bz2 and xz."""
    print(f"\n{label}: bits per character on the held-out plays, in full")
    print(f"{'play':<15}{'chars':>9}{'model':>8}{'gzip':>8}{'bz2':>8}{'xz':>8}  under bz2")
    for play in HELD_OUT_PLAYS:
        text = load_text(play)
        bpc = bpc_of(M.ids_of(text))
        b = artifact.baselines(text)
        under = 1 - bpc / b["bz2"]
        figures.setdefault(label, {})[play] = {"bpc": bpc, **b, "under_bz2": under}
        print(
            f"{play:<15}{len(text):>9,}{bpc:>8.3f}{b['gzip']:>8.3f}{b['bz2']:>8.3f}{b['xz']:>8.3f}  {under:6.1%}"
            f"{'' if bpc <= bars[0] and under >= bars[1] else '  (misses the bar)'}",
            flush=True,
        )


def on_grading_side(state: dict, config: dict):
    return lambda ids: M.bits_per_char(state, config, ids)


def compressed(model_pt: bytes, sqz: bytes, unpack, figures: dict, label: str, bars: tuple, device: str = "cpu") -> None:
    """The compressed model against its float32 checkpoint: the ratio, the loss on The Tempest, its
    rates on every held-out play (computed with the grading side's model on the CPU, with the
    solution's train.bits_per_char on another device)."""
    import train

    config, state = artifact.checkpoint(model_pt)
    model = unpack(sqz)
    packed = M.check_state({k: v.float() for k, v in model.state_dict().items()}, config)
    if device == "cpu":
        bpc_of, float_bpc = on_grading_side(packed, config), on_grading_side(state, config)
    else:
        import gpt

        bpc_of = lambda ids: train.bits_per_char(model, ids, device)  # noqa: E731
        float_bpc = lambda ids: train.bits_per_char(gpt_of(gpt, config, state), ids, device)  # noqa: E731
    ids = M.ids_of(load_text("valid"))
    before, after = float_bpc(ids), bpc_of(ids)
    ratio = 4 * artifact.parameters(state) / len(sqz)
    figures[label] = {"bytes": len(sqz), "ratio": ratio, "bpc_float32": before, "bpc": after, "loss": after / before - 1}
    print(
        f"\n{label}: {len(sqz):,} bytes, {ratio:.1f}x the float32 size (bar {bars[2]:g}x); The Tempest "
        f"{before:.4f} -> {after:.4f} bits per character ({after / before - 1:+.2%}; bar +3%)",
        flush=True,
    )
    rates(bpc_of, figures, f"{label} (compressed)", bars)


def gpt_of(gpt, config: dict, state: dict):
    model = gpt.GPT(**config)
    model.load_state_dict(state)
    return model.eval()


def reference(figures: dict) -> None:
    import squeeze

    pt, sqz = (SOLUTIONS / "model.pt").read_bytes(), (SOLUTIONS / "model.sqz").read_bytes()
    config, state = artifact.checkpoint(pt)
    rates(on_grading_side(state, config), figures, "reference float32 (cpu configuration)", BARS["cpu"])
    compressed(pt, sqz, squeeze.unpack, figures, "reference model.sqz", BARS["cpu"])
    model = squeeze.unpack(sqz)
    stages = squeeze.stage_bytes(model)
    print("\nsize after each stage (squeeze.stage_bytes of the compressed reference):")
    for name, size in stages.items():
        print(f"  {name:<10}{size:>12,} bytes  {stages['float32'] / size:6.1f}x")
    print("  parts of model.sqz: " + ", ".join(f"{k} {v:,}" for k, v in squeeze.breakdown(sqz).items()))
    figures["stages"] = stages


def coder_speed(chars: int, figures: dict) -> None:
    import coder
    import squeeze

    model = squeeze.unpack((SOLUTIONS / "model.sqz").read_bytes())
    text = load_text("valid")[:chars]
    start = time.perf_counter()
    data = coder.compress_text(model, text)
    enc = time.perf_counter() - start
    start = time.perf_counter()
    back = coder.decompress_text(model, data)
    dec = time.perf_counter() - start
    assert back == text, "the reference coder did not round-trip"
    packed = {k: v.float() for k, v in model.state_dict().items()}
    ideal = float(-M.log2_probs(packed, model.config, M.ids_of(text)).sum())
    figures["coder"] = {
        "chars": chars,
        "encode_chars_per_s": chars / enc,
        "decode_chars_per_s": chars / dec,
        "bits": 8 * len(data),
        "ideal_bits": ideal,
    }
    print(
        f"\ncoder on {chars:,} characters of The Tempest (CPU, one thread): encode {chars / enc:,.0f} chars/s, "
        f"decode {chars / dec:,.0f} chars/s; {8 * len(data):,} bits against the ideal {ideal:,.0f} "
        f"({8 * len(data) / ideal - 1:+.3%}, the 32-bit header included)"
    )


def train_run(name: str, device: str, steps: int | None, squeeze_steps: int | None, out: Path | None, figures: dict) -> None:
    import gpt
    import squeeze
    import train

    config = {k: dict(v) for k, v in gpt.CONFIGS[name].items()}
    if steps:
        config["train"]["steps"] = steps
        config["train"]["warmup"] = min(config["train"]["warmup"], steps // 10)
    torch.set_num_threads(torch.get_num_threads())
    start = time.perf_counter()
    model, history = train.train(config, train.corpus(), device, 0)
    seconds = time.perf_counter() - start
    print(
        f"\n{name} configuration on {device}: {sum(p.numel() for p in model.parameters()):,} parameters, "
        f"{config['train']['steps']} steps in {seconds:.0f} s (last loss {history['loss'][-1] / 0.6931:.3f} bits)",
        flush=True,
    )
    figures[f"train {name}"] = {"device": device, "seconds": seconds, "steps": config["train"]["steps"]}
    rates(lambda ids: train.bits_per_char(model, ids, device), figures, f"{name} float32 ({device})", BARS[name])
    if out:
        out.mkdir(parents=True, exist_ok=True)
        gpt.save(model, out / f"{name}.pt", history)
    if squeeze_steps is None:
        return
    buffer = io.BytesIO()
    gpt.save(model, buffer)  # before fine-tuning, which may change the model it is given
    start = time.perf_counter()
    small = squeeze.finetune(model, train.corpus(), steps=squeeze_steps, device=device)
    packed = squeeze.pack(small)
    print(f"squeeze.finetune ({squeeze_steps} steps) and pack on {device}: {time.perf_counter() - start:.0f} s")
    compressed(buffer.getvalue(), packed, squeeze.unpack, figures, f"{name} compressed", BARS[name], device)
    if out:
        (out / f"{name}.sqz").write_bytes(packed)
    if device != "cpu":  # the same compressed model's rate computed on both
        m = squeeze.unpack(packed)
        ids = gpt.encode(load_text("valid"))
        on_cpu = train.bits_per_char(m, ids, "cpu")
        on_dev = train.bits_per_char(m, ids, device)
        figures["agreement"] = {"cpu": on_cpu, device: on_dev, "difference": abs(on_cpu - on_dev)}
        print(
            f"the compressed {name} model on The Tempest: {on_cpu:.6f} bits per character on the CPU, "
            f"{on_dev:.6f} on {device} (difference {abs(on_cpu - on_dev):.2g})"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-suite", action="store_true")
    p.add_argument("--no-reference", action="store_true")
    p.add_argument("--coder-chars", type=int, default=5_000, help="0: skip the coder's throughput")
    p.add_argument("--train", choices=sorted(BARS))
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int)
    p.add_argument("--squeeze-steps", type=int)
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    figures: dict = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if not a.no_suite:
        suite()
    if not a.no_reference:
        reference(figures)
    if a.coder_chars:
        coder_speed(a.coder_chars, figures)
    if a.train:
        train_run(a.train, a.device, a.steps, a.squeeze_steps, a.out, figures)
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "figures.json").write_text(json.dumps(figures, indent=1, default=str))


if __name__ == "__main__":
    main()
