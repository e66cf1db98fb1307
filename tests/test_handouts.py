"""Every built assignment's handout stands alone: each public name a grader calls appears in it as
code, each function and class it names there has its exact signature (arguments and defaults), and
it ends with a "Submitting and time limits" section whose limits are course.yaml's.

Read from the sources (ast) only: no suite is imported and nothing of the checkout is written."""

from __future__ import annotations

import ast
import re
from types import SimpleNamespace

import pytest

from grader import paths
from tests.conftest import BUILT, ROOT

SECTION = "## Submitting and time limits"


def handout(assignment) -> str:
    return (ROOT / "solutions" / assignment.folder / "README.md").read_text(encoding="utf-8")


def section(text: str) -> str:
    """The "Submitting and time limits" section: from its heading to the next one of its level."""
    assert SECTION in text, f"no '{SECTION}' section"
    return re.split(r"^## ", text.split(SECTION, 1)[1], flags=re.M)[0]


def signature(node: ast.FunctionDef, drop_self: bool) -> tuple[tuple[str, ...], dict[str, object]]:
    """(argument names, {name: default}) of a def, without `self` where `drop_self`."""
    args = [a.arg for a in node.args.posonlyargs + node.args.args]
    defaults = dict(zip(args[len(args) - len(node.args.defaults) :], map(ast.literal_eval, node.args.defaults)))
    args += [a.arg for a in node.args.kwonlyargs]
    defaults |= {a.arg: ast.literal_eval(d) for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults) if d is not None}
    if drop_self:
        args = args[1:]
    return tuple(args), defaults


