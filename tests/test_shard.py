"""`course grade --shard K/N` and `course merge`: a class graded in shards and merged is the class
graded at once; what does not belong together is refused; the cluster examples parse."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from grader.batch import finished, grade, student_dir
from grader.cli import main
from grader.errors import CourseError
from grader.manifest import MANIFEST, Shard, course_version, read_manifest
from tests.conftest import ROOT

EXAMPLES = ROOT / "examples"
# ada, jo and fay hand in the solution, cy the stubs, hal one wrong answer; of 3 shards,
# sha256 puts cy and fay in shard 1, hal and jo in 2, ada in 3 (asserted below, not assumed)
CLASS = {"ada": "solution", "cy": "stubs", "fay": "solution", "hal": "wrong", "jo": "solution"}


def cli(course, *args):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_ROOT", str(course.root))
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def graded(course, solutions, tmp_path_factory):
    """CLASS graded once whole (the library) and in 3 shards (the CLI), each shard in its own folder."""
    from grader.audit import load_variants, make_submission

    tmp = tmp_path_factory.mktemp("shard")
    subs = tmp / "subs"
    wrong, _ = load_variants(course.assignment("hw1"))
    for name, kind in CLASS.items():
        if kind == "solution":
            shutil.copytree(solutions, subs / name)
        elif kind == "stubs":
            shutil.copytree(course.root / "assignments" / "hw1", subs / name)
        else:
            make_submission(solutions, next(v for v in wrong if v.name == "kl_arguments_swapped"), subs / name)
    whole = tmp / "whole"
    grade(course, "hw1", subs, whole, jobs=2)
    shards = [tmp / f"shard-{k}" for k in (1, 2, 3)]
    for k, out in enumerate(shards, 1):
        result = cli(course, "grade", "hw1", subs, "--out", out, "--shard", f"{k}/3", "--jobs", "2")
        assert result.exit_code == 0, result.output
    return {"subs": subs, "whole": whole, "shards": shards, "tmp": tmp}


def rows(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open()))


def one_line_refusal(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("course: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def test_merged_shards_are_byte_for_byte_one_run_over_the_class(course, graded, tmp_path):
    merged = tmp_path / "merged"
    result = cli(course, "merge", *graded["shards"], "--out", merged)
    assert result.exit_code == 0, result.output
    whole = graded["whole"]
    assert (merged / "grades.csv").read_bytes() == (whole / "grades.csv").read_bytes()
    assert (merged / "failures.csv").read_bytes() == (whole / "failures.csv").read_bytes()
    assert (merged / "histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    totals = {r["student"]: r["total"] for r in rows(merged / "grades.csv")}
    assert totals["ada"] == totals["jo"] == "100" and totals["cy"] == "0" and 0 < float(totals["hal"]) < 100
    for name in CLASS:
        assert finished(student_dir(merged, name))
        mine, theirs = (json.loads((student_dir(d, name) / "result.json").read_text()) for d in (merged, whole))
        assert mine["score"] == theirs["score"] and mine["tasks"] == theirs["tasks"]
    manifest = read_manifest(merged)
    assert (manifest.assignment, manifest.shards, manifest.of, manifest.written_by) == ("hw1", [1, 2, 3], 3, "course merge")
    assert manifest.students == sorted(CLASS)


def test_the_shards_partition_the_class(graded):
    held = [read_manifest(out).students for out in graded["shards"]]
    assert held == [["cy", "fay"], ["hal", "jo"], ["ada"]]
    for out, names in zip(graded["shards"], held):
        assert [r["student"] for r in rows(out / "grades.csv")] == names
        assert sorted(p.name for p in (out / "students").iterdir()) == names
    assert read_manifest(graded["whole"]).students == sorted(CLASS)
    assert (read_manifest(graded["whole"]).shards, read_manifest(graded["whole"]).of) == ([1], 1)


def test_adding_students_moves_nobody(tmp_path):
    """A student's shard depends on its own folder name only."""
    names = [f"student-{i:03d}" for i in range(60)]
    for n in names[:40]:
        (tmp_path / n).mkdir()
    before = {k: Shard(k, 3).pick(sorted(tmp_path.iterdir())) for k in (1, 2, 3)}
    for n in names[40:]:
        (tmp_path / n).mkdir()
    after = {k: Shard(k, 3).pick(sorted(tmp_path.iterdir())) for k in (1, 2, 3)}
    for k in (1, 2, 3):
        assert set(before[k]) <= set(after[k]) and len(before[k]) >= 5, k
    assert sorted(p.name for k in (1, 2, 3) for p in after[k]) == names  # each student in exactly one shard


