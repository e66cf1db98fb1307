"""The `course` command: click decorators over the library; each command's docstring is its help.

Exit codes: 0 done (for `check`: every test passed), 1 some tests failed (`check`) or something is
out of date (`--check` modes), 2 the command could not do its job (the one-line cause is printed).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from grader.command import CourseGroup, course_obj
from grader.gradescope import command as gradescope_command
from grader.nbverify import verify


@click.group(cls=CourseGroup)
@click.version_option(package_name="course-foundations")
@click.pass_context
def main(ctx):
    """A graded course on the foundations of large-model research.

    Students: `course check hw1`. Self-learners: `course syllabus`.
    Instructors: `course check hw1 --solution`, `course grade`, `course release`.
    """
    os.environ.setdefault("MPLBACKEND", "Agg")
    ctx.obj = None


@main.command()
@click.option("--no-readings", is_flag=True, help="Leave out the reading list.")
def syllabus(no_readings):
    """The assignments in order: pillar, points, time estimate, readings and your last scores; then
    your points so far, the next assignment and the hours left. An assignment is done when your last
    `course check` of it scored full marks."""
    from grader.syllabus import syllabus as render

    click.echo(render(course_obj(), readings=not no_readings))


@main.command()
@click.argument("assignment")
@click.option(
    "--path",
    type=click.Path(path_type=Path),
    help="Folder with your files, or your notebook (.ipynb) (default: assignments/<folder>).",
)
@click.option("--solution", is_flag=True, help="Instructor: public and hidden suites against solutions/.")
@click.option("--hidden", is_flag=True, help="Public and hidden suites on your code (where this copy of the course has them).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of a table.")
@click.option("-k", "select", help="Only one task's tests (-k 1.1), or the tests whose name matches a pytest -k expression.")
@click.option("--task", "tasks", multiple=True, help="Only this task's tests: --task 1.5, or --task 1.5,1.6 (repeatable).")
def check(assignment, path, solution, hidden, as_json, select, tasks):
    """Run the public graders on your code and print a table of tests, points and feedback.

    With -k or --task only the tests selected run; each shows its share of its task's points,
    each task its points out of the task's, and the total counts the tests run. Only a whole run
    (public, or public and hidden with --hidden) is kept as your progress for `course syllabus`.

    Exit status: 0 every test run passed, 1 some failed, 2 the check could not run
    (a selection that matches no test included).
    """
    from grader.check import check as run_check
    from grader.report import table

    course = course_obj()
    result = run_check(course, assignment, path=path, solution=solution, select=select, tasks=tasks, hidden=hidden)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(table(result, course.assignment(assignment), color=sys.stdout.isatty()))
    sys.exit(0 if result.all_passed else 1)


@main.command()
@click.argument("assignment")
@click.argument("submissions", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for the reports.")
@click.option("--jobs", type=int, default=None, help="Submissions graded at once (default: all cores).")
@click.option("--force", is_flag=True, help="Grade again students already finished in OUT.")
@click.option(
    "--shard",
    "shard_spec",
    metavar="K/N",
    help="Only shard K of N (1 <= K <= N): the students whose folder name hashes to K, for one task of a cluster "
    "job; then `course merge` the N outputs.",
)
def grade(assignment, submissions, out, jobs, force, shard_spec):
    """Grade a class: every sub-folder of SUBMISSIONS is one student (public + hidden suites).

    Writes per student OUT/students/<name>/ results.json (Gradescope), result.json and
    feedback.txt; for the class OUT/grades.csv, failures.csv, histogram.png, report.html (the class
    at a glance) and class.json (what OUT holds, for `course merge`). An interrupted run resumes where it stopped; one run at a
    time writes to OUT.
    """
    from grader.batch import finished, student_dir, students
    from grader.batch import grade as run_grade
    from grader.manifest import Shard
    from grader.progress import progress
    from grader.results import printable

    shard = Shard.parse(shard_spec) if shard_spec is not None else None
    course = course_obj()
    course.built(assignment)  # an unknown or planned id: one line, before any progress is shown
    everyone = students(submissions)
    picked = shard.pick(everyone) if shard is not None else everyone
    todo = [s for s in picked if force or not finished(student_dir(out, s.name))]  # a rerun skips the finished
    label = f"grading {assignment}" + (f" shard {shard}" if shard is not None else "")
    with progress(len(todo), label, "students") as shown:

        def graded(name: str, result) -> None:
            if not result.tests:
                shown.fail(f"{printable(name, 200)}: could not be graded: {printable('; '.join(result.notes), 300)}")
            shown.advance()

        summary = run_grade(course, assignment, submissions, out, jobs=jobs, force=force, progress=graded, shard=shard)
    if shard is not None:
        click.echo(f"shard {shard}: {len(picked)} of the {len(everyone)} students")
    click.echo(
        f"graded {len(summary.graded)}, skipped {len(summary.skipped)} already finished, "
        f"in {summary.seconds:.1f} s (isolation: {summary.isolation}); reports in {out}"
    )
    for name, cause in sorted(summary.ungradable.items()):
        click.echo(f"  {printable(name, 200)}: could not be graded: {printable(cause, 300)}")


@main.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for the merged reports.")
def merge(folders, out):
    """Merge the outputs of `course grade --shard K/N` (FOLDERS, one per shard) into OUT, as one
    `course grade` over the whole class writes it: OUT/students/<name>/, grades.csv (the same
    bytes), failures.csv, histogram.png and class.json.

    Refused, with nothing written: a folder that is not an output of `course grade`; folders of
    different assignments, course versions or numbers of shards; a student not finished, or graded
    differently in two folders; an OUT that is one of FOLDERS.

    Exit status: 0 every shard of N merged, 1 merged but some shards are missing (each named on
    stderr; their students are not in OUT), 2 refused.
    """
    from grader.merge import merge as run_merge

    summary = run_merge(course_obj(), list(folders), out)
    for k in summary.missing:
        click.echo(f"course: shard {k}/{summary.of} is missing: no folder holds it, its students are not in {out}", err=True)
    click.echo(
        f"merged {len(summary.students)} students of {summary.assignment} from shards "
        f"{', '.join(map(str, summary.shards))} of {summary.of} into {out}"
    )
    sys.exit(1 if summary.missing else 0)


@main.command()
@click.argument("assignments", nargs=-1, required=True)
@click.option(
    "--seeds",
    type=click.IntRange(1, 50),
    default=1,
    show_default=True,
    help="Draws of seeds: tests marked `seeded` are graded again with N-1 other seeds (for the solution, the correct "
    "variants and the wrong ones that should lose a task with a seeded test).",
)
@click.option("--jobs", type=int, default=None, help="Submissions graded at once (default: all cores).")
@click.option("--json", "as_json", is_flag=True, help="Print the audit as JSON instead of a table.")
@click.option("--extra", is_flag=True, help="Also the variants kept out of the default audit (EXTRA_WRONG, EXTRA_CORRECT).")
def audit(assignments, seeds, jobs, as_json, extra):
    """Instructor: how good are the tests? Grade the solution, the stubs and every variant of each
    ASSIGNMENT (grader/suites/<id>/hidden/variants.py) exactly as `course grade` does.

    Prints, per submission, the tasks it should lose and the tasks it lost; then the catch rate and
    the false failures. Exit status 1 on a false failure, a variant that loses other tasks or whose
    feedback does not name its mistake, a verdict that changes with the seed, too few variants, or a
    catch rate below 95%.
    """
    from grader.audit import audit as run_audit
    from grader.audit import render

    course = course_obj()
    for a in assignments:
        course.built(a)
    reports = [run_audit(course, a, seeds=seeds, jobs=jobs, extra=extra) for a in assignments]
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        click.echo("\n\n".join(render(r) for r in reports))
    sys.exit(0 if all(r.passed for r in reports) else 1)


@main.command()
@click.option("--out", type=click.Path(path_type=Path), help="Write the student distribution here instead.")
@click.option("--check", "check_only", is_flag=True, help="Only check that assignments/ is up to date.")
@click.option("--force", is_flag=True, help="Replace files edited in assignments/ (a copy of each goes to .course/backup/).")
def release(out, check_only, force):
    """Regenerate assignments/ (stubs and handouts) from solutions/.

    A file in assignments/ edited since the last release is not replaced: the release stops and names
    it, unless --force (which keeps a copy of each under .course/backup/). A file it does not generate
    is left alone (one an earlier release generated, and unedited since, is removed).

    With --check, change nothing and exit 1 if assignments/ differs from what would be generated.
    With --out DIR, write the student distribution (no solutions, no hidden suites) and scan it for leaks.
    """
    from grader.release import ReleaseRefused, release_assignments, release_student, write_release

    course = course_obj()
    if out is not None:
        leaks = release_student(course, out)
        for leak in leaks:
            click.echo(f"leak: {leak}", err=True)
        if leaks:
            sys.exit(1)
        click.echo(f"student distribution written to {out}; leak scan clean")
        return
    if check_only:
        changed = release_assignments(course, check=True)
        for path in changed:
            click.echo(f"out of date: {path}", err=True)
        if changed:
            click.echo("run `course release` to regenerate assignments/", err=True)
            sys.exit(1)
        click.echo("assignments/ is up to date with solutions/")
        return
    try:
        done = write_release(course, force=force)
    except ReleaseRefused as exc:
        for line in str(exc).splitlines():
            click.echo(f"course: {line}", err=True)
        sys.exit(2)
    if done.backup is not None:
        click.echo(f"kept a copy of each edited file it replaced in {done.backup.relative_to(course.root)}/")
    for path in done.removed:
        click.echo(f"removed {path} (no longer generated)")
    for path in done.kept:
        click.echo(f"left {path} as it is (not generated)")
    click.echo(f"regenerated {len(done.changed)} file(s)" if done.changed else "assignments/ already up to date")


@main.command()
@click.argument("assignment")
@click.option(
    "--path",
    type=click.Path(path_type=Path),
    help="Folder with your files, or your notebook (.ipynb) (default: assignments/<folder>).",
)
@click.option("--solution", is_flag=True, help="Draw the figures from solutions/ instead.")
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("figures"), show_default=True, help="Folder for the PNG files."
)
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    help="Where your code trains the models the figures draw: cpu, cuda or cuda:N (a GPU, where there is one).",
)
def plot(assignment, path, solution, out, device):
    """Draw an assignment's figures from your code (PNG files in --out).

    Each figure is drawn on its own: one whose code is not written yet or fails is skipped, with
    the reason on one line, and the others are still drawn. Exit status: 0 when every figure was
    drawn, 1 when some were skipped, 2 when none could be drawn (or the command could not run).
    """
    from grader.plots import plot as draw

    figures = draw(course_obj(), assignment, out, path=path, solution=solution, device=device)
    for p in figures.written:
        click.echo(f"wrote {p}")
    for name, why in figures.skipped:
        click.echo(f"skipped {name}: {why}")
    if figures.skipped:
        sys.exit(1 if figures.written else 2)


@main.command()
@click.argument("assignment")
@click.option("--check", "check_only", is_flag=True, help="Exit 1 if the stored snapshot is out of date.")
def snapshot(assignment, check_only):
    """Instructor: store the reference values the public suite of ASSIGNMENT reads (from solutions/)."""
    from grader.snapshot import write_snapshot

    differs = write_snapshot(course_obj(), assignment, check=check_only)
    if check_only and differs:
        click.echo(f"{assignment}: stored snapshot is out of date; run `course snapshot {assignment}`", err=True)
        sys.exit(1)
    click.echo(f"{assignment}: snapshot {'updated' if differs and not check_only else 'up to date'}")


main.add_command(gradescope_command)


@main.group()
def nbgrader():
    """Instructor: run the course inside nbgrader."""


nbgrader.add_command(verify)


@nbgrader.command("init")
@click.argument("directory", type=click.Path(path_type=Path))
def nbgrader_init(directory):
    """Write an nbgrader course in DIRECTORY: nbgrader_config.py and source/<id>/<id>.ipynb for
    every built assignment, made from solutions/ and the handouts (run again after changing them).

    Then, in DIRECTORY: nbgrader generate_assignment ID; collect submitted/<student>/ID/ID.ipynb;
    nbgrader autograde ID; nbgrader export.
    """
    from grader.nbcourse import init_course

    for p in init_course(course_obj(), directory):
        click.echo(f"wrote {p}")


if __name__ == "__main__":
    main()
