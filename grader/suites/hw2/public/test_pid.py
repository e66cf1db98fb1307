"""Public tests for hw2 part 1 (pid.py): task 2.1."""

import math

import pytest

from grader.assertions import close, number, sequence
from grader.errors import StudentError
from grader.suites.hw2.snapshots import SCRIPTS, script_pid


def run(submission, params, ys, changes=None, integral=False):
    return script_pid(submission, params, ys, changes or {}, integral)


def pid_calls(submission, args: list, kwargs: dict, measurements: list) -> list[dict]:
    """PID(*args, **kwargs).update(y) for each y, called from the grading side: per call {"u": output}
    or {"error": the exception type it raised}."""
    pid = submission.module("pid").PID(*args, **kwargs)
    out: list[dict] = []
    for y in measurements:
        try:
            out.append({"u": number(pid.update(y), f"PID.update({y})")})
        except StudentError as exc:
            if exc.cause != "error":
                raise
            out.append({"error": exc.type_name, "is_value_error": exc.is_a("ValueError")})
    return out


@pytest.mark.task("2.1")
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_outputs_match_the_reference_over_a_scripted_run(submission, snapshot, script):
    """Do the outputs over a scripted sequence of measurements match the reference to 1e-9?"""
    params, ys, changes = SCRIPTS[script]
    expected = snapshot[script]["u"]
    got = sequence(run(submission, params, ys, changes)["u"], f"{script}: outputs", length=len(expected))
    for i, (u, v) in enumerate(zip(got, expected)):
        close(u, v, f"{script}: output at step {i}", tol=1e-9, rel=1e-9)


@pytest.mark.task("2.1")
def test_each_term_alone(submission):
    """Is P = kp e, I = ki sum(e dt), and D = -kd dy/dt (on the measurement), each alone?"""
    p = run(submission, {"kp": 2.0, "setpoint": 1.0, "dt": 0.1}, [0.0, 0.5, 0.25])["u"]
    for u, e in zip(p, [1.0, 0.5, 0.75]):
        close(
            u,
            2.0 * e,
            "P alone: kp * (setpoint - y)",
            hints=[(lambda x, e=e: math.isclose(x, -2.0 * e), "the sign is reversed: the error is setpoint - y")],
        )
    i = run(submission, {"kp": 0.0, "ki": 3.0, "setpoint": 1.0, "dt": 0.1}, [0.0, 0.0, 0.5])["u"]
    for k, expected in enumerate([0.3, 0.6, 0.75]):
        close(
            i[k],
            expected,
            f"I alone after step {k + 1}: ki * sum(e * dt)",
            hints=[(lambda x, k=k: math.isclose(x, [3.0, 6.0, 7.5][k]), "dt is ignored: the integral sums e * dt")],
        )
    d = run(submission, {"kp": 0.0, "kd": 0.5, "setpoint": 1.0, "dt": 0.1}, [0.0, 0.2, 0.3])["u"]
    for k, expected in enumerate([0.0, -1.0, -0.5]):
        close(
            d[k],
            expected,
            f"D alone at step {k + 1}: -kd * (y - y_prev) / dt, 0 on the first step",
            hints=[
                (lambda x, k=k: math.isclose(x, [0.0, -0.1, -0.05][k]), "dt is ignored: divide the change by dt"),
                (
                    lambda x, e=expected: math.isclose(x, -e),
                    "the sign of D is reversed: D = -kd (y - y_prev) / dt, opposing the measurement's change",
                ),
            ],
        )


@pytest.mark.task("2.1")
def test_a_setpoint_change_gives_no_derivative_kick(submission):
    """With y constant, does a setpoint step change the output by kp * step only (derivative on measurement)?"""
    u = run(submission, {"kp": 1.0, "kd": 2.0, "setpoint": 0.0, "dt": 0.01}, [0.0] * 6, {"3": 1.0})["u"]
    assert u[:3] == [0.0, 0.0, 0.0], f"outputs before the step should be 0, got {u[:3]}"
    close(
        u[3],
        1.0,
        "output right after the setpoint steps 0 -> 1",
        hints=[(lambda x: x > 10, "a derivative kick: take the derivative of the measurement, -dy/dt, not of the error")],
    )


@pytest.mark.task("2.1")
def test_clamping_stops_integral_windup(submission):
    """While the output saturates, does the integral stay bounded, and the output leave saturation at once when the error turns?"""
    params = {"kp": 0.5, "ki": 2.0, "setpoint": 10.0, "dt": 0.1, "output_limits": [-1.0, 1.0]}
    ys = [0.0] * 200 + [20.0] * 5
    r = run(submission, params, ys, integral=True)
    assert all(-1.0 <= u <= 1.0 for u in r["u"]), "the output left its limits [-1, 1]"
    peak = max(abs(i) for i in r["integral"][:200])
    assert peak <= 1.0 + 1e-9, (
        f"the integral reached {peak:.3g} while the output was saturated at 1: it wound up; "
        "skip the integration step when the output saturates and the error pushes further out"
    )
    assert r["u"][200] < 1.0, "when the error reverses, the output must leave saturation at once (no wound-up integral to unwind)"


