"""hw4 variants of prune.py (tasks 4.1 and 4.2), for `course audit hw4`: realistic mistakes, one each,
and other correct formulations (other tie-breaks among equal |w| or equal scores included).

Task 4.7's deep_compress runs global_masks and apply_masks, so a mistake there can cost 4.7 too.
Measured with the reference's other modules (LeNet-300-100 trained as the experiment does, seed 0 and
the 4.7 seed, bound on the size as experiment.bound_bits): a mask that is not kept through the
pruning fine-tune (no hook, weights not zeroed, kept gradients zeroed) costs 2.4 to 12 points of
accuracy, and loses 4.7. Pruning each layer to the same sparsity (global_masks done per layer) is
not among them although the 4.1 tests catch it: in the experiment it costs 0.1 to 1.4 points, so
whether it also fails task 4.7's accuracy bar depends on the seed, and the audit wants verdicts that
do not."""

from grader.audit import Variant

MAGNITUDE_SELECTION = (
    "    order = torch.argsort(weight.abs().flatten(), stable=True)\n"
    "    mask = torch.ones(weight.numel(), dtype=torch.bool, device=weight.device)\n"
    "    mask[order[:k]] = False\n"
)
HOOK = "        p.register_hook(lambda grad, keep=keep: grad.masked_fill(~keep, 0))\n"
KEPT_SELECTION = "    order = torch.argsort(scores, stable=True)\n    return order[n - n_keep :].sort().values\n"
FLATTEN_COLUMNS = "            weights[b] = w.view(w.shape[0], channels, -1)[:, idx].flatten(1)\n"

WRONG = [
    # 4.1 magnitude_mask
    Variant(
        "mask_count_truncated",
        "prune.py",
        "    k = round(sparsity * weight.numel())\n",
        "    k = int(sparsity * weight.numel())\n",
        ("4.1",),
        says="int() truncates",
    ),
    Variant(
        "mask_prunes_the_largest",
        "prune.py",
        "    order = torch.argsort(weight.abs().flatten(), stable=True)\n",
        "    order = torch.argsort(weight.abs().flatten(), stable=True, descending=True)\n",
        ("4.1",),
        says="the largest |w| were pruned",
    ),
    # 4.1 apply_masks
    Variant(
        "apply_masks_without_hook",
        "prune.py",
        HOOK,
        "",
        ("4.1", "4.7"),
        says="pruned weights came back after training step 1",
    ),
    Variant(
        "kept_neurons_keeps_the_weakest",
        "prune.py",
        KEPT_SELECTION,
        "    order = torch.argsort(scores, stable=True)\n    return order[:n_keep].sort().values\n",
        ("4.2",),
        says="the smallest scores",
    ),
    Variant(
        "prune_neurons_flatten_one_column_per_channel",
        "prune.py",
        FLATTEN_COLUMNS,
        "            weights[b] = w[:, idx]\n",
        ("4.2",),
        says="its block of H·W",
    ),
    Variant(
        "prune_neurons_scores_cut_weights",
        "prune.py",
        "        idx = kept[a]\n",
        "        idx = kept_neurons(weights[a], keep, norm)\n",
        ("4.2",),
        says="score every layer on the original weights",
    ),
]

CORRECT = [
    Variant(
        "mask_keeps_the_largest_sorted_descending",
        "prune.py",
        MAGNITUDE_SELECTION,
        "    order = torch.argsort(weight.abs().flatten(), descending=True, stable=True)\n"
        "    mask = torch.zeros(weight.numel(), dtype=torch.bool, device=weight.device)\n"
        "    mask[order[: weight.numel() - k]] = True\n",
    ),
    Variant(
        "kept_neurons_topk_any_ties",
        "prune.py",
        KEPT_SELECTION,
        "    return torch.topk(scores, n_keep).indices.sort().values\n",
    ),
]
