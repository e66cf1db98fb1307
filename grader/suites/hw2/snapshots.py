"""What `course snapshot hw2` stores: the reference PID's outputs on scripted measurement sequences,
and the grading-side helper that runs a script on a submission's PID."""

import math

from grader.assertions import number

# Each script: PID parameters, a measurement sequence, and setpoint changes by step index.
SCRIPTS: dict[str, tuple[dict, list[float], dict[str, float]]] = {
    "pid_plain": (
        {"kp": 1.2, "ki": 0.5, "kd": 0.3, "setpoint": 1.0, "dt": 0.1},
        [0.1 * math.sin(0.3 * i) + 0.01 * i for i in range(60)],
        {},
    ),
    "setpoint_change": (
        {"kp": 0.8, "ki": 0.2, "kd": 0.5, "setpoint": 0.0, "dt": 0.05},
        [0.5 * math.cos(0.2 * i) for i in range(80)],
        {"20": 1.0, "50": -0.5},
    ),
    "saturating": (
        {"kp": 2.0, "ki": 1.0, "kd": 0.1, "setpoint": 5.0, "dt": 0.1, "output_limits": [-1.0, 1.0]},
        [0.02 * i for i in range(100)] + [6.0 - 0.01 * i for i in range(50)],
        {},
    ),
    "filtered": (
        {"kp": 0.5, "ki": 0.1, "kd": 1.0, "setpoint": 2.0, "dt": 0.02, "tau": 0.1},
        [math.floor(i / 10) * 0.3 for i in range(70)],
        {},
    ),
}


def script_pid(submission, params: dict, measurements: list, setpoints: dict | None = None, integral: bool = False) -> dict:
    """The student's PID(**params), called from the grading side: update(y) for each measurement,
    the setpoint changed before the steps `setpoints` names. Returns each output ("u") and, with
    `integral`, the `integral` attribute after each step, each checked to be a number."""
    pid = submission.module("pid").PID(**params)
    outputs, integrals = [], []
    for i, y in enumerate(measurements):
        if setpoints and str(i) in setpoints:
            submission.driver("assign", pid, "setpoint", setpoints[str(i)])
        outputs.append(number(pid.update(y), f"PID.update({y:.6g}) at step {i}"))
        if integral:
            integrals.append(number(pid.integral, f"PID.integral after step {i}"))
    return {"u": outputs, "integral": integrals}


def make(submission) -> dict:
    return {name: script_pid(submission, params, ys, changes, integral=True) for name, (params, ys, changes) in SCRIPTS.items()}
