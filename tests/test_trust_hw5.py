"""hw5 against hostile submissions (tests/fixtures/hw5_attacks.py): exits at import and inside graded
functions, endless loops, floods of output, memory beyond the 8192 MB limit, fake result and
progress files, forged drivers (task 5.5's training run among them), rigged comparisons and tensor
subclasses that lie about equality, a train_vit that looks for the held-out labels, and the
libraries the graded functions may not use. Nothing computed in the student's process is a verdict.

Every attack is graded once, together with the plain stubs and the solution, by `course grade`'s
library function, with the public and hidden suites as they stand: the verdicts are per task (from
course.yaml), never per test name, so they hold as the suites grow. A stub-based attack earns no
task more than the stubs do; a solution-based one loses exactly the tasks it attacks and keeps the
solution's points everywhere else; every batch finishes, and the report names the cause.

HOLES lists what these attacks found open, each waiting on a change outside this file: its test
is expected to fail (strict), so it fails the day the hole is closed, to be taken off the list.
"""

from __future__ import annotations

import json
import time

import pytest

from grader import sandbox
from grader.batch import finished, student_dir
from tests.fixtures.hw5_attacks import (
    ATTACKS,
    LABEL_PROBE,
    LEAKED,
    MARKER,
    SEALED,
    SOLUTION_ATTACKS,
    STUBS_ATTACKS,
    Hostile,
    make,
)

BASELINES = ("baseline-stubs", "baseline-solution")
JOBS = 3  # two cores; the sleeping loop holds a place in the batch without using one

HOLES: dict[str, str] = {}  # attack name -> why it passes, while a known hole is open (a strict xfail)


def hole(name: str, *values):
    """A pytest param of `values` (default: name) with the id `name`, expected to fail while HOLES lists it."""
    marks = [pytest.mark.xfail(strict=True, reason=HOLES[name])] if name in HOLES else []
    return pytest.param(*(values or (name,)), marks=marks, id=name)


@pytest.fixture(scope="module")
def hw5_hostile(course, tmp_path_factory):
    """The stubs, the solution and every attack graded in one batch (public and hidden suites)."""
    import shutil

    from grader.batch import grade

    stubs, solution = course.root / "assignments" / "hw5", course.root / "solutions" / "hw5"
    subs = tmp_path_factory.mktemp("hw5-hostile")
    shutil.copytree(stubs, subs / "baseline-stubs")
    shutil.copytree(solution, subs / "baseline-solution")
    for attack in ATTACKS:
        make(stubs if attack.base == "stubs" else solution, attack, subs / f"attack-{attack.name}")
    out = tmp_path_factory.mktemp("hw5-hostile-graded")
    started = time.monotonic()
    summary = grade(course, "hw5", subs, out, jobs=JOBS)
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


def test_the_batch_finished_every_submission(hw5_hostile):
    """No attack makes a submission ungradable or stops the batch; each has a stamped result."""
    summary, results = hw5_hostile["summary"], hw5_hostile["results"]
    names = {*BASELINES, *(f"attack-{a.name}" for a in ATTACKS)}
    assert not summary.ungradable, summary.ungradable
    assert set(summary.graded) == names and set(results) == names, sorted(names ^ set(results))
    for name in names:
        assert finished(student_dir(hw5_hostile["out"], name)), f"{name}: result files missing or not stamped"
        assert results[name]["tests"], f"{name}: no test ran"


def test_the_solution_scores_full_marks(hw5_hostile):
    """The comparisons below are against the solution (full marks) ..."""
    solution = hw5_hostile["results"]["baseline-solution"]
    assert solution["score"] == solution["max_score"] == 100, [(t["name"], t["feedback"]) for t in failed(solution)]


@pytest.mark.parametrize("name", [hole("baseline-stubs")])
def test_the_stubs_score_nothing(hw5_hostile, name):
    """... and against the stubs (nothing)."""
    stubs = hw5_hostile["results"][name]
    assert stubs["score"] == 0, [(t["nodeid"], t["points"]) for t in stubs["tests"] if t["points"]]


@pytest.mark.parametrize("attack", [hole(a.name, a) for a in STUBS_ATTACKS])
def test_a_hostile_stub_earns_nothing(hw5_hostile, course, attack):
    """The stubs plus hostile code earn no task more than the stubs do, and the report names the cause."""
    result = hw5_hostile["results"][f"attack-{attack.name}"]
    stubs = points(hw5_hostile["results"]["baseline-stubs"])
    got = points(result)
    earned = {
        task.id: [(t["nodeid"], t["points"]) for t in result["tests"] if t["task"] == task.id and t["points"]]
        for task in course.assignment("hw5").tasks
        if got[task.id] > stubs[task.id]
    }
    assert not earned, f"{attack.name} earned more than the stubs: {earned}"
    causes_named(attack, result)


