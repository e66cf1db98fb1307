"""hw4, part 3: knowledge distillation (Hinton, Vinyals & Dean 2015).

A small student network learns from a trained teacher's softened output distribution as well as
from the labels. With temperature T, p = softmax(teacher_logits / T) and q = softmax(student_logits / T):

    loss = alpha * T^2 * KL(p || q) + (1 - alpha) * CE(student_logits, labels)

KL(p || q) = sum_c p_c (log p_c - log q_c), averaged over the batch (a sum over classes, a mean over
examples: "batchmean"), with 0 log 0 = 0; CE is the usual cross-entropy at temperature 1, averaged
over the batch. The factor T^2 keeps the soft targets' gradients the same size whatever T is: without
it, their gradient with respect to a student logit, (q - p) / T per example, shrinks like 1 / T^2 as T
grows. The teacher is a fixed target: no gradient flows into teacher_logits.
Write the loss yourself from log_softmax: torch.nn.functional.kl_div and nn.KLDivLoss may not be used here.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def distillation_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, T: float, alpha: float
) -> torch.Tensor:
    """Task 4.6. Hinton's distillation loss, a scalar tensor (the module docstring's formula).

    student_logits and teacher_logits: (N, C) floating-point logits; labels: (N,) int64 classes in 0..C-1.
    Raises ValueError unless the shapes agree, T > 0 and 0 <= alpha <= 1.
    """
    if student_logits.dim() != 2 or student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student and teacher logits must both have shape (N, C), got {tuple(student_logits.shape)} and "
            f"{tuple(teacher_logits.shape)}"
        )
    if labels.shape != student_logits.shape[:1]:
        raise ValueError(f"labels must have shape ({student_logits.shape[0]},), got {tuple(labels.shape)}")
    if isinstance(T, bool) or not isinstance(T, (int, float)) or not math.isfinite(T) or T <= 0:
        raise ValueError(f"T must be a positive number, got {T!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number from 0 to 1, got {alpha!r}")
    # HINT: torch.xlogy(p, p) is p log p with 0 log 0 = 0.
    raise NotImplementedError("Task 4.6: distillation_loss is not implemented yet")
