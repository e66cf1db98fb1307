"""`course gradescope ID --out autograder.zip`: one assignment as a Gradescope autograder.

Gradescope builds an image from the zip (its setup.sh, run as root, with the zip unpacked in
/autograder/source), then, for every submission, runs /autograder/run_autograder with the
student's files in /autograder/submission and reads /autograder/results/results.json (Gradescope's
"autograder specifications"). `build()` writes the zip:

    setup.sh, run_autograder     from grader/templates/gradescope/, with the assignment filled in
    course.yaml, pyproject.toml  the syllabus, and the package set-up that installs the course
    grader/                      the package, of the suites and drivers only this assignment's
                                 (its hidden tests included, its `course audit` variants left out)
    datasets/                    only the files its suites load (`needed_data`)
    solutions/<folder>/          only the files its hidden suite reads (`needed_solutions`): hw1 none

`run()` is what run_autograder calls (`python -m grader.gradescope run ID --root /autograder`):
it finds the work in what the student uploaded (`find_work`: files or a notebook, at the top, in a
folder, or in one zip), grades it with the public and hidden suites as `course grade` does, and
writes results.json last, after every worker has ended, replacing whatever is there. Bad input
(no submission folder, none of the assignment's files, a corrupt notebook or zip) is one line on
stderr, exit status 2, and a results.json with score 0 that tells the student why.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import traceback
import zipfile
from pathlib import Path

import click

from grader import paths, sandbox
from grader.command import CourseGroup
from grader.config import Assignment, Course, load_course
from grader.errors import CourseError
from grader.notebook import notebook_in
from grader.report import HIDDEN_VISIBILITIES, SHOWN, gradescope, table
from grader.results import printable, write_json

ROOT_ENV = "COURSE_AUTOGRADER_ROOT"  # run_autograder's and setup.sh's setting for the root
DEFAULT_ROOT = Path("/autograder")
TEMPLATES = Path(__file__).resolve().parent / "templates" / "gradescope"
SCRIPTS = ("setup.sh", "run_autograder")

# grader.data's loaders, and the data set (a folder of datasets/) each reads
LOADERS = {
    "load_text": "shakespeare",
    "load_digits": "digits",
    "digit_features": "digits",
    "load_mnist": "mnist5k",
    "mnist_features": "mnist5k",
    "mnist_tensors": "mnist5k",
    "mnist_split": "mnist5k",
}
LOADER_CALL = re.compile(r"\b(" + "|".join(LOADERS) + r")\(\s*(?:\"(\w+)\"\s*[,)])?")
SHAKESPEARE_SPLITS = ("train", "more_plays")  # the rest are held-out plays, in heldout/

MAX_UNZIPPED = 256 * 2**20  # what a student's zip may unpack to, in bytes
MAX_MEMBERS = 2000


# -- the zip ------------------------------------------------------------------------------------


def suite_sources(a: Assignment) -> list[str]:
    """The text of every Python file the assignment's grading runs: its suites (public, hidden and
    shared; not the `course audit` variants) and its drivers."""
    files = [p for p in paths.suite_dir(a).rglob("*.py") if not p.name.startswith("variants")]
    drivers = paths.drivers_file(a)
    files += sorted(drivers.glob("*.py")) if drivers.is_dir() else [drivers] if drivers.is_file() else []
    return [p.read_text(encoding="utf-8") for p in sorted(files)]


def needed_data(sources: list[str]) -> set[str]:
    """The files under datasets/ that grading reads, from the grader.data loaders the suites call:
    a data set whole (its checksums and held-out part included), but of the Shakespeare corpus only
    the splits named in `load_text("...")` calls (all of them where one call names none)."""
    calls = [m.groups() for text in sources for m in LOADER_CALL.finditer(text)]
    files = set()
    for loader, split in calls:
        folder = LOADERS[loader]
        if folder != "shakespeare":
            files.add(f"{folder}/")
        elif split is None:
            files.add("shakespeare/")
        else:
            where = "shakespeare" if split in SHAKESPEARE_SPLITS else "shakespeare/heldout"
            files |= {f"{where}/{split}.txt", f"{where}/SHA256SUMS", "shakespeare/README.md"}
    return files


def needed_solutions(a: Assignment, sources: list[str]) -> set[str]:
    """The files of solutions/<folder>/ that grading reads: the solution modules where a suite loads
    them (`paths.solution_module`), and each file a suite opens by its path there (the capstone's
    reference model)."""
    files = {f"{m}.py" for m in a.modules} if any("solution_module(" in text for text in sources) else set()
    by_path = re.compile(r"[\"']solutions[\"']\s*/\s*[\"']" + re.escape(a.folder) + r"[\"']\s*/\s*[\"']([^\"']+)[\"']")
    return files | {name for text in sources for name in by_path.findall(text)}


def package_files(a: Assignment) -> dict[str, Path]:
    """grader/ as it grades `a`: every file but caches, other assignments' suites and drivers, and
    `a`'s variants (what `course audit` grades, not students)."""
    top = paths.grader_dir(a)
    others = {b for b in os.listdir(top / "suites") if (top / "suites" / b).is_dir()} - {a.id}
    skip_drivers = {p.stem for p in (top / "worker" / "drivers").iterdir() if p.stem not in (a.id, "__init__")}
    out = {}
    for path in sorted(top.rglob("*")):
        rel = path.relative_to(top)
        parts = rel.parts
        if not path.is_file() or "__pycache__" in parts or path.suffix == ".pyc" or any(p.endswith(".egg-info") for p in parts):
            continue
        if parts[0] == "suites" and len(parts) > 2 and (parts[1] in others or parts[-1].startswith("variants")):
            continue
        if parts[:2] == ("worker", "drivers") and len(parts) > 2 and Path(parts[2]).stem in skip_drivers:
            continue
        out[f"grader/{rel.as_posix()}"] = path
    return out