@pytest.mark.parametrize("spec", ["3/2", "0/4", "a/b", "1/0", "2", "-1/3"])
def test_a_bad_shard_spec_is_refused_before_anything_is_graded(course, tmp_path, spec):
    (tmp_path / "subs" / "ada").mkdir(parents=True)
    result = cli(course, "grade", "hw1", tmp_path / "subs", "--out", tmp_path / "out", "--shard", spec)
    assert one_line_refusal(result).startswith("course: --shard ")
    assert not (tmp_path / "out").exists()


def test_shard_specs_read_as_shard_k_of_n():
    assert [(s.k, s.n) for s in map(Shard.parse, ["1/1", "2/3", " 8/8 "])] == [(1, 1), (2, 3), (8, 8)]
    with pytest.raises(CourseError, match="K must be from 1 to 2"):
        Shard.parse("3/2")


def edit_manifest(folder: Path, **changes) -> None:
    data = json.loads((folder / MANIFEST).read_text())
    for key, value in changes.items():
        if key == "grader":
            data["course_version"]["grader"] = value
        else:
            data[key] = value
    (folder / MANIFEST).write_text(json.dumps(data))


def other_assignment(copy, whole):
    edit_manifest(copy, assignment="hw2")


def other_version(copy, whole):
    edit_manifest(copy, grader="0" * 64)


def other_split(copy, whole):
    edit_manifest(copy, shards=[2], of=4)


def no_manifest(copy, whole):
    (copy / MANIFEST).unlink()


def corrupt_manifest(copy, whole):
    (copy / MANIFEST).write_text('{"format": 1, "assignment": "hw1"')


def graded_differently(copy, whole):
    """jo (shard 2) given cy's reports, stamp and all: finished, but another verdict."""
    for f in student_dir(whole, "cy").iterdir():
        shutil.copy(f, student_dir(copy, "jo") / f.name)


def unfinished(copy, whole):
    (student_dir(copy, "jo") / "feedback.txt").write_text("half written")


@pytest.mark.parametrize(
    "spoil, says",
    [
        (other_assignment, "holds hw1 but .* holds hw2"),
        (other_version, "different versions of the course \\(the assignment's tests or drivers differs\\)"),
        (other_split, "shards of 3 but .* shards of 4"),
        (no_manifest, "not an output of `course grade`"),
        (corrupt_manifest, "not a `course grade` manifest"),
        (graded_differently, "jo: graded differently in"),
        (unfinished, "jo: not finished"),
    ],
)
def test_merge_refuses_what_does_not_belong_and_writes_nothing(course, graded, tmp_path, spoil, says):
    copy = tmp_path / "shard-2-copy"
    shutil.copytree(graded["shards"][1], copy)
    spoil(copy, graded["whole"])
    result = cli(course, "merge", *graded["shards"], copy, "--out", tmp_path / "merged")
    assert re.search(says, one_line_refusal(result))
    assert not (tmp_path / "merged").exists()


def test_merge_refuses_an_out_that_is_one_of_its_folders(course, graded, tmp_path):
    shards = [tmp_path / s.name for s in graded["shards"]]
    for src, dst in zip(graded["shards"], shards):
        shutil.copytree(src, dst)
    before = sorted((p.relative_to(tmp_path), p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))
    result = cli(course, "merge", *shards, "--out", shards[0])
    assert "is one of the folders to merge" in one_line_refusal(result)
    assert sorted((p.relative_to(tmp_path), p.stat().st_mtime_ns) for p in tmp_path.rglob("*")) == before


def test_merge_names_a_missing_shard_and_merges_the_rest(course, graded, tmp_path):
    """A shard given twice (same verdicts) is fine; shard 2 of 3 missing is one line and exit 1."""
    shard1, _, shard3 = graded["shards"]
    again = tmp_path / "shard-1-again"
    shutil.copytree(shard1, again)
    result = cli(course, "merge", shard1, again, shard3, "--out", tmp_path / "merged")
    assert result.exit_code == 1, result.output
    assert result.stderr == f"course: shard 2/3 is missing: no folder holds it, its students are not in {tmp_path / 'merged'}\n"
    expected = [r for r in rows(graded["whole"] / "grades.csv") if r["student"] not in ("hal", "jo")]
    assert rows(tmp_path / "merged" / "grades.csv") == expected
    assert read_manifest(tmp_path / "merged").shards == [1, 3]


def test_grade_refuses_an_out_holding_other_grades_unless_forced(course, graded, tmp_path):
    """An --out holding another assignment's grades is refused; one graded with another course
    version too, unless --force (which grades everyone again; here an empty shard, to stay cheap)."""
    subs = graded["subs"]
    empty = next(Shard(k, 50) for k in range(1, 51) if not Shard(k, 50).pick(sorted(subs.iterdir())))
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(graded["shards"][0] / MANIFEST, out / MANIFEST)
    edit_manifest(out, assignment="hw2")
    with pytest.raises(CourseError, match="holds the grades of hw2; grade hw1 into another --out"):
        grade(course, "hw1", subs, out, shard=empty)
    edit_manifest(out, assignment="hw1", grader="0" * 64)
    with pytest.raises(CourseError, match="graded with another version of the course"):
        grade(course, "hw1", subs, out, shard=empty)
    assert not (out / "grades.csv").exists()
    summary = grade(course, "hw1", subs, out, shard=empty, force=True)
    assert summary.graded == [] and read_manifest(out).students == []
    assert read_manifest(out).course_version == course_version(course, course.assignment("hw1"))
    assert (out / "grades.csv").read_text().count("\n") == 1  # the header: an empty shard is a shard


