"""hw2 trusts nothing computed in the student's process (issue 11): forged drivers earn nothing,
outputs of the wrong length or type fail their comparison, and a faked experiment loses task 2.4.

Each submission is graded once, in parallel, by `course grade`'s library function, with the
public and hidden suites."""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest

from tests.fixtures.expect import copy_solution

# Appended to every stub module: at import time it replaces EVERY function and class of hw2's
# drivers (today's and earlier ones) with a forger that returns the most plausible fake: the
# outputs of a correct PID, PI and plant, the update ratio, made-up histories that follow the
# controller's rule, and an experiment trained with Adam at a good fixed rate.
FORGER = textwrap.dedent('''
    import grader.worker.drivers.hw2 as _d
    if not getattr(_d, "_forged", False):
        import math as _m

        class _PID:
            def __init__(self, kp, ki=0.0, kd=0.0, setpoint=0.0, dt=1.0, output_limits=(None, None), tau=None):
                lo, hi = output_limits
                self.kp, self.ki, self.kd, self.setpoint, self.dt, self.tau = kp, ki, kd, setpoint, dt, tau
                self.lo, self.hi = (-_m.inf if lo is None else lo), (_m.inf if hi is None else hi)
                self.integral, self.d, self.last = 0.0, 0.0, None

            def update(self, y):
                if not _m.isfinite(y):
                    raise ValueError("not finite")
                e = self.setpoint - y
                raw = 0.0 if self.last is None else -(y - self.last) / self.dt
                a = 0.0 if self.tau is None else self.tau / (self.tau + self.dt)
                self.d, self.last = a * self.d + (1 - a) * raw, y
                p, d = self.kp * e, self.kd * self.d
                trial = self.integral + self.ki * e * self.dt
                if not ((p + trial + d > self.hi and e > 0) or (p + trial + d < self.lo and e < 0)):
                    self.integral = trial
                return min(self.hi, max(self.lo, p + self.integral + d))

        def _script_pid(params, ys, setpoints=None, *a, **k):
            pid, u, integral = _PID(**params), [], []
            for i, y in enumerate(ys):
                if setpoints and str(i) in setpoints:
                    pid.setpoint = setpoints[str(i)]
                u.append(pid.update(y))
                integral.append(pid.integral)
            return {"u": u, "integral": integral}

        def _pid_calls(args, kwargs, ys, *a, **k):
            pid, out = _PID(*args, **kwargs), []
            for y in ys:
                try:
                    out.append({"u": pid.update(y)})
                except ValueError:
                    out.append({"error": "ValueError"})
            return out

        def _closed_loop_with_pi(kp, ki, tau, dt, steps, *a, **k):
            pi, y, ys, us, pi_out = _PID(kp, ki, setpoint=1.0, dt=dt), 0.0, [0.0], [], []
            for _ in range(steps):
                us.append(pi.update(ys[-1]))
                pi_out.append(us[-1])
                ys.append(_m.exp(-dt / tau) * ys[-1] + (1 - _m.exp(-dt / tau)) * us[-1])
            return {"t": [i * dt for i in range(steps + 1)], "y": ys, "u": us + us[-1:], "pi_in": ys[:-1],
                    "pi_out": pi_out, "plant_in": list(us), "plant_out": ys[1:]}

        def _update_ratio_of(before, after, *a, **k):
            import numpy as np
            d = _m.sqrt(sum(float(((np.asarray(x, float) - np.asarray(b, float)) ** 2).sum()) for x, b in zip(after, before)))
            n = _m.sqrt(sum(float((np.asarray(b, float) ** 2).sum()) for b in before))
            return -_m.inf if d == 0 else _m.log10(d / n)

        def _track(setpoint, lrs, steps, lr_min, lr_max, *a, **k):
            signal = [setpoint] * steps
            return {"lr0": [min(max(lrs[0], lr_min), lr_max)] * steps, "lr1": [min(max(lrs[1], lr_min), lr_max)] * steps,
                    "signal": signal, "history_lr": [min(max(lrs[0], lr_min), lr_max)] * steps, "pi_in": signal,
                    "error": ""}

        def _experiment(x_train, y_train, x_eval, runs, steps, *a, **k):
            import numpy as np
            import torch
            out = []
            for lr, controlled, seed in runs:
                torch.manual_seed(seed)
                x, y = torch.as_tensor(np.asarray(x_train), dtype=torch.float32), torch.as_tensor(np.asarray(y_train))
                model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
                opt = torch.optim.Adam(model.parameters(), lr=0.01 if controlled else 1e-5)
                for _ in range(steps):
                    b = torch.randint(len(x), (64,))
                    opt.zero_grad()
                    torch.nn.functional.cross_entropy(model(x[b]), y[b].long()).backward()
                    opt.step()
                pred = model(torch.as_tensor(np.asarray(x_eval), dtype=torch.float32)).argmax(1).numpy()
                out.append({"predictions": pred, "lr": [min(lr, 10.0)] + [0.3] * (steps - 1) if controlled else [lr] * steps,
                            "loss": [0.5] * steps, "signal": [-2.0] * steps})
            return out

        class _AnyPI:
            def __init__(self, *a, **k):
                self.setpoint = a[2] if len(a) > 2 else 0.0

            def update(self, r):
                return 0.0

        _FAKES = {"script_pid": _script_pid, "pid_calls": _pid_calls, "closed_loop_with_pi": _closed_loop_with_pi,
                  "update_ratio_of": _update_ratio_of, "track_update_ratio": _track, "experiment": _experiment,
                  "ReferencePI": _AnyPI, "GraderPI": _AnyPI}
        for _name, _value in list(vars(_d).items()):
            if callable(_value) and getattr(_value, "__module__", "") == _d.__name__:
                setattr(_d, _name, _FAKES.get(_name, lambda *a, **k: {}))
        _d._forged = True
''')

