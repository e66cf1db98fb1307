#!/usr/bin/env bash
# The {{assignment}} autograder's set-up, written by `course gradescope {{assignment}}`. Gradescope runs
# it once, as root, when it builds the autograder's image, with this zip unpacked in /autograder/source.
#
# 1. apt-get (as root, where there is apt-get): Python with venv and pip, bubblewrap (the stronger
#    sandbox for student code) and libseccomp2 (the system-call filter). An image that refuses is
#    said so, and set-up goes on: what is missing then shows in the grading.
# 2. A virtual environment in $ROOT/venv, where run_autograder grades.
# 3. PyTorch's CPU build alone, from PyTorch's CPU wheel index only (the Linux wheel of the default
#    index is the CUDA build, several GB); an index out of reach is said so, and step 4 takes torch
#    from the default index.
# 4. The course, editable from $ROOT/source, with its dependencies.
# 5. What a worker must not read made root's alone: the hidden suite (grader/suites/{{assignment}}/hidden),
#    held-out data (datasets/**/heldout) and solutions/. Grading runs as root; without bubblewrap a
#    worker runs student code as COURSE_WORKER_USER (default nobody), which still reads the rest:
#    the environment, and the course package with the drivers.
#
# Settings, from the environment:
#   COURSE_AUTOGRADER_ROOT   where the autograder lives (default /autograder)
#   COURSE_TORCH_INDEX       PyTorch's CPU wheel index (default https://download.pytorch.org/whl/cpu)
#   PYTHON                   the Python that makes the environment (default python3)
#   COURSE_SETUP_OFFLINE=1   for the course's own tests: no apt-get and no PyTorch step; the environment
#                            sees this machine's Python packages, and step 4 installs the course alone
#                            (pip --no-deps --no-build-isolation), so nothing is downloaded.
set -eu
umask 022
ROOT=${COURSE_AUTOGRADER_ROOT:-/autograder}
SOURCE=$ROOT/source
VENV=$ROOT/venv
PYTHON=${PYTHON:-python3}
CPU_INDEX=${COURSE_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}

if [ "${COURSE_SETUP_OFFLINE:-0}" = 1 ]; then
    "$PYTHON" -m venv --system-site-packages --without-pip "$VENV"
    # and the packages of $PYTHON's own environment, where that is a virtual one
    "$PYTHON" -c 'import site, sys; sys.prefix != sys.base_prefix and print("import site; " + "; ".join(f"site.addsitedir({p!r})" for p in site.getsitepackages() if p.startswith(sys.prefix)))' \
        > "$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/_course_setup_parent.pth"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e "$SOURCE"
else
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        { apt-get update -q && apt-get install -y -q --no-install-recommends \
            python3 python3-venv python3-pip bubblewrap libseccomp2; } \
            || echo "setup.sh: apt-get could not install python3-venv, bubblewrap or libseccomp2; going on without" >&2
    fi

    "$PYTHON" -m venv "$VENV"
    pip() { "$VENV/bin/python" -m pip "$@"; }
    pip install --quiet --upgrade pip || echo "setup.sh: pip could not be upgraded; going on with $(pip --version)" >&2
    PIP_EXTRA_INDEX_URL=$CPU_INDEX pip install --no-deps --retries 1 --index-url "$CPU_INDEX" "torch>=2.2" \
        || echo "setup.sh: no CPU build of torch could be installed from $CPU_INDEX; the next step takes torch from the default index" >&2
    pip install -e "$SOURCE"
    "$VENV/bin/python" -c "import torch, grader.runner" # fail the build here, not at the first submission
fi

# 5. Every user reads the environment and the course; root alone reads what grading keeps secret.
chmod o+x "$ROOT"
chmod -R o+rX "$VENV" "$SOURCE"
chmod -R go-rwx "$SOURCE/grader/suites/{{assignment}}/hidden"
[ ! -d "$SOURCE/datasets" ] || find "$SOURCE/datasets" -type d -name heldout -prune -exec chmod -R go-rwx {} +
[ ! -d "$SOURCE/solutions" ] || chmod -R go-rwx "$SOURCE/solutions"