def contents(course: Course, a: Assignment, hidden: str) -> dict[str, bytes | Path]:
    """Every file of the zip, by its name there."""
    sources = suite_sources(a)
    files: dict[str, bytes | Path] = {name: render(name, a, hidden) for name in SCRIPTS}
    files["course.yaml"] = course.root / "course.yaml"
    project = course.root / "pyproject.toml"
    files["pyproject.toml"] = project if project.is_file() else paths.PACKAGE.parent / "pyproject.toml"
    files["README.md"] = (
        f"# {course.title}: the {a.id} autograder\n\nWritten by `course gradescope {a.id}` for Gradescope; "
        "setup.sh and run_autograder say what they do.\n"
    ).encode()
    files.update(package_files(a))
    data = course.root / "datasets"
    for want in sorted(needed_data(sources)):
        whole = want.endswith("/")  # a data set but its build script, else one file
        found = [p for p in (data / want).rglob("*") if p.is_file() and p.name != "build.py"] if whole else [data / want]
        files.update({f"datasets/{p.relative_to(data).as_posix()}": p for p in found})
    for name in sorted(needed_solutions(a, sources)):
        files[f"solutions/{a.folder}/{name}"] = course.root / "solutions" / a.folder / name
    for name, src in files.items():
        if isinstance(src, Path) and not src.is_file():
            raise CourseError(f"{src}: missing; the {a.id} autograder needs it as {name}")
    return files


def render(name: str, a: Assignment, hidden: str) -> bytes:
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    return text.replace("{{assignment}}", a.id).replace("{{hidden}}", hidden).replace("{{when}}", SHOWN[hidden]).encode()


