"""hw4 against hostile submissions (tests/fixtures/hw4_attacks.py): exits at import and inside graded
functions, endless loops (task 4.7's experiment included), floods of output, memory beyond the 8192 MB
limit, fake result and progress files, forged drivers, rigged comparisons in the worker, and the
libraries the graded functions may not use. Nothing computed in the student's process is a verdict.

Every attack is graded once, together with the plain stubs and the solution, by `course grade`'s
library function, with the public and hidden suites as they stand: the verdicts are per task (from
course.yaml), never per test name, so they hold as the suites grow. A stub-based attack earns no
task more than the stubs do (nothing); a solution-based one loses exactly the tasks it attacks and
keeps the solution's points everywhere else; every batch finishes, and the report names the cause.
"""

from __future__ import annotations

import json
import time

import pytest

from grader.batch import finished, student_dir
from tests.fixtures.hw4_attacks import ATTACKS, MARKER, SOLUTION_ATTACKS, STUBS_ATTACKS, Hostile, make

BASELINES = ("baseline-stubs", "baseline-solution")


@pytest.fixture(scope="module")
def hw4_hostile(course, tmp_path_factory):
    """The stubs, the solution and every attack graded in one batch (public and hidden suites)."""
    import shutil

    from grader.batch import grade

    stubs, solution = course.root / "assignments" / "hw4", course.root / "solutions" / "hw4"
    subs = tmp_path_factory.mktemp("hw4-hostile")
    shutil.copytree(stubs, subs / "baseline-stubs")
    shutil.copytree(solution, subs / "baseline-solution")
    for attack in ATTACKS:
        make(stubs if attack.base == "stubs" else solution, attack, subs / f"attack-{attack.name}")
    out = tmp_path_factory.mktemp("hw4-hostile-graded")
    started = time.monotonic()
    summary = grade(course, "hw4", subs, out, jobs=2)
    seconds = time.monotonic() - started
    results = {p.name: json.loads((p / "result.json").read_text()) for p in (out / "students").iterdir() if p.is_dir()}
    return {"summary": summary, "results": results, "out": out, "submissions": subs, "seconds": seconds}


def points(result: dict) -> dict[str, float]:
    return {t["id"]: t["points"] for t in result["tasks"]}


def failed(result: dict, task: str | None = None) -> list[dict]:
    return [t for t in result["tests"] if not t["passed"] and (task is None or t["task"] == task)]


def has_tests(result: dict, task: str) -> bool:
    return any(t["task"] == task for t in result["tests"])


def causes_named(attack: Hostile, result: dict) -> None:
    """Each attacked task that has tests has a failed one with the attack's cause, saying what happened."""
    for task, cause, phrase in attack.hits:
        if not has_tests(result, task):
            continue
        said = [t["feedback"] for t in failed(result, task) if t["cause"] == cause]
        got = sorted({t["cause"] for t in failed(result, task)})
        assert said, f"{attack.name}: no failed test of task {task} gives the cause {cause!r} (causes: {got})"
        assert any(phrase in f for f in said), f"{attack.name}: no {cause} of task {task} says {phrase!r}: {said[:3]}"


def test_the_batch_finished_every_submission(hw4_hostile):
    """No attack makes a submission ungradable or stops the batch; each has a stamped result."""
    summary, results = hw4_hostile["summary"], hw4_hostile["results"]
    names = {*BASELINES, *(f"attack-{a.name}" for a in ATTACKS)}
    assert not summary.ungradable, summary.ungradable
    assert set(summary.graded) == names and set(results) == names, sorted(names ^ set(results))
    for name in names:
        assert finished(student_dir(hw4_hostile["out"], name)), f"{name}: result files missing or not stamped"
        assert results[name]["tests"], f"{name}: no test ran"


def test_the_baselines(hw4_hostile):
    """The comparisons below are against the stubs (nothing) and the solution (full marks)."""
    stubs, solution = hw4_hostile["results"]["baseline-stubs"], hw4_hostile["results"]["baseline-solution"]
    assert stubs["score"] == 0, [(t["name"], t["points"]) for t in stubs["tests"] if t["points"]]
    assert solution["score"] == solution["max_score"] == 100, [(t["name"], t["feedback"]) for t in failed(solution)]


