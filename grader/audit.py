"""`course audit ID`: how good are the tests? Grade known-wrong and known-right submissions.

Each built assignment keeps its variants on the instructor's side, in
`grader/suites/<id>/hidden/variants.py` (never released, never visible to a worker): `WRONG`, a
list of realistic mistakes, one each, naming the tasks whose points it must lose and a phrase the
feedback must contain; and `CORRECT`, other formulations of a right answer. A variant is the
solution with one edit (a text that must occur exactly once, so it cannot silently stop applying).

The audit grades the solution, the stubs and every variant exactly as `course grade` does (same
suites, same sandbox, same batch code), then judges each one:

- the solution and every correct variant must score full marks (else: a false failure);
- the stubs must score zero, every test failing with its task's NotImplementedError;
- a wrong variant is *caught* when it loses exactly the tasks it names, and its feedback must
  name the mistake; losing other tasks is a grader that blames the wrong concept;
- with `seeds` > 1, the tests marked `seeded` are graded again with other seeds, and a verdict
  that changes is reported (a threshold on a random outcome that does not hold). They are graded
  again for the solution, every correct variant and every wrong variant that should lose a task
  with a seeded test: a wrong variant that keeps such a task is, for that task, a right answer, and
  the solution and the correct variants already show that a right answer's verdict holds.

It passes when nothing of that went wrong, at least `MIN_WRONG` wrong and `MIN_CORRECT` correct
variants exist, and at least `CATCH_RATE` of the wrong ones are caught.

A variants module may also keep `EXTRA_WRONG` and `EXTRA_CORRECT`: variants left out of the
default audit because grading them is slow (each runs a training), audited with `extra=True`
(`course audit ID --extra`).

An assignment with artifacts (course.yaml's `artifacts`: a trained model beside the modules) gives
each variant the solution's copies. Where a variant's code would have written them differently (a
coder whose streams differ), its variants module may define
`remake_artifacts(solutions, folders, jobs)`: called with the solutions folder and
{variant: its submission folder} once every folder is made, it rewrites the artifacts there with
each variant's own code, so that the variant is graded on what its author would have submitted.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from grader import paths
from grader.config import Assignment, Course
from grader.errors import CourseError

MIN_WRONG = 15
MIN_CORRECT = 4
CATCH_RATE = 0.95


@dataclass(frozen=True)
class Variant:
    """The solution with one realistic change: a mistake (`loses` names its tasks) or another
    correct formulation (`loses` empty)."""

    name: str
    file: str  # a module of the solution, e.g. "huffman.py"
    old: str  # text that occurs exactly once in that file
    new: str
    loses: tuple[str, ...] = ()  # the tasks whose points it must lose; empty: full marks
    says: str = ""  # a phrase the feedback of a lost test must contain (the mistake, named)
    also: tuple[tuple[str, str, str], ...] = ()  # more (file, old, new) edits of the same mistake

    @property
    def wrong(self) -> bool:
        return bool(self.loses)

    def edits(self) -> tuple[tuple[str, str, str], ...]:
        return ((self.file, self.old, self.new), *self.also)


def split_audited(variants: list[Variant], names: Iterable[str]) -> tuple[list[Variant], list[Variant]]:
    """(the variants named in `names`, the others): a variants module's default audit (`WRONG` or
    `CORRECT`) and its `EXTRA_*` list. A name that no variant has is an error, not a variant dropped."""
    names = set(names)
    if unknown := names - {v.name for v in variants}:
        raise CourseError(f"no variant is called {', '.join(sorted(unknown))}")
    return [v for v in variants if v.name in names], [v for v in variants if v.name not in names]


def variants_module(assignment: Assignment):
    """The assignment's grader/suites/<id>/hidden/variants.py as a module; a missing one is an error."""
    path = paths.suite_dir(assignment, "hidden") / "variants.py"
    if not path.is_file():
        raise CourseError(f"{assignment.id}: no variants to audit ({path} is missing)")
    return paths.module_from_file(f"_variants_{assignment.id}", path)


