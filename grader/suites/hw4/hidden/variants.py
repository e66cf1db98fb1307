"""hw4 variants for `course audit hw4`: realistic mistakes (one each) and other correct formulations,
kept by the file they edit (variants_prune.py: tasks 4.1-4.2, variants_quantize.py: 4.3-4.5,
variants_compress.py: 4.6-4.7). Task 4.7's experiment runs the student's global_masks,
apply_masks, kmeans_share and centroid_gradients, so a mistake there that breaks the compression
loses 4.7 as well, and says so in its `loses`."""

from grader.audit import split_audited
from grader.suites.hw4.hidden import variants_compress, variants_prune, variants_quantize

ALL_WRONG = variants_prune.WRONG + variants_quantize.WRONG + variants_compress.WRONG
ALL_CORRECT = variants_prune.CORRECT + variants_quantize.CORRECT + variants_compress.CORRECT


# The default audit, which CI runs, grades these: at least one mistake per concept of each task and
# four or five correct formulations; the others are audited by `course audit hw4 --extra` (every
# variant above, as verified when it was written).
AUDITED_WRONG = (
    "mask_count_truncated",  # 4.1
    "apply_masks_without_hook",
    "kept_neurons_keeps_the_weakest",  # 4.2
    "prune_neurons_scores_cut_weights",
    "zero_point_truncated",  # 4.3
    "per_channel_uses_the_whole_tensor",
    "symmetric_clamp_to_the_signed_range",
    "kmeans_random_init",  # 4.4
    "empty_cluster_to_zero",
    "ste_not_clipped",  # 4.5
    "kl_without_T2",  # 4.6
    "kl_reversed",
    "teacher_not_softened",
    "indices_not_counted",  # 4.7
    "huffman_lengths_all_equal",
    "masks_not_kept_while_fine_tuning",
)
AUDITED_CORRECT = (
    "mask_keeps_the_largest_sorted_descending",
    "round_half_away_from_zero",
    "ste_as_an_autograd_function",
    "huffman_merged_nodes_first_on_ties",
)
WRONG, EXTRA_WRONG = split_audited(ALL_WRONG, AUDITED_WRONG)
CORRECT, EXTRA_CORRECT = split_audited(ALL_CORRECT, AUDITED_CORRECT)
