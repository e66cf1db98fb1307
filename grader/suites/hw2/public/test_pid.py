"""Public tests for hw2 part 1 (pid.py): task 2.1."""

import math

import pytest

from grader.checks import close
from grader.suites.hw2.snapshots import SCRIPTS


def run(submission, params, ys, changes=None):
    return submission.driver("hw2", "script_pid", params, ys, changes or {})


@pytest.mark.task("2.1")
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_outputs_match_the_reference_over_a_scripted_run(submission, snapshot, script):
    """Do the outputs over a scripted sequence of measurements match the reference to 1e-9?"""
    params, ys, changes = SCRIPTS[script]
    got, expected = run(submission, params, ys, changes)["u"], snapshot[script]["u"]
    assert len(got) == len(expected)
    for i, (u, v) in enumerate(zip(got, expected)):
        close(u, v, f"{script}: output at step {i}", tol=1e-9, rel=1e-9)


@pytest.mark.task("2.1")
def test_each_term_alone(submission):
    """Is P = kp e, I = ki sum(e dt), and D = -kd dy/dt (on the measurement), each alone?"""
    p = run(submission, {"kp": 2.0, "setpoint": 1.0, "dt": 0.1}, [0.0, 0.5, 0.25])["u"]
    for u, e in zip(p, [1.0, 0.5, 0.75]):
        close(u, 2.0 * e, "P alone: kp * (setpoint - y)",
              hints=[(lambda x, e=e: math.isclose(x, -2.0 * e), "the sign is reversed: the error is setpoint - y")])
    i = run(submission, {"kp": 0.0, "ki": 3.0, "setpoint": 1.0, "dt": 0.1}, [0.0, 0.0, 0.5])["u"]
    for k, expected in enumerate([0.3, 0.6, 0.75]):
        close(i[k], expected, f"I alone after step {k + 1}: ki * sum(e * dt)",
              hints=[(lambda x, k=k: math.isclose(x, [3.0, 6.0, 7.5][k]), "dt is ignored: the integral sums e * dt")])
    d = run(submission, {"kp": 0.0, "kd": 0.5, "setpoint": 1.0, "dt": 0.1}, [0.0, 0.2, 0.3])["u"]
    for k, expected in enumerate([0.0, -1.0, -0.5]):
        close(d[k], expected, f"D alone at step {k + 1}: -kd * (y - y_prev) / dt, 0 on the first step",
              hints=[(lambda x, k=k: math.isclose(x, [0.0, -0.1, -0.05][k]), "dt is ignored: divide the change by dt")])


@pytest.mark.task("2.1")
def test_a_setpoint_change_gives_no_derivative_kick(submission):
    """With y constant, does a setpoint step change the output by kp * step only (derivative on measurement)?"""
    u = run(submission, {"kp": 1.0, "kd": 2.0, "setpoint": 0.0, "dt": 0.01}, [0.0] * 6, {"3": 1.0})["u"]
    assert u[:3] == [0.0, 0.0, 0.0], f"outputs before the step should be 0, got {u[:3]}"
    close(u[3], 1.0, "output right after the setpoint steps 0 -> 1",
          hints=[(lambda x: x > 10, "a derivative kick: take the derivative of the measurement, -dy/dt, not of the error")])


@pytest.mark.task("2.1")
def test_clamping_stops_integral_windup(submission):
    """While the output saturates, does the integral stay bounded, and the output leave saturation at once when the error turns?"""
    params = {"kp": 0.5, "ki": 2.0, "setpoint": 10.0, "dt": 0.1, "output_limits": [-1.0, 1.0]}
    ys = [0.0] * 200 + [20.0] * 5
    r = run(submission, params, ys)
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
    close(u[1], -(1 - a) * 10.0, "filtered D right after y jumps by 1", hints=[(lambda x: math.isclose(x, -10.0), "the filter is not applied")])
    close(u[2], -a * (1 - a) * 10.0, "filtered D one step later (decaying)")
