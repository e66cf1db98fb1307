"""Hidden tests for hw5 tasks 5.3, 5.4 and 5.6: the public checks on more shapes (one-pixel
patches, one patch per image, float64, 4 channels, head width 1, a single token), real digits from
the held-out split (the images only; no label crosses), deeper closed forms of the rollout, and the
invalid inputs the handout names (ValueError). Tolerances and the naming of known mistakes are the
public suite's (public/test_vit.py)."""

from __future__ import annotations

import pytest
import torch

from grader.assertions import raises
from grader.suites.hw5.public.test_vit import (
    BlockCase,
    EmbedCase,
    VitCase,
    assert_maps,
    bool_mask,
    describe,
    one_hot_columns,
    random_weights,
    run_blocks,
    run_embedding,
    run_patchify,
    run_rollouts,
    run_tables,
    run_vits,
    to_token_zero,
    vit_config,
)

# -- 5.3 ----------------------------------------------------------------------------------------------


@pytest.mark.task("5.3")
def test_patchify_more_shapes(submission, vit):
    """Is patchify right for one-pixel patches, one patch per image, 4 channels, 5×5 patches of 10×15 images and a batch of 16?"""
    run_patchify(
        submission, vit, [(1, 1, 4, 4, 1), (2, 3, 6, 6, 6), (2, 4, 10, 15, 5), (1, 1, 28, 28, 14), (16, 1, 28, 28, 7)], 630
    )


@pytest.mark.task("5.3")
def test_patchify_float64(submission, vit):
    """Does patchify keep float64 images' values and dtype?"""
    run_patchify(submission, vit, [(2, 3, 8, 12, 4), (1, 2, 9, 6, 3)], 635, torch.float64)


@pytest.mark.task("5.3")
def test_patchify_errors(vit):
    """Does patchify raise ValueError for a patch that does not divide H or W, a patch of 0, 3-D images and integer images?"""
    x = torch.zeros(1, 1, 28, 28)
    vit.patchify(x, 7)  # valid input first: the stub fails here, not as a pass
    raises("ValueError", vit.patchify, x, 5, what="patchify(28×28 images, patch=5)")
    raises("ValueError", vit.patchify, torch.zeros(1, 1, 28, 21), 2, what="patchify(28×21 images, patch=2)")
    raises("ValueError", vit.patchify, x, 0, what="patchify(images, patch=0)")
    raises("ValueError", vit.patchify, x[0], 7, what="patchify(images (1, 28, 28), patch=7)")
    raises("ValueError", vit.patchify, torch.zeros(1, 1, 28, 28, dtype=torch.int64), 7, what="patchify(int64 images, patch=7)")


@pytest.mark.task("5.3")
def test_patch_embedding_more_shapes(submission):
    """Is PatchEmbedding right for 2×2 patches of 3-channel 12×8 images, 4×4 patches of digits at width 64, one patch per image and one-pixel patches?"""
    cases = [
        EmbedCase(2, 3, 12, 8, 2, 7, 640),
        EmbedCase(3, 1, 28, 28, 4, 64, 641),
        EmbedCase(2, 2, 5, 5, 5, 3, 642),
        EmbedCase(1, 1, 4, 4, 1, 2, 643),
    ]
    run_embedding(submission, cases)


@pytest.mark.task("5.3")
def test_sinusoidal_more_sizes(submission, vit):
    """Is the sinusoidal table right for one position, d = 2, 1000 positions and d = 512?"""
    run_tables(submission, vit, [(1, 2), (1, 8), (17, 2), (200, 128), (1000, 8), (3, 512)])


@pytest.mark.task("5.3")
def test_sinusoidal_errors(vit):
    """Does sinusoidal_positions raise ValueError for n < 1, an odd or non-positive d, and n or d that are not integers?"""
    vit.sinusoidal_positions(4, 8)  # valid input first: the stub fails here, not as a pass
    raises("ValueError", vit.sinusoidal_positions, 0, 8, what="sinusoidal_positions(0, 8)")
    raises("ValueError", vit.sinusoidal_positions, -3, 8, what="sinusoidal_positions(-3, 8)")
    raises("ValueError", vit.sinusoidal_positions, 4, 7, what="sinusoidal_positions(4, 7)")
    raises("ValueError", vit.sinusoidal_positions, 4, 0, what="sinusoidal_positions(4, 0)")
    raises("ValueError", vit.sinusoidal_positions, 4.0, 8, what="sinusoidal_positions(4.0, 8)")
    raises("ValueError", vit.sinusoidal_positions, 4, True, what="sinusoidal_positions(4, True)")


# -- 5.4 ----------------------------------------------------------------------------------------------