def build(course: Course, assignment_id: str, out: Path, hidden: str = HIDDEN_VISIBILITIES[0]) -> dict[str, bytes | Path]:
    """Write the autograder zip of one assignment to `out` (atomically); return what it holds."""
    a = course.built(assignment_id)
    if not paths.suite_dir(a, "hidden").is_dir():
        raise CourseError(f"{a.id}: the hidden suite is not here; the autograder needs the instructor's copy of the course")
    files = contents(course, a, hidden)
    out = Path(out)
    if out.is_dir():
        raise CourseError(f"{out}: is a folder; give the zip file's name, such as {out / 'autograder.zip'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    except OSError as exc:
        raise CourseError(f"{out}: cannot be written ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
            for name, src in sorted(files.items()):
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # the same zip from the same files
                info.external_attr = (stat.S_IFREG | (0o755 if name in SCRIPTS else 0o644)) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, src.read_bytes() if isinstance(src, Path) else src)
        os.replace(tmp, out)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise CourseError(f"{out}: cannot be written ({exc.strerror or exc})") from None
    return files


@click.command("gradescope")
@click.argument("assignment")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The zip file to write, such as autograder.zip.")
@click.option(
    "--hidden-visibility",
    type=click.Choice(HIDDEN_VISIBILITIES),
    default=HIDDEN_VISIBILITIES[0],
    show_default=True,
    help="When students see the hidden tests (names, points, feedback) and their total.",
)
def command(assignment, out, hidden_visibility):
    """Instructor: write ASSIGNMENT's Gradescope autograder, a zip to upload on the assignment's
    Configure Autograder page.

    It holds setup.sh and run_autograder, the course package with this assignment's public and
    hidden tests (no other assignment's, no solutions unless its hidden tests read them) and the
    data its tests load. Students see the public tests at once; the hidden tests, and the total,
    after the due date (or, with --hidden-visibility after_published, when the grades are published).
    """
    files = build(load_course(), assignment, out, hidden_visibility)
    size = out.stat().st_size / 2**20
    click.echo(f"wrote {out}: the {assignment} autograder, {len(files)} files, {size:.1f} MB")


# -- grading one submission on Gradescope ------------------------------------------------------


def find_work(upload: Path, a: Assignment, scratch: Path) -> Path:
    """The folder to grade (of the assignment's modules, or holding its notebook) in what the student
    uploaded: the upload itself, its `<folder>/` or `assignments/<folder>/` (a copy of the course),
    or its only sub-folder; else the same places inside the one zip it holds, unpacked in `scratch`."""
    if not upload.is_dir() or upload.is_symlink():
        raise CourseError(f"{upload}: no such folder (Gradescope puts the student's files there)")
    found = search(upload, a)
    if found is not None:
        return found
    zips = [p for p in sorted(upload.iterdir()) if p.suffix.lower() == ".zip" and p.is_file() and not p.is_symlink()]
    if len(zips) == 1:
        found = search(unzip(zips[0], scratch), a)
        if found is not None:
            return found
    files = ", ".join(f"{m}.py" for m in a.modules)
    where = f" (nor does {zips[0].name})" if len(zips) == 1 else ""
    raise CourseError(
        f"the submission holds none of {a.id}'s files ({files}) and no notebook ({a.id}.ipynb){where}; "
        "upload them named as the handout names them"
    )


def search(folder: Path, a: Assignment) -> Path | None:
    subfolders = [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith((".", "__"))]
    places = [folder, folder / a.folder, folder / "assignments" / a.folder] + (subfolders if len(subfolders) == 1 else [])
    for place in places:
        if not place.is_dir() or place.is_symlink():
            continue
        modules = any(os.path.lexists(place / f"{m}.py") for m in a.modules)
        if modules or notebook_in(place, a.id, place / a.folder / f"{a.id}.ipynb") is not None:
            return place
    return None


def unzip(path: Path, into: Path) -> Path:
    """Unpack a student's zip into `into` (regular files only; zipfile keeps every name inside)."""
    into.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(path) as z:
            members = [m for m in z.infolist() if not m.is_dir() and not stat.S_ISLNK(m.external_attr >> 16)]
            if len(members) > MAX_MEMBERS or sum(m.file_size for m in members) > MAX_UNZIPPED:
                raise CourseError(f"{path.name}: unpacks to more than {MAX_MEMBERS} files or {MAX_UNZIPPED >> 20} MB")
            for m in members:
                z.extract(m, into)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, NotImplementedError, ValueError, OSError) as exc:
        raise CourseError(f"{path.name}: not a zip archive that can be unpacked ({exc})") from None
    return into