@pytest.mark.parametrize("attack", SOLUTION_ATTACKS, ids=lambda a: a.name)
def test_an_attack_on_the_solution_loses_exactly_its_tasks(hw5_hostile, course, attack):
    """The solution with hostile code in some functions loses those functions' tasks and nothing else."""
    result = hw5_hostile["results"][f"attack-{attack.name}"]
    solution = hw5_hostile["results"]["baseline-solution"]
    got, want = points(result), points(solution)
    kept = [t for t in attack.tasks if has_tests(result, t) and not failed(result, t)]
    assert not kept, f"{attack.name}: tasks {kept} lost nothing"
    others = {
        task.id: (got[task.id], want[task.id], [(t["nodeid"], t["cause"], t["feedback"][:160]) for t in failed(result, task.id)])
        for task in course.assignment("hw5").tasks
        if task.id not in attack.tasks and got[task.id] != want[task.id]
    }
    assert not others, (
        f"{attack.name}: tasks it does not attack scored otherwise than the solution (got, solution, lost): {others}"
    )
    causes_named(attack, result)


RULE_WORDS = "may not be used in hw5's graded code"


def test_torch_attention_in_the_solution_costs_what_runs_it(hw5_hostile):
    """scaled_dot_product_attention through F.scaled_dot_product_attention in the solution: every test
    of tasks 5.1 and 5.2 fails (MultiHeadAttention calls that function: the rule follows helpers within
    a module), and so do task 5.5's tests that train a model running it (marked uses(...,
    "MultiHeadAttention", ...)), but not its other tests; each names the file, the line, what it used
    and the rule. Tasks 5.3, 5.4 and 5.6 lose nothing: vit.py's own code is the student's, and the
    borrowed attention under it is charged to 5.1 and 5.2."""
    result = hw5_hostile["results"]["attack-borrowed_attention_in_the_solution"]
    by_task = {task: [t for t in result["tests"] if t["task"] == task] for task in ("5.1", "5.2", "5.3", "5.4", "5.5", "5.6")}
    for task in ("5.1", "5.2"):
        assert by_task[task] and not any(t["passed"] for t in by_task[task]), [t["nodeid"] for t in by_task[task] if t["passed"]]
    trained = [t for t in by_task["5.5"] if not t["passed"]]
    assert trained and len(trained) < len(by_task["5.5"]), [t["nodeid"] for t in trained]
    for task in ("5.3", "5.4", "5.6"):
        assert all(t["passed"] for t in by_task[task]), [t["nodeid"] for t in by_task[task] if not t["passed"]]
    for t in failed(result):
        words = ("attention.py line ", "torch.nn.functional.scaled_dot_product_attention", RULE_WORDS)
        assert t["cause"] == "wrong answer" and all(w in t["feedback"] for w in words), (t["nodeid"], t["feedback"])


@pytest.mark.parametrize(
    "name,named",
    [
        hole(
            "borrowed_attention_and_heads",
            "borrowed_attention_and_heads",
            {"5.1": "scaled_dot_product_attention", "5.2": "multi_head_attention_forward"},
        ),
        hole("torch_softmax", "torch_softmax", {"5.1": "torch.softmax"}),
        hole(
            "functional_softmax_imported_as_another_name",
            "functional_softmax_imported_as_another_name",
            {"5.1": "torch.nn.functional.softmax"},
        ),
        hole("softmax_as_a_tensor_method", "softmax_as_a_tensor_method", {"5.1": ""}),
        hole("torch_multihead_attention_inside_forward", "torch_multihead_attention_inside_forward", {"5.2": ""}),
    ],
)
def test_a_banned_library_costs_every_test_of_its_task_with_the_line_and_the_rule(hw5_hostile, name, named):
    """Right answers with torch's attention or softmax inside, on the stubs: every test of the task
    whose code uses it fails, naming the file, the line, what it used and the rule."""
    result = hw5_hostile["results"][f"attack-{name}"]
    for task, what in named.items():
        tests = [t for t in result["tests"] if t["task"] == task]
        assert tests, f"task {task} has no tests"
        for t in tests:
            said = t["feedback"]
            assert not t["passed"] and "attention.py line " in said and what in said and RULE_WORDS in said, (t["nodeid"], said)


