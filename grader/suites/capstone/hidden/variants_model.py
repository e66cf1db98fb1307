"""Capstone variants of the given model (gpt.py), for `course audit capstone`: a student may change
the given code, and the causality probe of task 6.6 must see it. Task 6.1 trains the course's model,
6.3 codes with the cached step (which never sees ahead) and 6.4 is scored from the weights on the
grading side, so a mask that lets a position see the next one costs 6.6 alone."""

from grader.audit import Variant

MASK = "        causal = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(S - T)\n"

WRONG = [
    Variant(
        "causal_mask_off_by_one",
        "gpt.py",
        MASK,
        MASK.replace("tril(S - T)", "tril(S - T + 1)"),
        ("6.6",),
        says="the model peeks ahead",
    ),
]
CORRECT = [
    Variant(
        "mask_by_triu",
        "gpt.py",
        MASK,
        "        causal = ~torch.ones(T, S, dtype=torch.bool, device=x.device).triu(S - T + 1)\n",
    ),
]
