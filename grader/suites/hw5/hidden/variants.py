"""hw5 variants for `course audit hw5`: realistic mistakes (one each) and other correct formulations,
kept by the part they edit (variants_attention.py: tasks 5.1-5.2, variants_vit.py: 5.3, 5.4 and 5.6,
variants_train.py: 5.5).

The ViT is built on the student's attention, so a mistake in attention that changes the ViT's
forward costs 5.4 too; task 5.5 trains the student's ViT only when its forward is the handout's
(the course's own otherwise), so it grades train_vit alone. Each variant's `loses` says what it was
measured to lose. Every graded variant runs task 5.5's training
(twice with the seeds' re-draw), so the audit grades the ones named here: every mistake issue 15
lists, at least one per concept of each task, and two of task 5.5's own (the schedule, the accuracy
as a fraction). The others (EXTRA_WRONG, EXTRA_CORRECT) are audited by `course audit hw5 --extra`."""

from grader.audit import split_audited
from grader.suites.hw5.hidden import variants_attention, variants_train, variants_vit

AUDITED_WRONG = (
    # 5.1
    "no_scaling",
    "softmax_over_the_queries",
    "mask_after_softmax",
    "causal_without_diagonal",
    # 5.2
    "split_heads_without_transpose",
    "in_proj_rows_in_wrong_order",
    # 5.3
    "patches_numbered_by_column",
    "sin_cos_swapped",
    # 5.4
    "block_post_norm",
    "class_token_appended",
    "positions_after_the_blocks",
    # 5.5
    "schedule_not_applied",
    "evaluate_in_percent",
    # 5.6
    "rollout_without_identity",
    "rollout_wrong_order",
    "maps_from_column_zero",
)
AUDITED_CORRECT = (
    "einsum",
    "softmax_by_logsumexp",
    "patch_embedding_by_conv",
    "rollout_by_reduce_in_float64",
)

ALL_WRONG = variants_attention.WRONG + variants_vit.WRONG + variants_train.WRONG
ALL_CORRECT = variants_attention.CORRECT + variants_vit.CORRECT + variants_train.CORRECT
WRONG, EXTRA_WRONG = split_audited(ALL_WRONG, AUDITED_WRONG)
CORRECT, EXTRA_CORRECT = split_audited(ALL_CORRECT, AUDITED_CORRECT)