@pytest.mark.parametrize("attack", STUBS_ATTACKS, ids=lambda a: a.name)
def test_a_hostile_stub_earns_nothing(hw4_hostile, course, attack):
    """The stubs plus hostile code earn no task more than the stubs do, and the report names the cause."""
    result = hw4_hostile["results"][f"attack-{attack.name}"]
    stubs = points(hw4_hostile["results"]["baseline-stubs"])
    got = points(result)
    earned = {
        task.id: [(t["name"], t["points"]) for t in result["tests"] if t["task"] == task.id and t["points"]]
        for task in course.assignment("hw4").tasks
        if got[task.id] > stubs[task.id]
    }
    assert not earned, f"{attack.name} earned more than the stubs: {earned}"
    causes_named(attack, result)


@pytest.mark.parametrize("attack", SOLUTION_ATTACKS, ids=lambda a: a.name)
def test_an_attack_on_the_solution_loses_exactly_its_tasks(hw4_hostile, course, attack):
    """The solution with hostile code in some functions loses those functions' tasks and nothing else."""
    result = hw4_hostile["results"][f"attack-{attack.name}"]
    solution = hw4_hostile["results"]["baseline-solution"]
    got, want = points(result), points(solution)
    kept = [t for t in attack.tasks if has_tests(result, t) and not failed(result, t)]
    assert not kept, f"{attack.name}: tasks {kept} lost nothing"
    others = {
        task.id: (got[task.id], want[task.id], [(t["name"], t["cause"], t["feedback"][:160]) for t in failed(result, task.id)])
        for task in course.assignment("hw4").tasks
        if task.id not in attack.tasks and got[task.id] != want[task.id]
    }
    assert not others, (
        f"{attack.name}: tasks it does not attack scored otherwise than the solution (got, solution, lost): {others}"
    )
    causes_named(attack, result)


def test_a_banned_library_costs_its_tasks_with_the_line_and_the_rule(hw4_hostile):
    """magnitude_mask through torch.nn.utils.prune and distillation_loss through F.kl_div: every failed
    test of tasks 4.1 and 4.6 names the file, the line and the rule, and nothing else fails."""
    result = hw4_hostile["results"]["attack-banned_prune_and_kl_div"]
    for task, named in (("4.1", "torch.nn.utils.prune"), ("4.6", "torch.nn.functional.kl_div")):
        lost = failed(result, task)
        assert lost or not has_tests(result, task), f"task {task} lost nothing"
        for t in lost:
            assert named in t["feedback"] and " line " in t["feedback"] and "may not be used" in t["feedback"], t["feedback"]
    others = [(t["task"], t["name"]) for t in failed(result) if t["task"] not in ("4.1", "4.6")]
    assert not others, others


@pytest.mark.parametrize(
    "name,function", [("infinite_loop_in_magnitude_mask", "magnitude_mask"), ("infinite_loop_in_deep_compress", "deep_compress")]
)
def test_an_endless_loop_costs_its_time_limit_once(hw4_hostile, name, function):
    """The first test that meets the loop times out; every later one that would call the same
    function is refused at once instead of waiting out the limit again."""
    result = hw4_hostile["results"][f"attack-{name}"]
    timed = [t for t in result["tests"] if t["cause"] == "timeout" and function in t["feedback"]]
    assert timed, f"{name}: no test timed out in {function}"
    first, rest = timed[0], timed[1:]
    assert "ran past the" in first["feedback"] and first["seconds"] >= 10, (first["name"], first["seconds"], first["feedback"])
    for t in rest:
        assert "is not called again" in t["feedback"] and t["seconds"] < 1, (t["name"], t["seconds"], t["feedback"])


def test_fake_result_files_change_nothing(hw4_hostile, course):
    """Result and progress files the submission writes reach neither the class's results nor the course."""
    out = student_dir(hw4_hostile["out"], "attack-fake_results_files")
    stubs = hw4_hostile["results"]["baseline-stubs"]["score"]
    result, gradescope = (json.loads((out / name).read_text()) for name in ("result.json", "results.json"))
    assert result["score"] <= stubs and gradescope["score"] == result["score"], (result["score"], gradescope["score"])
    assert len(gradescope["tests"]) == len(result["tests"]) > 0 and MARKER not in json.dumps(gradescope)
    assert finished(out)
    for root in (hw4_hostile["out"], course.root):
        for path in root.rglob("*"):
            if path.is_file() and path.stat().st_size < 10_000_000:
                assert MARKER not in path.read_text(errors="replace"), f"the submission wrote {path}"


def test_the_batch_took_modest_time(hw4_hostile):
    """Each endless loop costs one time limit; nothing else should make the batch slow."""
    slowest = max(((name, r["seconds"]) for name, r in hw4_hostile["results"].items()), key=lambda p: p[1])
    assert hw4_hostile["seconds"] < 300, f"the batch took {hw4_hostile['seconds']:.0f} s (slowest: {slowest})"