def load_variants(assignment: Assignment, extra: bool = False) -> tuple[list[Variant], list[Variant]]:
    """(WRONG, CORRECT) from the assignment's variants module, with its EXTRA_WRONG and
    EXTRA_CORRECT where `extra`; a missing module is an error."""
    module = variants_module(assignment)
    path = Path(module.__file__)
    wrong, correct = list(module.WRONG), list(module.CORRECT)
    if extra:
        wrong += getattr(module, "EXTRA_WRONG", [])
        correct += getattr(module, "EXTRA_CORRECT", [])
    tasks = {t.id for t in assignment.tasks}
    names = [v.name for v in wrong + correct]
    for v in wrong + correct:
        if names.count(v.name) > 1:
            raise CourseError(f"{path.name}: two variants are called {v.name}")
        if unknown := set(v.loses) - tasks:
            raise CourseError(f"{path.name}: {v.name} names unknown tasks {sorted(unknown)}")
    for v in wrong:
        if not v.says:
            raise CourseError(f"{path.name}: wrong variant {v.name} needs `says`, the phrase its feedback must contain")
    if bad := [v.name for v in correct if v.wrong]:
        raise CourseError(f"{path.name}: CORRECT variants may not lose tasks: {', '.join(bad)}")
    if bad := [v.name for v in wrong if not v.wrong]:
        raise CourseError(f"{path.name}: WRONG variants must name the tasks they lose: {', '.join(bad)}")
    return wrong, correct


def make_submission(solutions: Path, variant: Variant, target: Path, artifacts: tuple[str, ...] = ()) -> Path:
    """A submission folder: the solution's modules with the variant's edits applied, and the
    solution's artifacts (its trained model) beside them."""
    target.mkdir(parents=True, exist_ok=True)
    for src in [*Path(solutions).glob("*.py"), *(Path(solutions) / name for name in artifacts)]:
        shutil.copy(src, target / src.name)
    for file, old, new in variant.edits():
        path = target / file
        text = path.read_text()
        if text.count(old) != 1:
            raise CourseError(f"variant {variant.name}: its text occurs {text.count(old)} times in {file}, not once")
        path.write_text(text.replace(old, new))
    return target


@dataclass
class Row:
    """One graded submission and the audit's verdict on it."""

    name: str
    kind: str  # "solution", "stubs", "wrong" or "correct"
    expected: tuple[str, ...]  # tasks it should lose (every task for the stubs)
    lost: tuple[str, ...]  # tasks it did lose
    score: float
    max_score: float
    named: bool = True  # the feedback contains the variant's phrase (wrong variants)
    unstable: list[str] = field(default_factory=list)  # tests whose verdict changed with the seed
    note: str = ""  # why it could not be graded, if so

    @property
    def verdict(self) -> str:
        if self.note:
            return "ungradable"
        if self.kind in ("solution", "correct"):
            return "ok" if self.score == self.max_score else "FALSE FAILURE"
        if self.kind == "stubs":
            return "STUBS SCORE" if self.score else "ok" if self.named else "NOT NotImplementedError"
        if not self.lost:
            return "missed"
        if set(self.lost) != set(self.expected):
            return "WRONG TASKS"
        return "caught" if self.named else "UNNAMED"


