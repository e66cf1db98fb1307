"""What `course snapshot hw2` stores: the reference PID's outputs on scripted measurement sequences."""

import math

# Each script: PID parameters, a measurement sequence, and setpoint changes by step index.
SCRIPTS = {
    "pid_plain": ({"kp": 1.2, "ki": 0.5, "kd": 0.3, "setpoint": 1.0, "dt": 0.1},
                  [0.1 * math.sin(0.3 * i) + 0.01 * i for i in range(60)], {}),
    "setpoint_change": ({"kp": 0.8, "ki": 0.2, "kd": 0.5, "setpoint": 0.0, "dt": 0.05},
                        [0.5 * math.cos(0.2 * i) for i in range(80)], {"20": 1.0, "50": -0.5}),
    "saturating": ({"kp": 2.0, "ki": 1.0, "kd": 0.1, "setpoint": 5.0, "dt": 0.1, "output_limits": [-1.0, 1.0]},
                   [0.02 * i for i in range(100)] + [6.0 - 0.01 * i for i in range(50)], {}),
    "filtered": ({"kp": 0.5, "ki": 0.1, "kd": 1.0, "setpoint": 2.0, "dt": 0.02, "tau": 0.1},
                 [math.floor(i / 10) * 0.3 for i in range(70)], {}),
}


def make(submission) -> dict:
    return {name: submission.driver("hw2", "script_pid", params, ys, changes)
            for name, (params, ys, changes) in SCRIPTS.items()}
