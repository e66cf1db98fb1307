"""Fixtures for the hw3 suites, and the rule on libraries: optimizers.py may not use torch.optim's
optimizers (SGD, Adam, AdamW, their functional rules, the schedulers), other optimizer packages
(torch_optimizer, ...) or torch's clipping; torch.optim.Optimizer as the base class is allowed.

Where a submission does (`grader.assertions.borrowed`: its source read here, and the worker's report
of what it loaded and what its classes derive from), every test of the task whose class or function
does it fails, and so does every experiment of task 3.5 that runs that class: the feedback names the
line and the rule. A use outside the task's class or function (a helper, module-level code) costs
the tasks whose code refers to it, or every task when none does; code under
`if __name__ == "__main__":` never runs when graded and is not counted."""

from __future__ import annotations

import ast

import pytest
import torch

from grader.assertions import BORROWED_LINES, borrowed
from grader.data import digit_features
from grader.suites.hw3.loops import Student, train_digits

BANNED = (
    "torch.optim",
    "torch_optimizer",
    "timm.optim",
    "apex.optimizers",
    "transformers.optimization",
    "bitsandbytes.optim",
    "pytorch_lamb",
    "lion_pytorch",
    "deepspeed.ops",
    "fairscale.optim",
    "torch.nn.utils.clip_grad",
    "torch.nn.utils.clip_grad_norm_",
    "torch.nn.utils.clip_grad_norm",
    "torch.nn.utils.clip_grad_value_",
    "torch.nn.utils.clip_grads_with_norm_",
    "torch.nn.utils.get_total_norm",
)
ALLOWED = ("torch.optim.Optimizer", "torch.optim.optimizer")
TASK_OF = {"SGD": "3.1", "Adam": "3.2", "AdamW": "3.2", "LAMB": "3.3", "clip_grad_norm": "3.4", "warmup_cosine": "3.4"}
EVERYTHING = "*"  # a finding that no single task's code explains
SOURCE_CAP = BORROWED_LINES  # grader.assertions.borrowed reports at most this many source lines per module
RULE = (
    "torch.optim's optimizers (SGD, Adam, AdamW, ...), their functional update rules, other optimizer "
    "libraries (torch_optimizer, ...) and torch's gradient clipping may not be used in optimizers.py "
    "(torch.optim.Optimizer as the base class is allowed): write the update yourself"
)


def pytest_configure(config):
    config.addinivalue_line("markers", "uses(*names): the classes or functions of optimizers.py a test runs")


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """The grading side's reference runs are tiny: with more than one intra-op thread, a busy
    machine makes each operation hundreds of times slower (threads waiting for each other)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


RUNS = 3  # task 3.5's large-batch LAMB runs, seeds s, s + 1, s + 2


@pytest.fixture(scope="session")
def lamb_runs(submission, digits, seed_of):
    """Task 3.5's three LAMB runs at batch 1024 (lr 0.032, weight decay 0.01, 80 epochs), trained
    once per submission when a test first calls `lamb_runs()`, inside that test's time limit:
    (the first seed, the three trained models). The validation test and the hidden test-split
    test judge the same runs, as a paper reports one model's validation and test accuracy."""
    done: dict = {}

    def runs() -> tuple[int, list]:
        if not done:
            seed = seed_of("task 3.5: LAMB at batch 1024")
            x, labels, split = digits
            side = Student(submission, "LAMB", {"lr": 0.032, "weight_decay": 0.01})
            models = [train_digits(side, x[split == 0], labels[split == 0], 1024, 80, s)[0] for s in range(seed, seed + RUNS)]
            done["runs"] = seed, models
        return done["runs"]

    return runs


@pytest.fixture
def opt_mod(submission):
    return submission.module("optimizers")


@pytest.fixture(scope="session")
def digits():
    return digit_features()


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


def attribute(source: str, findings: list[str]) -> dict[str, list[str]]:
    """{symbol of TASK_OF, or EVERYTHING: [findings]}: which task's code each finding of
    `borrowed` ("optimizers.py line N uses X", "class C derives from X", "the submission loaded X")
    belongs to."""
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
        return seen & set(TASK_OF)

    out: dict[str, list[str]] = {}
    capped = sum(" line " in f for f in findings) >= SOURCE_CAP  # `borrowed` names at most this many lines
    packages = set()
    for f in findings:
        words = f.split()
        if " line " in f and len(words) >= 5 and words[2].isdigit():
            packages.add(words[-1].split(".")[0])
    for f in findings:
        words = f.split()
        symbols: set[str] = set()
        if " line " in f and len(words) >= 5 and words[2].isdigit():
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


@pytest.fixture(scope="session")
def _borrowed_by_symbol(submission) -> dict:
    """Computed on first use (after the first test began, so the worker runs under its limits)."""
    return {}


@pytest.fixture(autouse=True)
def no_borrowed_optimizers(request, submission, _borrowed_by_symbol, _course_test):
    """Fail a test whose task's code (or, in task 3.5, whose optimizer) uses what the rule forbids."""
    if getattr(submission, "worker", None) is None:  # not a graded worker (the project's own in-process tests)
        yield
        return
    if "found" not in _borrowed_by_symbol:
        report = borrowed(submission, BANNED, ALLOWED)
        findings = report.get("optimizers", []) + report.get("", [])
        try:
            source = (submission.path / "optimizers.py").read_text(encoding="utf-8", errors="replace")[:2_000_000]
        except OSError:
            source = ""
        _borrowed_by_symbol["found"] = attribute(source, findings)
    found = _borrowed_by_symbol["found"]
    if found:
        marker = request.node.get_closest_marker("uses")
        task = request.node.get_closest_marker("task").args[0]
        needs = set(marker.args) if marker else {s for s, t in TASK_OF.items() if t == task}
        hits = [f for sym in sorted(needs) + [EVERYTHING] for f in found.get(sym, [])]
        if hits:
            raise AssertionError(f"{hits[0]}: {RULE}.")
    yield
