"""Public tests for hw3 task 3.5: Rosenbrock trajectories and large-batch training on the digits.

The course runs both experiments on the grading side (`grader.suites.hw3.loops`): it computes f,
the network, the losses, the gradients and the accuracies here, and calls the student's optimizer
only for its step, through the seam. The digits, their labels and the losses never reach the
student's process; only gradients go there, and weights come back.

The Rosenbrock runs are deterministic. A large-batch run depends on its seed (initial weights,
batch order), so LAMB is trained three times and the median accuracy taken (the runs are trained
once per submission, `lamb_runs` in conftest.py, and judged on the validation split here and on
the test split by a hidden test): the reference passes
for every one of 200 seeds with a wide margin (`benchmarks/bench_hw3.py --sweep`), and so does a
LAMB that is wrong in ways its own task catches; `course audit --seeds` draws other seeds."""

import numpy as np
import pytest

from grader.suites.hw3.loops import Student, predictions, rosenbrock_path

TARGET_ACCURACY = 0.85


def rosen(p):
    x, y = float(p[0]), float(p[1])
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def assert_lamb_reaches_the_target(lamb_runs, digits, split_id: int) -> None:
    """The three LAMB runs at batch 1024 (lr 0.032, 80 epochs; the `lamb_runs` fixture): their
    median accuracy on split `split_id` (1 validation, 2 test) must reach TARGET_ACCURACY."""
    seed, models = lamb_runs()
    x, labels, split = digits
    truth = labels[split == split_id]
    accs = [float(np.mean(predictions(model, x[split == split_id]).numpy() == truth)) for model in models]
    acc = float(np.median(accs))
    assert acc >= TARGET_ACCURACY, (
        f"LAMB at batch 1024 (seeds {seed}-{seed + len(models) - 1}): median {('validation', 'test')[split_id - 1]} accuracy "
        f"{acc:.3f} < {TARGET_ACCURACY} (runs: {', '.join(f'{a:.3f}' for a in accs)})"
    )


@pytest.mark.task("3.5")
@pytest.mark.parametrize(
    "name,kwargs,tol",
    [
        pytest.param("Adam", {"lr": 0.05}, 5e-3, id="Adam", marks=pytest.mark.uses("Adam")),
        pytest.param("SGD", {"lr": 5e-4, "momentum": 0.9}, 0.1, id="SGD-momentum", marks=pytest.mark.uses("SGD")),
    ],
)
def test_rosenbrock_reaches_the_valley_floor(submission, name, kwargs, tol):
    """From (-1.5, 2), does the optimizer reach the minimum (1, 1) of Rosenbrock's function in 1,500 steps?"""
    path = rosenbrock_path(Student(submission, name, kwargs), 1500).numpy()
    end = path[-1]
    assert np.isfinite(end).all(), f"{name}{kwargs}: the trajectory ends at ({end[0]}, {end[1]})"
    assert np.abs(end - 1).max() <= tol, f"{name}{kwargs}: ended at ({end[0]:.4f}, {end[1]:.4f}), more than {tol} from (1, 1)"
    assert rosen(end) < rosen(path[0]), f"{name}: f went up from {rosen(path[0]):.3g} to {rosen(end):.3g}"


@pytest.mark.task("3.5")
@pytest.mark.uses("LAMB")
@pytest.mark.seeded
def test_lamb_trains_at_batch_1024(lamb_runs, digits):
    """Does LAMB at batch 1024 (lr 0.032) reach 85% validation accuracy in 80 epochs (median of three seeds)?"""
    assert_lamb_reaches_the_target(lamb_runs, digits, 1)
