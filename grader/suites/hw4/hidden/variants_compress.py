"""hw4 variants of tasks 4.6 (distill.py) and 4.7 (compress.py) for `course audit hw4`: realistic
mistakes, one each, and other correct formulations.

distill.py and compress.py are used by their own task's tests only, so a mistake in either loses its
task and nothing else; deep_compress's mistakes show in the experiment (task 4.7)."""

from grader.audit import Variant

KL = "    kl = (torch.xlogy(p, p) - p * log_q).sum(dim=1).mean()\n"
LOSS = "    return alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(student_logits, labels)\n"
TEACHER = "    p = F.softmax(teacher_logits.detach() / T, dim=1)\n"

WRONG_DISTILL = [
    Variant(
        "kl_without_T2",
        "distill.py",
        LOSS,
        LOSS.replace("alpha * T**2 * kl", "alpha * kl"),
        ("4.6",),
        says="without the factor T²",
    ),
    Variant(
        "kl_reversed",
        "distill.py",
        KL,
        "    q, log_p = log_q.exp(), F.log_softmax(teacher_logits.detach() / T, dim=1)\n"
        "    kl = (q * (log_q - log_p)).sum(dim=1).mean()\n",
        ("4.6",),
        says="KL(q ‖ p), the divergence reversed",
    ),
    Variant(
        "teacher_not_softened",
        "distill.py",
        TEACHER,
        TEACHER.replace(" / T", ""),
        ("4.6",),
        says="teacher not softened by T",
    ),
    Variant(
        "gradient_into_the_teacher",
        "distill.py",
        TEACHER,
        TEACHER.replace(".detach()", ""),
        ("4.6",),
        says="fixed target",
    ),
]

CORRECT_DISTILL: list[Variant] = []

VALUES = "    values = min(kept * bits, huffman_bits(indices.flatten().to(torch.int64), bits))\n"

WRONG_COMPRESS = [
    Variant("indices_not_counted", "compress.py", VALUES, "    values = 0\n", ("4.7",), says="indices are not counted"),
    Variant(
        "first_gap_minus_zero",
        "compress.py",
        "prepend=torch.tensor([-1])",
        "prepend=torch.tensor([0])",
        ("4.7",),
        says="off by one",
    ),
    Variant(
        "huffman_lengths_all_equal",
        "compress.py",
        "    return {s: depth[s] for s in symbols}\n",
        "    return {s: max(1, (len(symbols) - 1).bit_length()) for s in symbols}\n",
        ("4.7",),
        says="fixed-length code",
    ),
    Variant(
        "masks_not_kept_while_fine_tuning",
        "compress.py",
        "    apply_masks(model, masks)\n",
        "",
        ("4.7",),
        says="masked fine-tuning",
    ),
]

CORRECT_COMPRESS = [
    Variant(
        "huffman_merged_nodes_first_on_ties",
        "compress.py",
        "        heapq.heappush(heap, (c1 + c2, order, a + b))\n",
        "        heapq.heappush(heap, (c1 + c2, -order, a + b))\n",
    ),
]

WRONG = WRONG_DISTILL + WRONG_COMPRESS
CORRECT = CORRECT_DISTILL + CORRECT_COMPRESS