@dataclass
class Audit:
    assignment: str
    rows: list[Row]
    seeds: int
    seconds: float = 0.0
    redrawn: list[str] = field(default_factory=list)  # the submissions whose seeded tests were graded again

    def of(self, kind: str) -> list[Row]:
        return [r for r in self.rows if r.kind == kind]

    @property
    def catch_rate(self) -> float:
        wrong = self.of("wrong")
        return sum(r.verdict == "caught" for r in wrong) / len(wrong) if wrong else 0.0

    @property
    def false_failures(self) -> int:
        return sum(r.verdict == "FALSE FAILURE" for r in self.rows)

    def problems(self) -> list[str]:
        """Why the audit fails; empty when it passes."""
        out = [
            f"{r.name}: {r.verdict.lower()}" + (f" ({r.note})" if r.note else "")
            for r in self.rows
            if r.verdict not in ("ok", "caught", "missed")
        ]
        out += [f"{r.name}: verdict changes with the seed: {', '.join(r.unstable)}" for r in self.rows if r.unstable]
        if len(self.of("wrong")) < MIN_WRONG:
            out.append(f"only {len(self.of('wrong'))} wrong variants; at least {MIN_WRONG} are needed")
        if len(self.of("correct")) < MIN_CORRECT:
            out.append(f"only {len(self.of('correct'))} correct variants; at least {MIN_CORRECT} are needed")
        if self.catch_rate < CATCH_RATE:
            out.append(f"catch rate {self.catch_rate:.0%} is below {CATCH_RATE:.0%}")
        return out

    @property
    def passed(self) -> bool:
        return not self.problems()

    def to_dict(self) -> dict:
        return {
            "assignment": self.assignment,
            "seeds": self.seeds,
            "seconds": self.seconds,
            "redrawn": self.redrawn,
            "passed": self.passed,
            "catch_rate": self.catch_rate,
            "false_failures": self.false_failures,
            "problems": self.problems(),
            "rows": [{**r.__dict__, "verdict": r.verdict} for r in self.rows],
        }


def judge(name: str, kind: str, expected: tuple[str, ...], says: str, result: dict) -> Row:
    """The audit's verdict on one graded submission (`result` as in result.json)."""
    lost = tuple(t["id"] for t in result["tasks"] if t["points"] < t["max_points"])
    failed = [t for t in result["tests"] if not t["passed"]]
    if kind == "stubs":  # what a student sees first: every test fails with its task's NotImplementedError
        named = all(t["cause"] == "not-implemented" for t in failed)
    else:
        named = not says or any(says in t["feedback"] for t in failed)
    note = "; ".join(result.get("notes", [])) if not result["tests"] else ""
    return Row(name, kind, expected, lost, result["score"], result["max_score"], named=named, note=note)


def unstable_tests(first: dict, again: list[dict]) -> list[str]:
    """Tests whose verdict in a later draw of seeds differs from the first grading."""
    verdicts = {t["nodeid"]: t["passed"] for t in first["tests"]}
    changed = []
    for result in again:
        for t in result["tests"]:
            if t["nodeid"] in verdicts and t["passed"] != verdicts[t["nodeid"]] and t["name"] not in changed:
                changed.append(t["name"])
    return changed


def to_redraw(plan: dict[str, tuple[str, tuple[str, ...], str]], seeded: set[str]) -> list[str]:
    """Of the audit's submissions ({name: (kind, tasks it should lose, phrase)}), those whose seeded
    tests are graded with more draws of seeds, given the tasks that have seeded tests: the solution,
    every correct variant, and the wrong variants that should lose one of those tasks."""
    return [
        n
        for n, (kind, expected, _) in plan.items()
        if kind in ("solution", "correct") or (kind == "wrong" and seeded & set(expected))
    ]