def public_api(folder: str) -> dict[str, tuple[str, tuple | None]]:
    """The public functions and classes of solutions/<folder>/*.py, and the public methods of those
    classes: {name: (where it is defined, its signature or None for a method)}; a class's signature
    is its __init__'s without `self` (None when it inherits its constructor)."""
    api: dict[str, tuple[str, tuple | None]] = {}
    for path in sorted((ROOT / "solutions" / folder).glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) or node.name.startswith("_"):
                continue
            if isinstance(node, ast.FunctionDef):
                api[node.name] = (path.name, signature(node, drop_self=False))
                continue
            init = next((f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"), None)
            api[node.name] = (path.name, None if init is None else signature(init, drop_self=True))
            for f in node.body:
                if isinstance(f, ast.FunctionDef) and not f.name.startswith("_"):
                    api.setdefault(f.name, (f"{path.name}, {node.name}", None))
    return api


def reached(assignment) -> set[str]:
    """Every name the graders use as an attribute (`module.entropy`, `pid.reset()`) or as a string
    of its own ("step" in `pending_call(optimizer, "step")`), in the suites and the drivers."""
    sources = [p.read_text(encoding="utf-8") for p in sorted(paths.suite_dir(assignment).rglob("*.py"))]
    sources.append(paths.drivers_source(assignment))
    names: set[str] = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
                names.add(node.value)
    return names


def graded_api(assignment) -> dict[str, tuple[str, tuple | None]]:
    api, names = public_api(assignment.folder), reached(assignment)
    return {name: what for name, what in api.items() if name in names}


def as_code(name: str, text: str) -> bool:
    """`name` (or `Class.name`) in backticks, or name( anywhere: a call or a signature."""
    return re.search(rf"`(?:\w+\.)?{re.escape(name)}`|(?<![\w]){re.escape(name)}\(", text) is not None


def stated_signatures(name: str, text: str):
    """Each `name(...)` in the text that reads as a Python signature, as (argument names, defaults)."""
    for match in re.finditer(rf"(?<![\w.]){re.escape(name)}\(", text):
        depth, start = 1, match.end()
        for end in range(start, min(len(text), start + 400)):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            if depth == 0:
                break
        else:
            continue
        try:
            node = ast.parse(f"def f({text[start:end]}): pass").body[0]
            assert isinstance(node, ast.FunctionDef)
            yield signature(node, drop_self=False)
        except (SyntaxError, ValueError):
            continue


@pytest.fixture(params=BUILT)
def assignment(request, course):
    return course.built(request.param)


def test_the_graders_reach_the_public_api(assignment):
    """The collection is not empty: each built assignment's graders call some of its solution's names."""
    assert graded_api(assignment), f"{assignment.id}: no public name of solutions/{assignment.folder} is reached by a grader"


def test_every_name_a_grader_calls_is_in_the_handout(assignment):
    """Does the handout show, as code, every public function, class and method that a grader calls?"""
    text = handout(assignment)
    missing = [f"{name} ({where})" for name, (where, _) in graded_api(assignment).items() if not as_code(name, text)]
    assert not missing, f"solutions/{assignment.folder}/README.md does not name: {', '.join(missing)}"


def test_every_graded_function_and_class_has_its_signature_in_the_handout(assignment):
    """Does the handout state, for every graded function and class, its arguments with their defaults?"""
    text = handout(assignment)
    wrong = []
    for name, (where, sig) in graded_api(assignment).items():
        if sig is not None and sig not in list(stated_signatures(name, text)):
            args, defaults = sig
            wrong.append(f"{name}({', '.join(f'{a}={defaults[a]!r}' if a in defaults else a for a in args)}) ({where})")
    assert not wrong, f"solutions/{assignment.folder}/README.md does not state the signature {'; '.join(wrong)}"


def test_every_call_the_handout_writes_uses_the_solution_arguments(assignment):
    """Does each `name(...)` the handout writes for a function or class of the solution name only its
    arguments (no `self` on a module function, no argument the code does not take)?"""
    text, wrong = handout(assignment), []
    for name, (where, sig) in public_api(assignment.folder).items():
        if sig is None:
            continue
        for stated, _ in stated_signatures(name, text):
            if any(a not in sig[0] for a in stated):
                wrong.append(f"{name}({', '.join(stated)}), but {where} has {name}({', '.join(sig[0])})")
    assert not wrong, f"solutions/{assignment.folder}/README.md writes {'; '.join(wrong)}"


def test_the_handout_ends_with_submitting_and_time_limits(assignment):
    """Is "Submitting and time limits" the last section, naming `course check ID` and the hidden tests?"""
    text = handout(assignment)
    headings = re.findall(r"^## .*$", text, flags=re.M)
    assert headings and headings[-1] == SECTION, f"{assignment.id}: the last section is {headings[-1:]}, not '{SECTION}'"
    body = section(text)
    assert f"course check {assignment.id}" in body, f"{assignment.id}: the section does not say how to check"
    assert "hidden" in body, f"{assignment.id}: the section does not say that hidden tests run at grading"
    for module in assignment.modules:
        assert f"`{module}.py`" in body, f"{assignment.id}: the section does not name the graded file {module}.py"


def numbers(pattern: str, text: str) -> list[float]:
    return [float(m.replace(",", "")) for m in re.findall(pattern, text)]


def test_the_limits_in_the_handout_are_course_yaml(assignment):
    """Are the seconds per test, the CPU seconds and the memory the section states course.yaml's?"""
    body, limits = section(handout(assignment)), assignment.limits
    for what, pattern, value in [
        ("wall_s", r"Every test has ([\d,.]+) seconds", limits.wall_s),
        ("cpu_s", r"([\d,.]+) seconds of CPU", limits.cpu_s),
        ("memory_mb", r"([\d,.]+) MB of memory", limits.memory_mb),
    ]:
        stated = numbers(pattern, body)
        assert stated, f"{assignment.id}: the section does not state {what} ({pattern!r})"
        assert set(stated) == {value}, f"{assignment.id}: the section states {what} = {stated}, course.yaml {value:g}"


# ---- the checks themselves, on made-up handouts -------------------------------------------------


def test_as_code_needs_backticks_or_a_call():
    assert as_code("entropy", "write `entropy` first")
    assert as_code("update", "call `PID.update` each step")
    assert as_code("entropy", "    H = entropy(p, base=2.0)")
    assert not as_code("entropy", "the entropy of English")
    assert not as_code("step", "one step of dt per sample")


def test_a_signature_needs_every_argument_and_default():
    text = "`entropy(p, base=2.0)` and later entropy(p) and entropy(−p)"
    assert list(stated_signatures("entropy", text)) == [(("p", "base"), {"base": 2.0}), (("p",), {})]


def test_reached_names_are_attributes_or_whole_strings(tmp_path):
    suites = tmp_path / "grader" / "suites"
    (suites / "x" / "public").mkdir(parents=True)
    (tmp_path / "grader" / "worker" / "drivers" / "x").mkdir(parents=True)
    (suites / "x" / "public" / "test_a.py").write_text('m.entropy([1])\ncall(o, "step")\nold = "x = helper(p)"\n')
    (tmp_path / "grader" / "worker" / "drivers" / "x" / "10_part.py").write_text("reader.take(4)\n")
    x = SimpleNamespace(id="x", grader=tmp_path / "grader")
    assert {"entropy", "step", "take"} <= reached(x)
    assert "helper" not in reached(x)
