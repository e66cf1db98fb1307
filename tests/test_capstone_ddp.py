"""The capstone's train.py scales out with torch.distributed's own launcher and engine: `torchrun
--nproc_per_node 2 train.py --config tiny ...` on the CPU (gloo backend) starts two processes that
train one model together under DistributedDataParallel.

What is checked: the script as a student runs it (its `__main__`) writes one float32 checkpoint
(rank 0 only) that gpt.load reads; and, run through train.main with train.train wrapped to save
each process's result, the two replicas end with equal weights (DDP averages the gradients, so both
make the same steps) although each drew its own batches (their losses differ). The corpus is cut to
a small copy and the run to a few steps, so the test takes some 20 seconds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT

CAPSTONE = ROOT / "solutions" / "capstone"
STEPS = 12
TORCHRUN = shutil.which("torchrun")

WRAPPER = """\
import os, sys
import torch
sys.path.insert(0, {capstone!r})
import train

trained = train.train


def saving(*args, **kwargs):
    model, history = trained(*args, **kwargs)
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else -1
    torch.save({{"state": model.state_dict(), "loss": history["loss"], "world": int(os.environ["WORLD_SIZE"])}},
               os.path.join({out!r}, f"rank{{rank}}.pt"))
    return model, history


train.train = saving
train.main(sys.argv[1:])
"""

pytestmark = pytest.mark.skipif(TORCHRUN is None or not torch.distributed.is_available(), reason="torchrun is not installed")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A small corpus folder: the first 60,000 characters of train.txt and 20,000 of more_plays.txt."""
    folder = tmp_path_factory.mktemp("data")
    shakespeare = ROOT / "datasets" / "shakespeare"
    (folder / "train.txt").write_text((shakespeare / "train.txt").read_text()[:60_000])
    (folder / "more_plays.txt").write_text((shakespeare / "more_plays.txt").read_text()[:20_000])
    return folder


def torchrun(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(CAPSTONE)}
    command = [TORCHRUN, "--standalone", "--nproc_per_node", "2", str(script), *args]  # --standalone: a free port
    run = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    return run


def tiny_run(data: Path, out: Path) -> list[str]:
    """train.py's arguments for the tiny configuration's STEPS steps on the CPU."""
    return ["--config", "tiny", "--steps", str(STEPS), "--device", "cpu", "--data", str(data), "--out", str(out)]


def test_torchrun_train_py_writes_one_checkpoint(tmp_path, data):
    """`torchrun --nproc_per_node 2 train.py --config tiny`: rank 0 writes the checkpoint, a tiny GPT."""
    out = tmp_path / "tiny.pt"
    run = torchrun(CAPSTONE / "train.py", *tiny_run(data, out), cwd=tmp_path)
    assert out.is_file(), run.stdout
    assert run.stdout.count("parameters") == 1, run.stdout  # one process reports (rank 0)
    sys.path.insert(0, str(CAPSTONE))
    try:
        import gpt

        model = gpt.load(out)
    finally:
        sys.path.remove(str(CAPSTONE))
        sys.modules.pop("gpt", None)
    assert model.config == {**gpt.CONFIGS["tiny"]["model"], "vocab": 96}
    assert all(t.dtype == torch.float32 for t in model.state_dict().values())


def test_ddp_replicas_stay_equal_on_their_own_batches(tmp_path, data):
    """Both processes end with the same weights, after different batches (different losses)."""
    script = tmp_path / "wrapped_train.py"
    script.write_text(WRAPPER.format(capstone=str(CAPSTONE), out=str(tmp_path)))
    torchrun(script, *tiny_run(data, tmp_path / "tiny.pt"), cwd=tmp_path)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert len(ranks[0]["loss"]) == STEPS
    assert ranks[0]["loss"] != ranks[1]["loss"], "both processes drew the same batches"
    a, b = ranks[0]["state"], ranks[1]["state"]
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs between the two processes"
    assert (tmp_path / "tiny.pt").is_file()