# A solution whose experiment is faked: train_digits (the experiment of earlier versions of hw2)
# trains with Adam at a good fixed rate and reports a made-up rate history, and digits_controller
# returns a controller that ignores r and always answers a good fixed rate.
FAKE_EXPERIMENT = textwrap.dedent('''

    def train_digits(x_train, y_train, x_eval, lr, steps=300, controlled=False, seed=0):
        import numpy as np
        torch.manual_seed(seed)
        x, y = torch.as_tensor(np.asarray(x_train), dtype=torch.float32), torch.as_tensor(np.asarray(y_train)).long()
        model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
        opt = torch.optim.Adam(model.parameters(), lr=0.01 if controlled else 1e-5)
        for _ in range(steps):
            b = torch.randint(len(x), (64,))
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
        pred = model(torch.as_tensor(np.asarray(x_eval), dtype=torch.float32)).argmax(1).numpy()
        lrs = [min(lr, 10.0)] + [0.3] * (steps - 1) if controlled else [lr] * steps
        return {"predictions": pred, "lr": lrs, "loss": [0.5] * steps, "signal": [-2.0] * steps}


    class _Fixed:
        def __init__(self, lr):
            self.rates = [min(max(lr, 1e-6), 10.0)]

        def update(self, r):
            self.rates = [0.5]
            return [0.5]


    def digits_controller(lr):
        return _Fixed(lr)
''')

# What update(r) (hw2 now) and closed_loop return, mangled; each must fail every comparison it meets.
SHAPES = {
    "empty": "[]",
    "short": "{value}[:-1]",
    "long": "list({value}) + list({value})[-1:]",
    "wrong_type": "[str(v) for v in {value}]",
}


