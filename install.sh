#!/bin/sh
# Set up the course for the Python first on PATH (or $PYTHON): PyTorch's CPU build, the course with
# its extras, then grade hw1's reference solution (it should print 100 / 100).
#
#   sh install.sh                 CPU PyTorch (a few hundred MB), what a laptop and CI need
#   TORCH=gpu sh install.sh       PyTorch from the default index instead (on Linux the CUDA build,
#                                 several GB; for the capstone on a GPU)
#   sh install.sh --torch-only [PIP ARGS]
#                                 only the first step, with extra pip arguments (the tests use
#                                 --dry-run --report FILE to see which build it picks)
#
# Steps:
# 1. Unless TORCH=gpu, or a torch is already installed: torch alone from PyTorch's CPU wheel index,
#    the ecosystem's convention for CPU builds. Only that index (and any local wheel folder pip is
#    configured with, `find-links`) is looked at: other indexes in a pip configuration may offer a
#    newer CUDA build, which pip would prefer. Its dependencies come with step 2. If the index cannot
#    be reached (a machine that reaches only a package registry), pip says so at once (one retry),
#    and step 2 takes torch from the registry.
# 2. The course, editable, with nbgrader (for instructors and the tests) and the tests' own tools
#    (ruff, mypy, jsonschema, Playwright); `pip install -e .` alone is enough to take the course.
# 3. course check hw1 --solution.
set -eu
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
CPU_INDEX=${COURSE_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}  # the override is for the tests

cpu_torch() {
    PIP_EXTRA_INDEX_URL=$CPU_INDEX "$PYTHON" -m pip install --no-deps --retries 1 --index-url "$CPU_INDEX" "$@" "torch>=2.2"
}

if [ "${1:-}" = "--torch-only" ]; then
    shift
    cpu_torch "$@"
    exit
fi

if [ "${TORCH:-cpu}" != gpu ] && ! "$PYTHON" -c "import torch" 2>/dev/null; then
    cpu_torch || echo "install.sh: no CPU build of torch could be installed from $CPU_INDEX; the next step takes torch from the default index" >&2
fi
"$PYTHON" -m pip install -e ".[nbgrader,dev]"
course check hw1 --solution
