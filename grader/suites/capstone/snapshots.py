"""What `course snapshot capstone` stores: the reference squeeze.py's outputs on the public suite's
fixed cases of task 6.4, where no library gives the answer and a grading-side copy of the handout's
rules would be the solution itself: k-means levels (and whether the run converged), compress's levels
per matrix, the events of each event case, the files pack writes (with the course's coder, as the
graders run it), and the rate compress alone reaches in finetune's case."""

from __future__ import annotations

import base64

import torch

from grader.data import load_text
from grader.suites.capstone import model as M
from grader.suites.capstone import squeeze_checks as C


def kmeans_run(squeeze, values: torch.Tensor, k: int, iters: int) -> dict:
    """The reference's levels, and whether one more round would change them (it converged if not)."""
    levels, _ = squeeze.kmeans_levels(values, k, iters)
    again, _ = squeeze.kmeans_levels(values, k, iters + 1)
    return {"levels": levels.tolist(), "converged": torch.equal(levels, again)}


def compress_case(submission, squeeze, sparsity: float, bits: int, seed: int) -> dict:
    """Per matrix: the levels the kept weights took, the run's convergence, and the whole matrix's levels."""
    state = M.random_state(M.TINY, seed)
    got = submission.driver("squeeze_compress", M.TINY, state, sparsity, bits)["state"]
    out = {}
    for name in C.matrix_names(M.TINY):
        kept = got[name] != 0
        run = kmeans_run(squeeze, state[name][kept], 2**bits, 30) if kept.any() else {"levels": [], "converged": True}
        run["levels"] = torch.unique(got[name][kept]).tolist()
        run["whole"] = squeeze.kmeans_levels(state[name].flatten(), 2**bits)[0].tolist()
        out[name] = run
    return out


def finetune_alone(submission) -> float:
    """Bits per character of compress alone, on finetune's model and the characters it is scored on."""
    f = C.FINETUNE
    state = submission.driver("squeeze_compress", M.TINY, M.random_state(M.TINY, int(f["seed"])), f["sparsity"], f["bits"])[
        "state"
    ]
    ids = M.ids_of(load_text("train")[: C.TUNE_CHARS + C.CHECK_CHARS])
    return M.bits_per_char(state, M.TINY, ids[C.TUNE_CHARS :])


def make(submission) -> dict:
    squeeze = submission.module("squeeze")
    files = {
        C.case_key(shape, seed): submission.driver("squeeze_pack", C.SHAPES[shape], [C.case_state(shape, seed)])[0]
        for shape, seed in C.FILE_CASES
    }
    return {
        "squeeze": {
            "kmeans": [kmeans_run(squeeze, v, k, iters) for v, k, iters, _ in C.kmeans_cases()],
            "compress": {C.case_key(*case): compress_case(submission, squeeze, *case) for case in C.COMPRESS_CASES},
            "events": [[int(e) for e in squeeze.to_events(torch.tensor(c), k)] for c, k, _ in C.event_cases()],
            "files": {key: base64.b64encode(data).decode("ascii") for key, data in files.items()},
            "finetune_alone": round(finetune_alone(submission), 6),
        }
    }
