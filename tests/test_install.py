"""The README's set-up: its two commands are the ones `.ci/run` runs, and the first one's torch step
picks PyTorch's CPU build without stalling when the CPU index cannot be reached.

The torch step is run as `sh install.sh --torch-only --dry-run --ignore-installed --report FILE`: pip
resolves and reports what it would install, and installs nothing."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

UNREACHABLE = "https://download.invalid/whl/cpu"  # .invalid never resolves (RFC 2606)


def setup_commands() -> list[str]:
    """The commands of the README's Set-up block."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Set-up\n.*?```\n(.*?)```", text, re.S)
    assert block, "README.md has no Set-up block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_has_two_set_up_commands_and_ci_runs_them_as_written():
    commands = setup_commands()
    assert commands == ["sh install.sh", "python -m pytest"], commands
    ci = (ROOT / ".ci" / "run").read_text()
    ran = [line.strip() for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert ran[-2:] == commands, f".ci/run should end with the README's two commands, as written: {ran[-2:]}"
    assert not any("pip install" in line for line in ran), ".ci/run installs Python packages only through the README's commands"


def torch_step(tmp_path, index: str | None = None) -> tuple[int, float, list[dict], str]:
    report = tmp_path / "report.json"
    env = {**os.environ, "PYTHON": sys.executable}  # the user's pip configuration and PATH, as they are
    if index:
        env["COURSE_TORCH_INDEX"] = index
    started = time.monotonic()
    proc = subprocess.run(
        ["sh", str(ROOT / "install.sh"), "--torch-only", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    seconds = time.monotonic() - started
    installs = json.loads(report.read_text())["install"] if proc.returncode == 0 and report.exists() else []
    return proc.returncode, seconds, installs, proc.stderr[-2000:]


@pytest.mark.skipif(sys.platform != "linux", reason="macOS and Windows wheels of torch are CPU builds already")
def test_the_torch_step_picks_a_cpu_build(tmp_path):
    code, seconds, installs, err = torch_step(tmp_path)
    if code != 0:
        pytest.skip(f"neither PyTorch's CPU index nor a local wheel was found: {err.strip().splitlines()[-1:]}")
    (torch,) = [i for i in installs if i["metadata"]["name"] == "torch"]
    version = torch["metadata"]["version"]
    assert version.endswith("+cpu") or platform.machine() not in ("x86_64", "AMD64"), f"torch {version} is not the CPU build"


def test_an_unreachable_cpu_index_neither_stalls_nor_breaks_the_set_up(tmp_path):
    code, seconds, installs, err = torch_step(tmp_path, UNREACHABLE)
    assert seconds < 60, f"the torch step took {seconds:.0f} s with its index unreachable"
    if code == 0:  # a local wheel (pip's find-links) served it
        assert all(i["metadata"]["version"].endswith("+cpu") for i in installs if i["metadata"]["name"] == "torch")
    script = (ROOT / "install.sh").read_text()
    assert re.search(r"^\s*cpu_torch \|\| ", script, re.M), "a failed torch step must not stop install.sh (set -e)"
