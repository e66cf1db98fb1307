"""The rule on libraries an assignment re-implements: which task's code a finding belongs to, and
the autouse check that fails the tests of those tasks.

`grader.assertions.borrowed` reports where a submission uses a banned name ("prune.py line 12 uses
torch.nn.utils.prune.l1_unstructured", "class SGD derives from torch.optim.sgd.SGD", "the submission
loaded torch_optimizer"). `attribute` assigns each finding to the top-level functions and classes of
the tasks whose code refers to it, through helpers; a finding no single task's code explains (a use in
module-level code, a loaded package with no use in the source) costs every task. Code under
`if __name__ == "__main__":` never runs when graded and is not counted."""

from __future__ import annotations

import ast
import weakref
from dataclasses import dataclass

from grader.assertions import BORROWED_LINES, borrowed

EVERYTHING = "*"  # a finding that no single task's code explains


@dataclass(frozen=True)
class Rule:
    """What an assignment may not use: `banned` dotted names (minus those under `allowed`) and
    `methods` called on anything, the tasks of the student's top-level names (`task_of`), and the
    sentence the feedback quotes."""

    banned: tuple[str, ...]
    allowed: tuple[str, ...]
    task_of: dict[str, str]
    text: str
    methods: tuple[str, ...] = ()  # names whose call on anything is banned too (a tensor's .softmax())


def _names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _bound_by(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            out.add(n.id)
    return out


def _is_main_block(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If):
        return False
    t = node.test
    return (
        isinstance(t, ast.Compare)
        and isinstance(t.left, ast.Name)
        and t.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in t.comparators)
    )


def _line_finding(f: str) -> bool:
    words = f.split()
    return " line " in f and len(words) >= 5 and words[2].isdigit()


def attribute(
    source: str, findings: list[str], task_of: dict[str, str], packages: set[str] | None = None
) -> dict[str, list[str]]:
    """{symbol of task_of, or EVERYTHING: [findings]}: which task's code each finding of `borrowed`
    in one module ("m.py line N uses X", "class C derives from X", "the submission loaded X") belongs
    to. `packages`: the top-level packages used in any module's source (a loaded package that one of
    them explains is judged by that use); by default those of these findings."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return {EVERYTHING: list(findings)} if findings else {}
    body = list(tree.body)
    defs = {
        n.name: _names_in(n) - {n.name} for n in body if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
    }  # top-level name -> names it refers to

    def users(names: set[str]) -> set[str]:
        """The task symbols among `names`, and those whose code refers to one of them, through helpers."""
        seen, todo = set(names), list(names)
        while todo:
            name = todo.pop()
            for other, used in defs.items():
                if name in used and other not in seen:
                    seen.add(other)
                    todo.append(other)
        return seen & set(task_of)

    out: dict[str, list[str]] = {}
    capped = sum(" line " in f for f in findings) >= BORROWED_LINES  # `borrowed` names at most this many lines
    if packages is None:
        packages = {f.split()[-1].split(".")[0] for f in findings if _line_finding(f)}
    for f in findings:
        words = f.split()
        symbols: set[str] = set()
        if _line_finding(f):
            line = int(words[2])
            node = next((n for n in body if n.lineno <= line <= (n.end_lineno or n.lineno)), None)
            if node is None or _is_main_block(node):
                continue
            if words[3] == "imports" and not words[4].endswith(".*"):
                if not capped:
                    continue  # an import is judged by its uses, which are findings of their own
                symbols = users(_bound_by(node))  # unless the list of uses was cut short: then by who uses it
            else:
                symbols = users(_bound_by(node)) or {EVERYTHING}
        elif f.startswith("class ") and " derives from " in f:
            symbols = users({f.split()[1]}) or {EVERYTHING}
        elif f.startswith("the submission loaded "):
            if words[-1].split(".")[0] in packages:
                continue  # explained by a use in the source
            symbols = {EVERYTHING}
        else:
            symbols = {EVERYTHING}
        for sym in symbols:
            out.setdefault(sym, []).append(f)
    return out


def findings_by_symbol(submission, rule: Rule) -> dict[str, list[str]]:
    """Every finding of `borrowed` on the submission, by the task symbol (or EVERYTHING) it costs."""
    report = borrowed(submission, rule.banned, rule.allowed, rule.methods)
    loaded = report.pop("", [])
    packages = {f.split()[-1].split(".")[0] for fs in report.values() for f in fs if _line_finding(f)}
    out: dict[str, list[str]] = {}
    for module in sorted(set(report) | set(getattr(submission.worker, "modules", ()))):
        findings = report.get(module, []) + loaded
        if not findings:
            continue
        try:
            source = (submission.path / f"{module}.py").read_text(encoding="utf-8", errors="replace")[:2_000_000]
        except OSError:
            source = ""
        for sym, fs in attribute(source, findings, rule.task_of, packages).items():
            for f in fs:
                if f not in out.setdefault(sym, []):
                    out[sym].append(f)
    return out


_FOUND: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # submission -> its findings


def enforce(request, submission, rule: Rule) -> None:
    """Fail the running test if its task's code uses what `rule` forbids. A test marked
    `uses(*names)` is judged by those names' code instead of its task's (an experiment that runs the
    student's optimizer). The findings are computed once per submission, on first use, after the
    first test began, so the worker runs under its limits."""
    if getattr(submission, "worker", None) is None:  # not a graded worker (the project's own in-process tests)
        return
    if submission not in _FOUND:
        _FOUND[submission] = findings_by_symbol(submission, rule)
    found = _FOUND[submission]
    if not found:
        return
    marker = request.node.get_closest_marker("uses")
    task = request.node.get_closest_marker("task").args[0]
    needs = set(marker.args) if marker else {s for s, t in rule.task_of.items() if t == task}
    hits = [f for sym in sorted(needs) + [EVERYTHING] for f in found.get(sym, [])]
    if hits:
        raise AssertionError(f"{hits[0]}: {rule.text}.")