def additive_mask(L: int, S: int, seed: int) -> torch.Tensor:
    """A float mask: 0 or -inf (key 0 always kept), plus small finite biases elsewhere."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.randn(L, S, generator=g) * 0.5
    mask[torch.rand(L, S, generator=g) < 0.3] = float("-inf")
    mask[:, 0] = 0.0
    return mask


@pytest.mark.task("5.4")
def test_encoder_block_more_shapes(submission):
    """Is EncoderBlock right with one head, heads of width 1, one token, mlp_ratio 1.5 and 4, an additive mask with -inf, and causal with a mask?"""
    cases = [
        BlockCase(2, 6, 12, 1, 2.0, 640),
        BlockCase(1, 4, 8, 8, 2.0, 641),
        BlockCase(3, 1, 16, 4, 2.0, 642, causal=True),
        BlockCase(2, 5, 10, 2, 1.5, 643),
        BlockCase(2, 8, 16, 4, 4.0, 644, mask=additive_mask(8, 8, 644)),
        BlockCase(2, 7, 12, 3, 2.0, 645, causal=True, mask=bool_mask(7, 7, 645)),
        BlockCase(2, 5, 16, 4, 2.0, 646, mask=bool_mask(5, 5, 646)[None, None].expand(2, 1, 5, 5).clone()),
    ]
    run_blocks(submission, cases)


@pytest.mark.task("5.4")
def test_vit_more_configs(submission):
    """Are the ViT's logits and weights right for 4×4 patches at depth 3, a single patch, 3-channel 16×16 images, two classes and mlp_ratio 1?"""
    cases = [
        VitCase(vit_config(patch=4, dim=32, depth=3, heads=4), 2, 650),
        VitCase(vit_config(patch=28, dim=16, depth=2, heads=2), 3, 651),
        VitCase(vit_config(image_size=16, patch=8, in_channels=3, dim=24, depth=2, heads=4, positions="sinusoidal"), 2, 652),
        VitCase(vit_config(patch=7, dim=12, depth=1, heads=3, num_classes=2, mlp_ratio=1.0), 1, 653),
    ]
    run_vits(submission, cases)


def digits(mnist, n: int) -> torch.Tensor:
    """n held-out test digits, the images alone."""
    x, _, split = mnist
    return x[split == 2][:n].clone()


@pytest.mark.task("5.4")
def test_vit_on_digits(submission, mnist):
    """On held-out digits, are the default ViT()'s logits and weights right (7×7 patches, dim 64, depth 3, 4 heads)?"""
    run_vits(submission, [VitCase(vit_config(dim=64, depth=3, heads=4), 6, 655, given=digits(mnist, 6))])


# -- 5.6 ----------------------------------------------------------------------------------------------


@pytest.mark.task("5.6")
def test_attention_maps_more_configs(submission, mnist):
    """Are attention_maps right on a 7×7 grid at depth 3, on 3-channel images with one layer, and on held-out digits?"""
    assert_maps(submission, VitCase(vit_config(patch=4, dim=16, depth=3, heads=4), 3, 660), 660)
    assert_maps(submission, VitCase(vit_config(image_size=12, patch=3, in_channels=3, dim=12, depth=1, heads=2), 2, 661), 661)
    assert_maps(submission, VitCase(vit_config(dim=32, depth=2, heads=4), 4, 662, given=digits(mnist, 4)), 662)


@pytest.mark.task("5.6")
def test_rollout_more_shapes(vit, submission):
    """Is attention_rollout right for one layer (R = Â_1), one head, one token, 6 layers of 50 tokens and 8 heads, and three leading axes?"""
    shapes = [(2, 1, 3, 7, 7), (2, 3, 1, 6, 6), (2, 2, 2, 1, 1), (1, 6, 8, 50, 50), (2, 1, 2, 3, 2, 4, 4)]
    cases = [(w, describe(w), None, "") for w in (random_weights(s, 670 + i) for i, s in enumerate(shapes))]
    w = random_weights((1, 4, 2, 12, 12), 676, torch.float64, scale=5.0)
    cases.append((w, describe(w), None, ""))
    run_rollouts(submission, vit, cases)


def two_heads_case(T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer whose head 0 sends every token to token 0 and head 1 to token 1: A = 1 (e_0 + e_1)ᵀ / 2,
    R = Â = (A + I) / 2: row 0 is (3/4, 1/4, 0, ...), row 1 (1/4, 3/4, 0, ...), row i ≥ 2 has 1/4 at 0
    and 1, 1/2 at i."""
    w = torch.zeros(1, 1, 2, T, T)
    w[0, 0, 0, :, 0] = 1.0
    w[0, 0, 1, :, 1] = 1.0
    r = torch.eye(T) / 2
    r[:, :2] += 0.25
    return w, r[None]


@pytest.mark.task("5.6")
def test_rollout_deeper_known_answers(vit, submission):
    """Does attention_rollout give (1 − 2^−5) e_0 + 2^−5 e_i in row i after 5 layers attending to token 0, and the mean over two heads that attend to tokens 0 and 1?"""
    T = 6
    w, want = two_heads_case(T)
    cases = [
        (
            one_hot_columns(5, 2, T, [0] * 5),
            "every token attending to token 0, five layers",
            to_token_zero(5, T),
            " (R = Â⁵ with Â = (1 e_0ᵀ + I) / 2)",
        ),
        (w, "head 0 attending to token 0, head 1 to token 1", want, " (A = 1 (e_0 + e_1)ᵀ / 2, R = (A + I) / 2)"),
    ]
    run_rollouts(submission, vit, cases)


@pytest.mark.task("5.6")
def test_rollout_errors(vit):
    """Does attention_rollout raise ValueError for weights of fewer than 4 axes, non-square weights and a list?"""
    w = random_weights((1, 2, 2, 4, 4), 680)
    vit.attention_rollout(w)  # valid input first: the stub fails here, not as a pass
    raises("ValueError", vit.attention_rollout, w[0, 0], what="attention_rollout(weights (2, 4, 4))")
    raises("ValueError", vit.attention_rollout, w[..., :3], what="attention_rollout(weights (1, 2, 2, 4, 3))")
    raises("ValueError", vit.attention_rollout, w.tolist(), what="attention_rollout(a list)")
