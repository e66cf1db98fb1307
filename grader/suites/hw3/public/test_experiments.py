"""Public tests for hw3 task 3.5: Rosenbrock trajectories and large-batch training on the digits."""

import numpy as np
import pytest

TARGET_ACCURACY = 0.90


def rosen(p):
    x, y = float(p[0]), float(p[1])
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


@pytest.mark.task("3.5")
@pytest.mark.parametrize(
    "name,kwargs,tol", [("Adam", {"lr": 0.05}, 1e-3), ("SGD", {"lr": 5e-4, "momentum": 0.9}, 0.05)], ids=["Adam", "SGD-momentum"]
)
def test_rosenbrock_reaches_the_valley_floor(submission, name, kwargs, tol):
    """From (-1.5, 2), does the optimizer reach the minimum (1, 1) of Rosenbrock's function in 1,500 steps?"""
    path = np.asarray(submission.driver("hw3", "rosenbrock", name, kwargs, 1500)["path"])
    assert path.shape == (1501, 2), f"{name}: the trajectory should have 1501 points, got {path.shape}"
    end = path[-1]
    assert np.abs(end - 1).max() <= tol, f"{name}{kwargs}: ended at ({end[0]:.4f}, {end[1]:.4f}), more than {tol} from (1, 1)"
    assert rosen(end) < rosen(path[0]), f"{name}: f went up from {rosen(path[0]):.3g} to {rosen(end):.3g}"


@pytest.mark.task("3.5")
def test_lamb_trains_at_batch_1024(submission, digits):
    """Does LAMB at batch 1024 (lr 0.032) reach 90% validation accuracy in 80 epochs?"""
    x, labels, split = digits
    r = submission.driver("hw3", "large_batch", x[split == 0], labels[split == 0], x[split == 1], "LAMB", 0.032, 1024, 80)
    acc = float(np.mean(np.asarray(r["predictions"]) == labels[split == 1]))
    assert acc >= TARGET_ACCURACY, f"LAMB at batch 1024: validation accuracy {acc:.3f} < {TARGET_ACCURACY}"
