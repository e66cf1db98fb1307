"""`course plot hw2`: step responses of P, PI and PID, windup, and learning-rate control on the digits.

Each figure in FIGURES is drawn on its own: one whose code is not written yet is skipped, not the rest."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.data import digit_features
from grader.plots import pyplot

PLANT = [2.0, 0.3, 1.0, 0.01]  # wn, zeta, gain, dt


def step_responses(submission, out: Path) -> list[Path]:
    """Tasks 2.1 and 2.2: P, PI and PID on a second-order plant; clamping against windup."""
    plt = pyplot()
    plant, pid = submission.module("plant"), submission.module("pid")
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4), dpi=120)
    for label, gains in (("P", dict(kp=2.0)), ("PI", dict(kp=2.0, ki=1.5)), ("PID", dict(kp=2.0, ki=1.5, kd=0.6))):
        r = plant.closed_loop(pid.PID(**gains, setpoint=1.0, dt=PLANT[3]), plant.SecondOrderPlant(*PLANT), 1500)
        m = plant.step_metrics(r["t"], r["y"], 1.0)
        a.plot(r["t"], r["y"], label=f"{label}: overshoot {m['overshoot']:.0f}%, error {m['steady_state_error']:.2f}")
    a.axhline(1.0, color="black", linewidth=0.8, linestyle=":")
    a.set(title=f"second-order plant (wn={PLANT[0]:g}, zeta={PLANT[1]:g}), setpoint 1", xlabel="time (s)", ylabel="y")
    a.legend(fontsize=8)
    params = dict(kp=1.0, ki=2.0, setpoint=1.0, dt=PLANT[3])
    damped = [2.0, 1.0, 1.0, 0.01]  # critically damped: what overshoot there is comes from windup
    for knows, label in ((True, "limits in the PID (clamping)"), (False, "limits outside the PID (windup)")):
        r = submission.driver("saturated_loop", params, damped, 1.2, 1500, knows)
        b.plot(r["t"], r["y"], label=label)
    b.axhline(1.0, color="black", linewidth=0.8, linestyle=":")
    b.set(title="PI, critically damped plant, actuator saturating at |u| <= 1.2", xlabel="time (s)", ylabel="y")
    b.legend(fontsize=8)
    fig.tight_layout()
    path = out / "hw2_step_responses.png"
    fig.savefig(path)
    plt.close(fig)
    return [path]


def learning_rate_control(submission, out: Path) -> list[Path]:
    """Tasks 2.3 and 2.4: a PID-controlled learning rate against a fixed one on the digits."""
    plt = pyplot()
    x, labels, split = digit_features()
    runs = [(10.0, False, 0), (10.0, True, 0), (0.003, False, 0), (0.003, True, 0)]
    from grader.suites.hw2 import training

    lr_control = submission.module("lr_control")
    results = [
        training.train_digits(
            x[split == 0],
            labels[split == 0],
            x[split == 1],
            lr,
            seed,
            controller=lr_control.digits_controller(lr) if controlled else None,
        )
        for lr, controlled, seed in runs
    ]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=120)
    for (lr, controlled, _), r in zip(runs, results):
        acc = float(np.mean(np.asarray(r["predictions"]) == labels[split == 1]))
        style = "-" if controlled else "--"
        label = f"{'PID' if controlled else 'fixed'} from lr={lr:g}: {acc:.0%} val. acc."
        axes[0].plot(r["lr"], style, label=label)
        axes[1].plot(np.clip(r["signal"], -7, 1), style, label=label)
    axes[0].set(yscale="log", title="learning rate", xlabel="step")
    axes[1].set(title="update ratio log10(|dw|/|w|)", xlabel="step")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path = out / "hw2_learning_rate_control.png"
    fig.savefig(path)
    plt.close(fig)
    return [path]


FIGURES = {"hw2_step_responses.png": step_responses, "hw2_learning_rate_control.png": learning_rate_control}


def make(submission, out: Path) -> list[Path]:
    """Every figure, in order (`course plot` draws each on its own)."""
    return [p for draw in FIGURES.values() for p in draw(submission, out)]