@pytest.mark.task("2.1")
def test_derivative_filter_smooths_a_jump(submission):
    """With a derivative filter tau, is the first D response (1 - a) times the raw one, a = tau / (tau + dt)?"""
    u = run(submission, {"kp": 0.0, "kd": 1.0, "setpoint": 0.0, "dt": 0.1, "tau": 0.3}, [0.0, 1.0, 1.0])["u"]
    a = 0.3 / 0.4
    swapped = [
        (lambda x: math.isclose(x, -a * 10.0), "the filter's weights are swapped: a = tau / (tau + dt) weighs the previous d")
    ]
    close(
        u[1],
        -(1 - a) * 10.0,
        "filtered D right after y jumps by 1",
        hints=[(lambda x: math.isclose(x, -10.0), "the filter is not applied"), *swapped],
    )
    close(u[2], -a * (1 - a) * 10.0, "filtered D one step later (decaying)")


@pytest.mark.task("2.1")
def test_gains_are_taken_in_argument_order(submission):
    """Does PID(kp, ki, kd, setpoint, dt) take its gains in that order, by position as by keyword?"""
    ys, setpoint, dt = [0.0, 0.5, 0.25], 1.0, 0.1
    e = [setpoint - y for y in ys]
    alone = {
        "kp": [2.0 * x for x in e],  # what a gain of 2 gives in each role
        "ki": [2.0 * sum(e[: n + 1]) * dt for n in range(3)],
        "kd": [0.0] + [-2.0 * (ys[n] - ys[n - 1]) / dt for n in (1, 2)],
    }
    for role, position in (("kp", 0), ("ki", 1), ("kd", 2)):
        gains = [0.0, 0.0, 0.0]
        gains[position] = 2.0
        for how, args, kwargs in (
            ("by position", [*gains, setpoint, dt], {}),
            ("by keyword", [], {"kp": gains[0], "ki": gains[1], "kd": gains[2], "setpoint": setpoint, "dt": dt}),
        ):
            got = pid_calls(submission, args, kwargs, ys)
            call = (
                f"PID({', '.join(f'{v:g}' for v in args)})"
                if args
                else f"PID({', '.join(f'{k}={v:g}' for k, v in kwargs.items())})"
            )
            outputs = [r.get("u", math.nan) for r in got]
            if all(abs(u - v) <= 1e-9 + 1e-9 * abs(v) for u, v in zip(outputs, alone[role])):
                continue
            acted = next(
                (
                    r
                    for r, expected in alone.items()
                    if r != role and all(abs(u - v) <= 1e-9 + 1e-9 * abs(v) for u, v in zip(outputs, expected))
                ),
                None,
            )
            if acted:
                raise AssertionError(
                    f"{call} {how}: the gain given as {role} acted as {acted}; {role} and {acted} are swapped "
                    "(argument order: PID(kp, ki, kd, setpoint, dt, output_limits, tau))"
                )
            raise AssertionError(
                f"{call} {how}: outputs {[round(u, 6) for u in outputs]}, expected {role} alone: "
                f"{[round(v, 6) for v in alone[role]]}"
            )


@pytest.mark.task("2.1")
def test_a_non_finite_measurement_raises_and_changes_nothing(submission):
    """Does update() raise ValueError for NaN or an infinite measurement, and leave the controller as it was?"""
    params = {"kp": 1.0, "ki": 0.5, "kd": 0.2, "setpoint": 1.0, "dt": 0.1}
    clean = [0.0, 0.5, 0.7, 0.2, 0.9]
    bad = [0.0, 0.5, math.nan, 0.7, math.inf, 0.2, -math.inf, 0.9]
    got = pid_calls(submission, [], params, bad)
    for y, r in zip(bad, got):
        if not math.isfinite(y) and not r.get("is_value_error"):
            what = f"returned {r['u']:.6g}" if "u" in r else f"raised {r['error']}"
            raise AssertionError(
                f"update({y}) {what}: a non-finite measurement must raise ValueError, not pass silently "
                "into the integral and the derivative"
            )
    expected = [r.get("u") for r in pid_calls(submission, [], params, clean)]
    kept = sequence(
        [r.get("u") for y, r in zip(bad, got) if math.isfinite(y)], "outputs for the finite measurements", length=len(clean)
    )
    for n, (u, v) in enumerate(zip(kept, expected)):
        close(u, v, f"output for measurement {clean[n]} after the rejected ones (a rejected measurement must change no state)")
