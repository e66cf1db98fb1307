"""`course audit` itself: how it judges a graded submission, finds verdicts that change with the
seed, refuses malformed variants, and exits 1 on any problem."""

import pytest
from click.testing import CliRunner

from grader import audit as audit_mod
from grader.audit import Audit, Row, Variant, judge, make_submission, unstable_tests
from grader.cli import main
from grader.errors import CourseError
from grader import runner


def graded(points: dict, failed: dict | None = None, cause: str = "wrong answer") -> dict:
    """A result.json with two tasks worth 10 each; `failed` maps a test's task to its feedback."""
    failed = failed or {}
    tests = [{"nodeid": f"t{task}", "name": f"test {task}", "task": task, "passed": task not in failed,
              "cause": cause if task in failed else "", "feedback": failed.get(task, "")} for task in ("1.1", "1.2")]
    tasks = [{"id": t, "points": p, "max_points": 10.0} for t, p in points.items()]
    return {"tests": tests, "tasks": tasks, "score": sum(points.values()), "max_score": 20.0, "notes": []}


def test_a_wrong_variant_is_caught_only_when_it_loses_exactly_its_tasks():
    """Is a variant caught when it loses its task, blamed when it loses another, missed when it loses none?"""
    hit = graded({"1.1": 0.0, "1.2": 10.0}, {"1.1": "looks like nats"})
    assert judge("v", "wrong", ("1.1",), "nats", hit).verdict == "caught"
    assert judge("v", "wrong", ("1.1",), "D(q||p)", hit).verdict == "UNNAMED"
    both = graded({"1.1": 0.0, "1.2": 5.0}, {"1.1": "nats", "1.2": "nats"})
    assert judge("v", "wrong", ("1.1",), "nats", both).verdict == "WRONG TASKS"
    assert judge("v", "wrong", ("1.1", "1.2"), "nats", hit).verdict == "WRONG TASKS"
    assert judge("v", "wrong", ("1.1",), "nats", graded({"1.1": 10.0, "1.2": 10.0})).verdict == "missed"


def test_a_correct_answer_below_full_marks_is_a_false_failure():
    """Does a correct variant that loses any point count as a false failure?"""
    assert judge("c", "correct", (), "", graded({"1.1": 10.0, "1.2": 10.0})).verdict == "ok"
    assert judge("c", "correct", (), "", graded({"1.1": 9.5, "1.2": 10.0}, {"1.1": "x"})).verdict == "FALSE FAILURE"


def test_stubs_must_fail_every_test_with_not_implemented():
    """Do stubs that score zero but fail for another reason than NotImplementedError get flagged?"""
    zero = {"1.1": 0.0, "1.2": 0.0}
    assert judge("stubs", "stubs", ("1.1", "1.2"), "", graded(zero, {"1.1": "", "1.2": ""}, "not-implemented")).verdict == "ok"
    assert judge("stubs", "stubs", ("1.1", "1.2"), "", graded(zero, {"1.1": "", "1.2": ""}, "error")).verdict != "ok"


def test_a_verdict_that_changes_with_the_seed_is_reported():
    """Is a test that passes with the grading seed and fails with another reported, and a stable one not?"""
    first = graded({"1.1": 10.0, "1.2": 10.0})
    again = [graded({"1.1": 10.0, "1.2": 10.0}), graded({"1.1": 0.0, "1.2": 10.0}, {"1.1": "below 90%"})]
    assert unstable_tests(first, again) == ["test 1.1"]
    assert unstable_tests(first, again[:1]) == []


def test_the_audit_fails_on_too_few_variants_a_low_catch_rate_or_instability():
    """Does a clean audit pass, and each kind of problem fail it with its reason?"""
    def rows(wrong_verdicts):
        out = [Row("solution", "solution", (), (), 100, 100), Row("stubs", "stubs", ("1.1",), ("1.1",), 0, 100)]
        out += [Row(f"c{i}", "correct", (), (), 100, 100) for i in range(4)]
        out += [Row(f"w{i}", "wrong", ("1.1",), lost, 90, 100) for i, lost in enumerate(wrong_verdicts)]
        return out

    assert Audit("hw", rows([("1.1",)] * 15), 1).passed
    short = Audit("hw", rows([("1.1",)] * 14), 1)
    assert any("at least 15" in p for p in short.problems())
    missed = Audit("hw", rows([("1.1",)] * 15 + [()]), 1)
    assert missed.catch_rate == 15 / 16 and any("catch rate" in p for p in missed.problems())
    shaky = Audit("hw", rows([("1.1",)] * 15), 2)
    shaky.rows[0].unstable = ["does training reach 90%?"]
    assert any("changes with the seed" in p for p in shaky.problems())