@pytest.mark.parametrize(
    "name,function", [("infinite_loop_in_patchify", "vit.patchify"), ("hang_and_exit_in_task_5_6", "vit.attention_rollout")]
)
def test_an_endless_loop_costs_its_time_limit_once(hw5_hostile, name, function):
    """The first test that meets the loop times out; every later one that would call the same
    function is refused at once instead of waiting out the limit again."""
    result = hw5_hostile["results"][f"attack-{name}"]
    timed = [t for t in result["tests"] if t["cause"] == "timeout" and function in t["feedback"]]
    assert timed, f"{name}: no test timed out in {function}"
    first, rest = timed[0], timed[1:]
    assert "ran past the" in first["feedback"] and first["seconds"] >= 10, (first["nodeid"], first["seconds"], first["feedback"])
    assert rest, f"{name}: only one test calls {function}"
    for t in rest:
        assert "is not called again" in t["feedback"] and t["seconds"] < 1, (t["nodeid"], t["seconds"], t["feedback"])


def test_lying_tensors_stay_in_the_worker(hw5_hostile):
    """Tensor subclasses that claim to equal anything (their __eq__, __sub__, abs, allclose and
    __torch_function__ lie) cross the seam as opaque handles, not as data: every test that gets one
    fails saying it is not a tensor, and the rigged comparisons of the worker change nothing."""
    result = hw5_hostile["results"]["attack-rigged_comparisons_and_lying_tensors"]
    assert result["score"] == 0, [(t["nodeid"], t["points"]) for t in result["tests"] if t["points"]]
    liars = [t for t in result["tests"] if "_Liar" in t["feedback"]]
    assert len(liars) >= 10, [(t["nodeid"], t["feedback"][:120]) for t in failed(result)]
    for t in liars:
        assert not t["passed"] and t["cause"] == "wrong answer", (t["nodeid"], t["cause"], t["feedback"])


@pytest.mark.skipif(not sandbox.bwrap_path(), reason="without bubblewrap the worker can read the course's files")
def test_the_held_out_labels_never_reach_the_worker(hw5_hostile):
    """A train_vit that looks for the held-out test labels (the course's data loader, the held-out file
    under every folder it can name, label-like arrays in its memory) finds none, and earns nothing."""
    result = hw5_hostile["results"]["attack-read_the_held_out_labels"]
    said = [t["feedback"] for t in result["tests"] if t["task"] == "5.5"]
    assert all(LEAKED not in f for f in said), [f for f in said if LEAKED in f][:1]
    probes = [f for f in said if SEALED in f]
    assert len(probes) >= 2, said


def test_the_label_probe_finds_the_file_without_the_sandbox(course, tmp_path):
    """The probe is not blind: in the worker without bubblewrap (isolation: limits), the instructor's
    held-out file is there to read, and it says so. Under bubblewrap (the batch above) it is not."""
    from grader.runner import run_assignment

    folder = make(course.root / "assignments" / "hw5", Hostile("probe", "stubs", (("vit.py", LABEL_PROBE),)), tmp_path / "probe")
    result = run_assignment(course, "hw5", folder, ("public",), isolation="limits", tasks=("5.5",))
    assert result.isolation == "limits" and result.tests, result
    assert not any(t.passed for t in result.tests), [t.nodeid for t in result.tests if t.passed]
    assert any(LEAKED in t.feedback for t in result.tests), [t.feedback for t in result.tests]


def test_fake_result_files_change_nothing(hw5_hostile, course):
    """Result and progress files the submission writes reach neither the class's results nor the course."""
    out = student_dir(hw5_hostile["out"], "attack-fake_results_files")
    stubs = hw5_hostile["results"]["baseline-stubs"]["score"]
    result, gradescope = (json.loads((out / name).read_text()) for name in ("result.json", "results.json"))
    assert result["score"] <= stubs and gradescope["score"] == result["score"], (result["score"], gradescope["score"])
    assert len(gradescope["tests"]) == len(result["tests"]) > 0 and MARKER not in json.dumps(gradescope)
    assert finished(out)
    for root in (hw5_hostile["out"], course.root):
        for path in root.rglob("*"):
            if path.is_file() and path.stat().st_size < 10_000_000:
                assert MARKER not in path.read_text(errors="replace"), f"the submission wrote {path}"


def test_the_batch_took_modest_time(hw5_hostile):
    """Each endless loop costs one time limit (30 s); nothing else should make the batch slow."""
    slowest = max(((name, r["seconds"]) for name, r in hw5_hostile["results"].items()), key=lambda p: p[1])
    assert hw5_hostile["seconds"] < 240, f"the batch took {hw5_hostile['seconds']:.0f} s (slowest: {slowest})"
