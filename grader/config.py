"""course.yaml parsed into typed objects, with errors that name the key and the line.

The syllabus is data: `load_course()` reads it once into frozen dataclasses and refuses anything it
does not understand (an unknown key, a wrong type, a duplicate task id) with a `ConfigError` whose
message reads `course.yaml:12: assignments[0].tasks[1].points: expected an integer, got 'ten'`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import yaml

from grader.errors import ConfigError, CourseError
from grader.worker.contract import Limits
from grader.worker.protocol import MAX_MESSAGE

PILLARS = ("information", "control", "optimization", "compression", "perception", "all five")
STATUSES = ("built", "planned")
ARTIFACT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
TASK_ID = re.compile(r"^\d+\.\d+$")
REPLY_MB_MAX = MAX_MESSAGE >> 20  # MB: the largest frame the wire carries at all


@dataclass(frozen=True)
class Task:
    id: str  # "N.M"
    title: str
    points: float


@dataclass(frozen=True)
class Assignment:
    id: str
    folder: str
    title: str
    pillar: str
    status: str
    estimate_hours: float
    modules: tuple[str, ...]
    readings: tuple[str, ...]
    tasks: tuple[Task, ...]
    limits: Limits
    preload: tuple[str, ...] = ()  # heavy libraries a worker imports before its limits apply
    artifacts: tuple[str, ...] = ()  # files a submission carries beside its modules (a trained model)
    grader: Path | None = field(default=None, compare=False)  # the folder with suites/ and worker/drivers/ (paths.py)

    @property
    def built(self) -> bool:
        return self.status == "built"

    @property
    def points(self) -> float:
        return sum(t.points for t in self.tasks)

    def task(self, task_id: str) -> Task:
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise KeyError(f"{self.id} has no task {task_id}; tasks: {', '.join(t.id for t in self.tasks)}")


@dataclass(frozen=True)
class Course:
    id: str
    title: str
    limits: Limits
    assignments: tuple[Assignment, ...]
    root: Path = field(compare=False)

    def assignment(self, assignment_id: str) -> Assignment:
        for a in self.assignments:
            if a.id == assignment_id:
                return a
        valid = ", ".join(a.id for a in self.assignments)
        raise CourseError(f"unknown assignment '{assignment_id}'; valid ids: {valid}")

    def built(self, assignment_id: str) -> Assignment:
        a = self.assignment(assignment_id)
        if not a.built:
            raise CourseError(f"{a.id} ({a.title}) is not built yet: it is planned for a later release")
        return a


class _Reader:
    """Walks YAML nodes, converting them and naming the line of anything wrong."""

    def __init__(self, filename: str):
        self.filename = filename

    def fail(self, node: yaml.Node, path: str, message: str) -> ConfigError:
        return ConfigError(f"{self.filename}:{node.start_mark.line + 1}: {path}: {message}")

    def mapping(self, node, path, required, optional=()) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, path, "expected a mapping")
        out = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key not in required and key not in optional:
                allowed = ", ".join([*required, *optional])
                raise self.fail(key_node, f"{path}.{key}" if path else key, f"unknown key (allowed: {allowed})")
            if key in out:
                raise self.fail(key_node, f"{path}.{key}" if path else key, "duplicate key")
            out[key] = value_node
        for key in required:
            if key not in out:
                raise self.fail(node, path or "top level", f"missing key '{key}'")
        return out

    def scalar(self, node, path, kind):
        value = yaml.safe_load(yaml.serialize(node)) if isinstance(node, yaml.ScalarNode) else None
        if kind is str:
            if not isinstance(value, str) or not value.strip():
                raise self.fail(node, path, f"expected a non-empty string, got {node_repr(node)}")
            return value
        if kind is int:
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise self.fail(node, path, f"expected a positive integer, got {node_repr(node)}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise self.fail(node, path, f"expected a positive number, got {node_repr(node)}")
        return float(value)

    def sequence(self, node, path) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, path, f"expected a list, got {node_repr(node)}")
        return node.value

    def choice(self, node, path, options):
        value = self.scalar(node, path, str)
        if value not in options:
            raise self.fail(node, path, f"expected one of {', '.join(options)}, got '{value}'")
        return value

    def limits(self, node, path, base: Limits) -> Limits:
        kinds = {f.name: (int if f.type == "int" else float) for f in fields(Limits)}
        items = self.mapping(node, path, (), tuple(kinds))
        limits = replace(base, **{k: self.scalar(v, f"{path}.{k}", kinds[k]) for k, v in items.items()})
        if "reply_mb" in items and limits.reply_mb > REPLY_MB_MAX:
            raise self.fail(
                items["reply_mb"],
                f"{path}.reply_mb",
                f"expected at most {REPLY_MB_MAX} (the largest frame the wire carries), got {limits.reply_mb}",
            )
        return limits

    def task(self, node, path) -> Task:
        m = self.mapping(node, path, ("id", "title", "points"))
        task_id = self.scalar(m["id"], f"{path}.id", str)
        if not TASK_ID.match(task_id):
            raise self.fail(m["id"], f"{path}.id", f"expected a task number like \"1.2\", got '{task_id}'")
        return Task(task_id, self.scalar(m["title"], f"{path}.title", str), self.scalar(m["points"], f"{path}.points", float))

    def assignment(self, node, path, base: Limits, number: int) -> Assignment:
        m = self.mapping(
            node,
            path,
            ("id", "folder", "title", "pillar", "status", "estimate_hours", "modules", "readings", "tasks"),
            ("limits", "preload", "artifacts"),
        )
        tasks = [self.task(t, f"{path}.tasks[{i}]") for i, t in enumerate(self.sequence(m["tasks"], f"{path}.tasks"))]
        if not tasks:
            raise self.fail(m["tasks"], f"{path}.tasks", "an assignment needs at least one task")
        for i, t in enumerate(tasks):
            node_i = m["tasks"].value[i]
            if not t.id.startswith(f"{number}."):
                raise self.fail(node_i, f"{path}.tasks[{i}].id", f"task {t.id} should be numbered {number}.M")
            if t.id in [u.id for u in tasks[:i]]:
                raise self.fail(node_i, f"{path}.tasks[{i}].id", f"duplicate task {t.id}")
        limits = self.limits(m["limits"], f"{path}.limits", base) if "limits" in m else base
        return Assignment(
            id=self.scalar(m["id"], f"{path}.id", str),
            folder=self.scalar(m["folder"], f"{path}.folder", str),
            title=self.scalar(m["title"], f"{path}.title", str),
            pillar=self.choice(m["pillar"], f"{path}.pillar", PILLARS),
            status=self.choice(m["status"], f"{path}.status", STATUSES),
            estimate_hours=self.scalar(m["estimate_hours"], f"{path}.estimate_hours", float),
            modules=tuple(self.scalar(x, f"{path}.modules", str) for x in self.sequence(m["modules"], f"{path}.modules")),
            readings=tuple(self.scalar(x, f"{path}.readings", str) for x in self.sequence(m["readings"], f"{path}.readings")),
            tasks=tuple(tasks),
            limits=limits,
            preload=tuple(self.scalar(x, f"{path}.preload", str) for x in self.sequence(m["preload"], f"{path}.preload"))
            if "preload" in m
            else (),
            artifacts=self.artifacts(m["artifacts"], f"{path}.artifacts") if "artifacts" in m else (),
        )

    def artifacts(self, node, path) -> tuple[str, ...]:
        names = tuple(self.scalar(x, path, str) for x in self.sequence(node, path))
        for i, name in enumerate(names):
            if not ARTIFACT.match(name) or name.endswith((".py", ".ipynb")):
                raise self.fail(
                    node.value[i], f"{path}[{i}]", f"expected a plain file name like model.pt (not .py or .ipynb), got '{name}'"
                )
        return names


def node_repr(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return repr(node.value)
    return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"


def parse_course(text: str, root: Path, filename: str = "course.yaml") -> Course:
    """Parse the text of a course.yaml; raise ConfigError naming the line of the first problem."""
    reader = _Reader(filename)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}" if mark else filename
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if node is None:
        raise ConfigError(f"{filename}:1: the file is empty")
    top = reader.mapping(node, "", ("course", "assignments"))
    c = reader.mapping(top["course"], "course", ("id", "title"), ("limits",))
    base = reader.limits(c["limits"], "course.limits", Limits()) if "limits" in c else Limits()
    items = reader.sequence(top["assignments"], "assignments")
    assignments = [reader.assignment(a, f"assignments[{i}]", base, i + 1) for i, a in enumerate(items)]
    seen: set[str] = set()
    for a, n in zip(assignments, items):
        if a.id in seen:
            raise reader.fail(n, "assignments", f"duplicate assignment id '{a.id}'")
        seen.add(a.id)
    grader = root / "grader" if (root / "grader" / "suites").is_dir() else None
    assignments = [replace(a, grader=grader) for a in assignments]
    return Course(
        id=reader.scalar(c["id"], "course.id", str),
        title=reader.scalar(c["title"], "course.title", str),
        limits=base,
        assignments=tuple(assignments),
        root=root,
    )


def load_course(root: Path | None = None) -> Course:
    """Load `course.yaml` from the course root (see `grader.paths.course_root`)."""
    from grader.paths import course_root

    root = course_root() if root is None else Path(root)
    path = root / "course.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (run inside the course folder or set COURSE_ROOT)") from None
    return parse_course(text, root, str(path.name))