def working_isolation() -> tuple[str, str]:
    """("bwrap", "") where bubblewrap runs a worker here, else ("limits", why not). Gradescope's
    containers may have bwrap installed yet refuse the namespaces it needs."""
    if sandbox.bwrap_path() is None:
        return "limits", "bubblewrap is not installed"
    with tempfile.TemporaryDirectory(prefix="course-probe-") as tmp:
        work, sub = Path(tmp, "tmp"), Path(tmp, "submission")
        work.mkdir()
        sub.mkdir()
        argv = sandbox.bwrap_prefix(work, sub) + ["--", sys.executable, "-I", "-c", "pass"]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return "limits", f"bubblewrap did not start ({exc})"
    if proc.returncode != 0:
        said = proc.stderr.strip().splitlines()
        return "limits", f"bubblewrap cannot run here ({said[-1] if said else f'exit status {proc.returncode}'})"
    return "bwrap", ""


def put_results(path: Path, data: dict) -> None:
    """results.json, replacing whatever is there (a file, a link or a folder a submission made)."""
    try:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
        write_json(path, data)
    except OSError as exc:
        raise CourseError(f"{path}: cannot be written ({exc.strerror or exc})") from None


def not_graded(cause: str) -> dict:
    return {"score": 0.0, "execution_time": 0, "output": f"Not graded: {printable(cause, 1000)}", "tests": []}


def run(root: Path, assignment_id: str, hidden: str = HIDDEN_VISIBILITIES[0], isolation: str | None = None) -> int:
    """Grade ROOT/submission (public and hidden suites), write ROOT/results/results.json; the exit
    status: 0 graded, 2 not (the cause on stderr, and in results.json where ROOT/results exists)."""
    # Everything grading needs is imported before the submission's code runs (it may write files).
    from grader import remote
    from grader.runner import run_assignment

    results = root / "results"
    out = results / "results.json"
    try:
        if not results.is_dir():
            raise CourseError(f"{results}: no such folder (Gradescope makes it; make it to run the autograder elsewhere)")
        put_results(out, not_graded("the autograder stopped before it finished"))  # never the submission's own
        course = load_course(root / "source")
        a = course.built(assignment_id)
        if isolation is None:
            isolation, why = working_isolation()
            if why:
                print(f"isolation: limits, since {why}")
        with tempfile.TemporaryDirectory(prefix="course-upload-") as scratch:
            work = find_work(root / "submission", a, Path(scratch))
            result = run_assignment(course, a.id, work, ("public", "hidden"), isolation=isolation)
        remote.stop_parents()  # no process that ran student code outlives the grading
        print(table(result, a))
        put_results(out, gradescope(result, a, hidden))
        return 0
    except CourseError as exc:
        cause, status = str(exc), 2
    except Exception:  # the autograder's own fault: the traceback goes to the instructor's log
        traceback.print_exc()
        cause, status = "the autograder failed; your course staff can see why in its log", 1
    click.echo(f"course: {cause}", err=True)
    if results.is_dir():
        try:
            put_results(out, not_graded(cause))
        except CourseError:
            pass  # nowhere to tell the student: the line above tells the instructor
    return status


@click.command("run")
@click.argument("assignment")
@click.option(
    "--root",
    type=click.Path(path_type=Path),
    default=lambda: os.environ.get(ROOT_ENV, str(DEFAULT_ROOT)),
    show_default=f"${ROOT_ENV} or {DEFAULT_ROOT}",
    help="The autograder's folder: source/, submission/, results/.",
)
@click.option("--hidden-visibility", type=click.Choice(HIDDEN_VISIBILITIES), default=HIDDEN_VISIBILITIES[0], show_default=True)
@click.option("--isolation", type=click.Choice(["bwrap", "limits"]), help="Force one (default: bubblewrap where it runs here).")
def run_command(assignment, root, hidden_visibility, isolation):
    """Gradescope's run_autograder: grade ROOT/submission, write ROOT/results/results.json."""
    root = Path(root).absolute()
    os.environ["COURSE_ROOT"] = str(root / "source")  # where grader.data and the sandbox find the course
    sys.exit(run(root, assignment, hidden_visibility, isolation))


def main(argv: list[str] | None = None) -> None:
    """`python -m grader.gradescope run ID` (what run_autograder calls) and `... build ID --out ZIP`."""
    group = CourseGroup("python -m grader.gradescope", commands={"build": command, "run": run_command})
    group.main(argv, prog_name="python -m grader.gradescope")


if __name__ == "__main__":
    main()
