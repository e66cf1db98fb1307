"""Confinement of a worker process: OS limits, a system-call filter, and bubblewrap when present.

Three layers, from the outside in:

1. `bwrap_prefix()` (grading side): where `bwrap` is on PATH, the worker starts inside a
   bubblewrap sandbox with every namespace unshared (no network, its own process tree), the
   Python environment and the course package read-only, the submission read-only, and a private
   writable /tmp. Nothing else of the file system is visible.

Inside the worker, `grader.worker.confine` adds OS limits and a seccomp filter before any student
code is imported (its docstring says exactly what the filter refuses).
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


GPU_DEVICES = ("/dev/nvidia*", "/dev/nvidia-caps/*", "/dev/kfd", "/dev/dri/*")  # NVIDIA's, and ROCm's


def gpu_devices() -> list[str]:
    """The device files of this machine's GPUs (NVIDIA's or AMD's), for a worker that may use them."""
    import glob

    return sorted({p for pattern in GPU_DEVICES for p in glob.glob(pattern)})


def bwrap_prefix(workdir: Path, submission: Path, gpu: bool = False) -> list[str]:
    """The bwrap command line that runs a warm parent and its workers with only what they need
    in view.

    They see: the system's libraries and the Python installation read-only; of the course package
    only `grader/__init__.py` and `grader/worker/` (the code that runs beside student code: no
    suite, public or hidden, no solution, no grading-side module), read-only; `submission` (the
    folder the grading side fills with one student's files before each fork) read-only at
    /submission; and `workdir` as their only writable place, mounted at /tmp. datasets/ is not
    visible, so held-out data stays on the grading side. With `gpu`, also the GPUs' device files
    (`gpu_devices()`) and /sys read-only, where the driver finds them on the PCI bus.
    """
    from grader.paths import PACKAGE, course_root

    readonly = {"/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache", "/etc/alternatives"}
    for key in ("stdlib", "platstdlib", "purelib", "platlib", "include"):
        readonly.add(sysconfig.get_paths()[key])
    readonly |= {sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent)}
    # what the grading process imports from, but no course root (a checkout: its solutions, its
    # datasets) and nothing that holds the scratch folder (/tmp, for a script run from there)
    readonly |= {
        p
        for p in sys.path
        if os.path.isabs(p)
        and Path(p).is_dir()
        and not p.startswith(str(course_root()))
        and not (Path(p) / "course.yaml").exists()
        and Path(p).resolve() != PACKAGE.parent
        and not Path(workdir).resolve().is_relative_to(Path(p).resolve())
    }
    bwrap = bwrap_path()
    if bwrap is None:
        raise RuntimeError("bubblewrap (bwrap) is not installed")
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    # /tmp first: the read-only binds below may lie under /tmp (a checkout or a venv there) and
    # must be mounted on top of it, not hidden by it.
    argv += ["--bind", str(workdir), "/tmp", "--proc", "/proc", "--dev", "/dev"]
    if gpu:
        for device in gpu_devices():
            argv += ["--dev-bind", device, device]
        argv += ["--ro-bind", "/sys", "/sys"]
    for path in sorted(readonly):
        if os.path.exists(path):
            argv += ["--ro-bind", path, path]
    # the package last, on top of whatever showed it above (an installed copy in site-packages):
    # an empty folder with the worker's part alone in it
    argv += [
        "--tmpfs",
        str(PACKAGE),
        "--ro-bind",
        str(PACKAGE / "__init__.py"),
        str(PACKAGE / "__init__.py"),
        "--ro-bind",
        str(PACKAGE / "worker"),
        str(PACKAGE / "worker"),
        "--remount-ro",
        str(PACKAGE),
    ]
    argv += ["--ro-bind", str(submission), SUBMISSION, "--chdir", "/tmp", "--setenv", "TMPDIR", "/tmp"]
    return argv


SUBMISSION = "/submission"  # where a worker under bubblewrap sees the student's files


def mount_targets(argv: list[str]) -> list[Path]:
    """Where a bwrap command line mounts something (the destinations of its binds and tmpfs)."""
    targets = []
    for i, arg in enumerate(argv):
        if arg in ("--bind", "--ro-bind", "--dev-bind") and i + 2 < len(argv):
            targets.append(Path(argv[i + 2]))
        elif arg in ("--tmpfs", "--proc", "--dev") and i + 1 < len(argv):
            targets.append(Path(argv[i + 1]))
    return targets
