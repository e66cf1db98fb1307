"""Training on a GPU: `course plot ID --device cuda`. The device reaches the student's code, the
worker that runs it sees the GPUs' device files, and its memory limit still holds where a GPU
driver's address-space reservations would break an address-space limit. The last test needs a CUDA
GPU; the others hold on any machine."""

from __future__ import annotations

import resource

import pytest
import torch
from click.testing import CliRunner

from grader import sandbox
from grader.cli import main
from grader.config import Limits
from grader.errors import StudentError
from grader.remote import Submission
from tests.conftest import ISOLATIONS

CUDA = torch.cuda.is_available()

PROBE = """
import mmap, os, resource

def limits():
    return {"as": resource.getrlimit(resource.RLIMIT_AS)[0], "data": resource.getrlimit(resource.RLIMIT_DATA)[0]}

def reserve(n):
    # what a GPU driver does for unified addressing: address space, nothing written, no swap reserved
    m = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_NORESERVE", 0x4000), prot=0)
    size = len(m)
    m.close()
    return size

def allocate(n):
    return len(bytearray(n))

def listing(path):
    return sorted(os.listdir(path)) if os.path.isdir(path) else None
"""

MB = 1024 * 1024


@pytest.fixture
def probe(tmp_path):
    (tmp_path / "probe.py").write_text(PROBE)
    return tmp_path


def start(path, isolation, device):
    sub = Submission(path, ["probe"], Limits(wall_s=20, memory_mb=1024), isolation, device=device)
    sub.begin_test("gpu", 0)
    return sub, sub.module("probe")


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_gpu_worker_keeps_its_memory_limit_on_data_and_leaves_address_space_free(probe, isolation):
    sub, p = start(probe, isolation, "cuda")
    try:
        assert p.limits() == {"as": resource.RLIM_INFINITY, "data": 1024 * MB}
        assert p.reserve(8 * 1024 * MB) == 8 * 1024 * MB, "8 GB of address space reserved, as CUDA does"
        assert p.allocate(256 * MB) == 256 * MB
        with pytest.raises(StudentError, match="MemoryError"):
            p.allocate(2048 * MB)
    finally:
        sub.close()


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_cpu_worker_limits_its_address_space(probe, isolation):
    sub, p = start(probe, isolation, "cpu")
    try:
        assert p.limits()["as"] == 1024 * MB
        with pytest.raises(StudentError, match="OSError|MemoryError"):
            p.reserve(8 * 1024 * MB)
    finally:
        sub.close()


def test_the_sandbox_of_a_gpu_worker_binds_the_gpus_and_sys_read_only(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: "/usr/bin/bwrap")
    monkeypatch.setattr(sandbox, "gpu_devices", lambda: ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm"])
    plain = sandbox.bwrap_prefix(tmp_path, tmp_path)
    gpu = sandbox.bwrap_prefix(tmp_path, tmp_path, gpu=True)
    assert "--dev-bind" not in plain and "/sys" not in plain
    binds = [gpu[i + 1 : i + 3] for i, a in enumerate(gpu) if a == "--dev-bind"]
    assert binds == [["/dev/nvidia0"] * 2, ["/dev/nvidiactl"] * 2, ["/dev/nvidia-uvm"] * 2]
    assert gpu.index("--dev-bind") > gpu.index("--dev"), "on top of bubblewrap's own /dev"
    assert ["--ro-bind", "/sys", "/sys"] == gpu[gpu.index("/sys") - 1 : gpu.index("/sys") + 2]


@pytest.mark.skipif(not sandbox.bwrap_path(), reason="bubblewrap is not installed")
def test_a_gpu_worker_under_bwrap_sees_sys_and_a_cpu_worker_does_not(probe):
    for device, seen in (("cuda", True), ("cpu", False)):
        sub, p = start(probe, "bwrap", device)
        try:
            assert (p.listing("/sys/bus") is not None) is seen, device
        finally:
            sub.close()


class Recorder:
    """A stand-in submission for hw5's figures: records the driver calls, and stops at the first."""

    def __init__(self, device: str):
        self.device = device
        self.calls: list[tuple] = []

    def driver(self, name, *args):
        self.calls.append((name, *args))
        raise StudentError("stopped here", "error")


def test_hw5_figures_pass_the_device_to_the_students_training_and_maps(tmp_path):
    from grader.suites.hw5 import figures

    sub = Recorder("cuda:1")
    for which in ("vit", "cnn"):
        with pytest.raises(StudentError):
            figures.run(sub, which)
    assert [(c[0], c[-1]["device"]) for c in sub.calls] == [("train", "cuda:1"), ("train_cnn", "cuda:1")]
    state = {"head.weight": torch.zeros(10, 64)}
    figures._RUNS[(id(sub), "vit")] = (state, {"loss": [1.0]}, torch.zeros(1000, 10))
    try:
        for draw in (figures.draw_rollout, figures.draw_heads):
            with pytest.raises(StudentError):
                draw(sub, tmp_path)
    finally:
        figures._RUNS.pop((id(sub), "vit"))
    assert [(c[0], c[-1]) for c in sub.calls[2:]] == [("rollouts", "cuda:1"), ("maps", "cuda:1")]


@pytest.mark.parametrize(
    "device, cause",
    [
        ("tpu", "--device tpu: not a device; use cpu, cuda or cuda:N"),
        ("cuda:x", "--device cuda:x: not a device; use cpu, cuda or cuda:N"),
        pytest.param(
            "cuda",
            "--device cuda: this machine has no CUDA GPU that torch can use",
            marks=pytest.mark.skipif(CUDA, reason="this machine has a CUDA GPU"),
        ),
        ("cuda:64", "--device cuda:64: this machine has"),
    ],
)
def test_a_device_this_machine_lacks_is_one_line_and_exit_2(course, monkeypatch, tmp_path, device, cause):
    monkeypatch.setenv("COURSE_ROOT", str(course.root))
    result = CliRunner().invoke(main, ["plot", "hw1", "--solution", "--out", str(tmp_path), "--device", device])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith(f"course: {cause}"), result.output
    assert not list(tmp_path.iterdir()), "nothing drawn"


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_hw5_figures_train_on_the_gpu(course, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_ROOT", str(course.root))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    result = CliRunner().invoke(main, ["plot", "hw5", "--solution", "--out", str(tmp_path), "--device", "cuda"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in tmp_path.glob("*.png")} == {"hw5_training.png", "hw5_rollout.png", "hw5_heads.png"}