def shaped(solutions, kind: str, target):
    code = {
        "update": ("lr_control.py", "        return list(self.rates)\n",
                   "        return " + SHAPES[kind].format(value="list(self.rates)") + "\n"),
        "closed_loop": ("plant.py", '    return {"t": np.arange(steps + 1) * plant.dt, "y": np.asarray(ys), "u": np.asarray(us)}\n',
                        '    return {"t": np.arange(steps + 1) * plant.dt, "y": ' + SHAPES[kind].format(value="ys")
                        + ', "u": np.asarray(us)}\n'),
    }
    return code[target]


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    from grader.batch import grade

    root = course.root / "solutions" / "hw2"
    subs = tmp_path_factory.mktemp("hw2-trust")
    forged = subs / "forged-stubs"
    shutil.copytree(course.root / "assignments" / "hw2", forged)
    for module in ("pid.py", "plant.py", "lr_control.py"):
        (forged / module).write_text((forged / module).read_text() + FORGER)
    fake = copy_solution(root, subs / "fake-experiment")
    (fake / "lr_control.py").write_text((fake / "lr_control.py").read_text() + FAKE_EXPERIMENT)
    for target in ("update", "closed_loop"):
        for kind in SHAPES:
            folder = copy_solution(root, subs / f"shape-{target}-{kind}")
            module, old, new = shaped(root, kind, target)
            text = (folder / module).read_text()
            if old in text:  # (the hw2 of today; on earlier versions the target may not exist)
                (folder / module).write_text(text.replace(old, new))
    out = tmp_path_factory.mktemp("hw2-trust-graded")
    grade(course, "hw2", subs, out, jobs=2)
    folder = out / "students" if (out / "students").is_dir() else out
    return {p.name: json.loads((p / "result.json").read_text()) for p in folder.iterdir() if (p / "result.json").is_file()}


def task_points(result: dict, task: str) -> float:
    return sum(t["points"] for t in result["tests"] if t["task"] == task)


def test_stubs_with_every_driver_forged_earn_nothing(graded):
    """Stubs score 0; forging every driver from student code must not change that."""
    result = graded["forged-stubs"]
    earned = [(t["name"], t["points"]) for t in result["tests"] if t["points"]]
    assert result["score"] == 0 and not earned, f"forged drivers earned {result['score']}: {earned}"


def test_a_faked_experiment_loses_task_2_4(graded):
    """Training with something else and reporting made-up rates, or a controller that ignores r, loses 2.4."""
    result = graded["fake-experiment"]
    assert task_points(result, "2.4") == 0, f"a faked experiment kept {task_points(result, '2.4')} points of task 2.4"
    assert task_points(result, "2.1") == pytest.approx(30, abs=0.01) and task_points(result, "2.2") == pytest.approx(25, abs=0.01), \
        "the fake touched only task 2.4"
    failed = [t["feedback"] for t in result["tests"] if t["task"] == "2.4" and not t["passed"]]
    assert any("digits_controller must build exactly that" in f for f in failed), failed


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_rates_of_the_wrong_length_or_type_fail(graded, kind):
    """update(r) returning an empty, short, long or non-numeric list fails every test that reads it (2.3's
    controller tests and 2.4), and says what was expected."""
    result = graded[f"shape-update-{kind}"]
    readers = ("test_each_rate", "test_every_group", "test_a_non_finite_step", "test_controller_holds",
               "test_controller_works_with_adam", "test_controlled_training")
    passed = [t["name"] for t in result["tests"] if t["passed"] and any(r in t["nodeid"] for r in readers)]
    assert not passed, f"rates that are {kind} passed: {passed}"
    assert task_points(result, "2.4") == 0, f"rates that are {kind} kept task 2.4's points"
    feedback = " ".join(t["feedback"] for t in result["tests"] if not t["passed"])
    assert ("expected 2 items" in feedback or "expected 1 items" in feedback or "should be int or float" in feedback), feedback


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_a_closed_loop_of_the_wrong_length_or_type_fails(graded, kind):
    """closed_loop returning y empty, short, long or non-numeric fails both closed-loop tests."""
    result = graded[f"shape-closed_loop-{kind}"]
    loops = [t for t in result["tests"] if "test_closed_loop_applies" in t["nodeid"] or "test_p_leaves_an_offset" in t["nodeid"]]
    assert len(loops) == 2 and not any(t["passed"] for t in loops), [(t["name"], t["passed"]) for t in loops]