def test_course_version_follows_the_suite_not_its_location_or_caches(course, tmp_path):
    from grader import paths

    a = course.assignment("hw1")
    shutil.copytree(paths.suite_dir(a), tmp_path / "suites" / "hw1", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "worker" / "drivers").mkdir(parents=True)
    shutil.copy(paths.drivers_file(a), tmp_path / "worker" / "drivers" / "hw1.py")
    moved = dataclasses.replace(a, grader=tmp_path)
    assert course_version(course, moved) == course_version(course, a)
    (tmp_path / "suites" / "hw1" / ".pytest_cache").mkdir()
    (tmp_path / "suites" / "hw1" / ".pytest_cache" / "x").write_text("cache")
    assert course_version(course, moved) == course_version(course, a)
    with (tmp_path / "worker" / "drivers" / "hw1.py").open("a") as f:
        f.write("\n# changed\n")
    assert course_version(course, moved)["grader"] != course_version(course, a)["grader"]


def course_args(script: str, shell: str, env: dict[str, str], *argv: str) -> list[list[str]]:
    """The argument lists `script` gives `course` when the shell runs it (course is a stub that
    prints them)."""
    stub = "course() { printf '%s\\0' \"$@\"; printf '\\n'; }\n"
    out = subprocess.run([shell, "-c", stub + script, "script", *argv], env=env, capture_output=True, text=True, check=True)
    return [line.strip("\0").split("\0") for line in out.stdout.splitlines() if line]


def parses(args: list[str]) -> dict:
    """`course ARGS` parsed by the real CLI, without running it: the command's parameters."""
    command = main.commands[args[0]]
    with command.make_context(args[0], args[1:]) as ctx:
        return ctx.params


def test_the_slurm_example_grades_every_shard_then_merges(tmp_path):
    script = (EXAMPLES / "slurm" / "grade-array.sbatch").read_text()
    shards, outs = [], set()
    for task in range(1, 9):
        env = {
            "PATH": "/usr/bin:/bin",
            "SLURM_ARRAY_TASK_ID": str(task),
            "SLURM_ARRAY_TASK_COUNT": "8",
            "SLURM_CPUS_PER_TASK": "4",
        }
        (args,) = course_args(script, "bash", env, "hw1", "/shared/submissions", "/shared/grades")
        params = parses(args)
        assert args[0] == "grade" and params["assignment"] == "hw1" and params["jobs"] == 4
        shards.append(Shard.parse(params["shard_spec"]))
        outs.add(params["out"])
    assert shards == [Shard(k, 8) for k in range(1, 9)] and len(outs) == 8
    (merge,) = re.findall(r"--wrap '(course merge [^']*)'", script)
    (args,) = course_args(merge, "bash", {"PATH": "/usr/bin:/bin"})
    params = parses(args)
    assert (
        args[0] == "merge"
        and params["out"] not in outs
        and all(Path(f).parent == Path("/shared/grades") for f in params["folders"])
    )


def test_the_kubernetes_example_is_an_indexed_job_over_every_shard():
    job = yaml.safe_load((EXAMPLES / "kubernetes" / "grade-job.yaml").read_text())
    spec = job["spec"]
    assert job["kind"] == "Job" and spec["completionMode"] == "Indexed"
    (container,) = spec["template"]["spec"]["containers"]
    env = {"PATH": "/usr/bin:/bin", **{e["name"]: e["value"] for e in container.get("env", [])}}
    shards = []
    for index in range(spec["completions"]):
        (args,) = course_args(container["command"][2], container["command"][0], {**env, "JOB_COMPLETION_INDEX": str(index)})
        params = parses(args)
        assert args[0] == "grade" and str(params["out"]).startswith("/data/")
        shards.append(Shard.parse(params["shard_spec"]))
    assert shards == [Shard(k, spec["completions"]) for k in range(1, spec["completions"] + 1)]
    merge_job = yaml.safe_load((EXAMPLES / "kubernetes" / "merge-job.yaml").read_text())
    (container,) = merge_job["spec"]["template"]["spec"]["containers"]
    (args,) = course_args(container["command"][2], container["command"][0], {"PATH": "/usr/bin:/bin"})
    assert args[0] == "merge" and parses(args)["folders"]