def audit(
    course: Course,
    assignment_id: str,
    seeds: int = 1,
    jobs: int | None = None,
    isolation: str | None = None,
    progress=None,
    extra: bool = False,
) -> Audit:
    """Grade the solution, the stubs and every variant of an assignment as `course grade` does,
    and judge each (see the module docstring)."""
    import time

    from grader.batch import grade, student_dir

    a = course.built(assignment_id)
    wrong, correct = load_variants(a, extra)
    solutions = course.root / "solutions" / a.folder
    if not solutions.is_dir():
        raise CourseError(f"{solutions}: not found; `course audit` needs the instructor's copy of the course")
    started = time.monotonic()
    everything = [t.id for t in a.tasks]
    plan = {"solution": ("solution", (), ""), "stubs": ("stubs", tuple(everything), "")}
    plan |= {f"wrong-{v.name}": ("wrong", v.loses, v.says) for v in wrong}
    plan |= {f"correct-{v.name}": ("correct", (), "") for v in correct}
    with tempfile.TemporaryDirectory(prefix=f"audit-{a.id}-") as tmp:
        subs, out = Path(tmp) / "submissions", Path(tmp) / "graded"
        shutil.copytree(solutions, subs / "solution", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(course.root / "assignments" / a.folder, subs / "stubs", ignore=shutil.ignore_patterns("__pycache__"))
        folders = {v: subs / f"{'wrong' if v.wrong else 'correct'}-{v.name}" for v in wrong + correct}
        for v, folder in folders.items():
            make_submission(solutions, v, folder, a.artifacts)
        remake = getattr(variants_module(a), "remake_artifacts", None)
        if a.artifacts and remake is not None:
            remake(solutions, folders, jobs or 1)
        grade(course, a.id, subs, out / "0", jobs=jobs, isolation=isolation, progress=progress)
        results = {n: json.loads((student_dir(out / "0", n) / "result.json").read_text()) for n in plan}
        again: dict[str, list[dict]] = {n: [] for n in plan}

        def regrade(names: list[str], trial: int) -> None:
            """The seeded tests of `names` (a group graded together), with the seeds of `trial`."""
            folder = Path(tmp) / "redraw" / names[0]
            if not folder.exists():
                for n in names:
                    shutil.copytree(subs / n, folder / n)
            graded = out / f"{trial}-{names[0]}"
            grade(course, a.id, folder, graded, jobs=jobs, isolation=isolation, trial=trial, seeded_only=True)
            for n in names:
                again[n].append(json.loads((student_dir(graded, n) / "result.json").read_text()))

        # the tasks of the solution's seeded tests say who is graded again (one batch per draw)
        seeded = {t["task"] for t in results["solution"]["tests"] if t.get("seeded")}
        redrawn = to_redraw(plan, seeded) if seeded and seeds > 1 else []
        for trial in range(1, seeds if redrawn else 1):
            regrade(redrawn, trial)
    rows = []
    for n, (kind, expected, says) in plan.items():
        row = judge(n.split("-", 1)[-1], kind, expected, says, results[n])
        row.unstable = unstable_tests(results[n], again[n])
        rows.append(row)
    return Audit(a.id, rows, seeds, round(time.monotonic() - started, 1), redrawn)


def render(report: Audit) -> str:
    """The audit as a table: each submission, the tasks it should lose and did lose, its verdict."""
    width = max([len(r.name) for r in report.rows] + [20])
    lines = [
        f"{report.assignment}: audit of the graders ({len(report.of('wrong'))} wrong variants, "
        f"{len(report.of('correct'))} correct, {report.seeds} draw(s) of seeds, {report.seconds:.0f} s)",
        "",
        f"{'kind':<8} {'submission':<{width}}  {'should lose':<14} {'lost':<14} {'score':>7}  verdict",
    ]
    for r in report.rows:
        expected = "all" if r.kind == "stubs" else ", ".join(r.expected) or "-"
        lost = "all" if r.kind == "stubs" and len(r.lost) == len(r.expected) else ", ".join(r.lost) or "-"
        verdict = r.verdict + (f"; seed-dependent: {'; '.join(r.unstable)}" if r.unstable else "")
        lines.append(f"{r.kind:<8} {r.name:<{width}}  {expected:<14} {lost:<14} {r.score:>7.4g}  {verdict}")
    wrong = report.of("wrong")
    lines += [
        "",
        f"caught {sum(r.verdict == 'caught' for r in wrong)} of {len(wrong)} wrong variants "
        f"({report.catch_rate:.0%}); false failures: {report.false_failures}",
    ]
    if report.redrawn:
        n_correct = sum(n.startswith("correct-") for n in report.redrawn)
        n_wrong = sum(n.startswith("wrong-") for n in report.redrawn)
        lines.append(
            f"seeded tests graded with {report.seeds - 1} more draw(s) of seeds: the solution, {n_correct} correct and "
            f"{n_wrong} wrong variants (those that should lose a task with a seeded test)"
        )
    problems = report.problems()
    lines += [f"  problem: {p}" for p in problems] or ["audit passed"]
    return "\n".join(lines)