def test_a_variant_whose_text_does_not_occur_once_is_refused(tmp_path):
    """Can a variant silently stop applying when the solution changes? (It must not.)"""
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    (solutions / "m.py").write_text("x = 1\ny = 1\n")
    make_submission(solutions, Variant("ok", "m.py", "x = 1", "x = 2", ("1.1",), "x"), tmp_path / "a")
    assert (tmp_path / "a" / "m.py").read_text() == "x = 2\ny = 1\n"
    for old in ("z = 1", "= 1"):
        with pytest.raises(CourseError, match="not once"):
            make_submission(solutions, Variant("gone", "m.py", old, "", ("1.1",), "x"), tmp_path / f"b{len(old)}")


def test_other_draws_give_other_seeds():
    """Does `--seeds` really draw new seeds, while the grading seed stays what it always was?"""
    seeds = {runner.test_seed("a/b.py::test_x", trial) for trial in range(5)}
    assert len(seeds) == 5
    assert runner.test_seed("a/b.py::test_x") == runner.test_seed("c/b.py::test_x", 0)


def test_cli_exit_status_and_table(monkeypatch, course):
    """Does `course audit` print the table and exit 1 when the audit fails, 0 when it passes?"""
    good = Audit("hw1", [Row("solution", "solution", (), (), 100, 100)], 1)
    for passed, code in ((True, 0), (False, 1)):
        monkeypatch.setattr(Audit, "problems", lambda self, p=passed: [] if p else ["catch rate 50% is below 95%"])
        monkeypatch.setattr(audit_mod, "audit", lambda *a, **k: good)
        result = CliRunner().invoke(main, ["audit", "hw1"])
        assert result.exit_code == code, result.output
        assert "solution" in result.output and ("audit passed" in result.output) == passed, result.output


def test_cli_unknown_assignment_is_one_line_and_exit_2():
    result = CliRunner().invoke(main, ["audit", "hw9"])
    assert result.exit_code == 2 and "hw9" in result.output, result.output


def test_extra_variants_join_the_audit_only_when_asked(course):
    """Are EXTRA_WRONG and EXTRA_CORRECT left out of `course audit ID` and in with `--extra`?"""
    hw5 = course.assignment("hw5")
    wrong, correct = audit_mod.load_variants(hw5)
    more_wrong, more_correct = audit_mod.load_variants(hw5, extra=True)
    module = audit_mod.paths.module_from_file("_variants_hw5_extra", audit_mod.paths.suite_dir(hw5, "hidden") / "variants.py")
    assert module.EXTRA_WRONG and module.EXTRA_CORRECT
    assert [v.name for v in more_wrong] == [v.name for v in wrong + module.EXTRA_WRONG]
    assert [v.name for v in more_correct] == [v.name for v in correct + module.EXTRA_CORRECT]


def test_cli_passes_extra_to_the_audit(monkeypatch):
    seen = []
    monkeypatch.setattr(audit_mod, "audit", lambda *a, **k: seen.append(k["extra"]) or Audit("hw1", [], 1))
    monkeypatch.setattr(Audit, "problems", lambda self: [])
    for args in (["audit", "hw1"], ["audit", "hw1", "--extra"]):
        CliRunner().invoke(main, args)
    assert seen == [False, True]


def test_more_draws_of_seeds_regrade_every_right_answer_and_the_wrong_ones_that_lose_a_seeded_task():
    plan = {
        "solution": ("solution", (), ""),
        "stubs": ("stubs", ("1.1", "1.2"), ""),
        "wrong-a": ("wrong", ("1.1",), "a"),
        "wrong-b": ("wrong", ("1.2",), "b"),
        "wrong-ab": ("wrong", ("1.1", "1.2"), "ab"),
        "correct-c": ("correct", (), ""),
    }
    assert audit_mod.to_redraw(plan, {"1.2"}) == ["solution", "wrong-b", "wrong-ab", "correct-c"]
    assert audit_mod.to_redraw(plan, {"1.1", "1.2"}) == ["solution", "wrong-a", "wrong-b", "wrong-ab", "correct-c"]
