"""The contract between the grading side and a worker: every message, typed, in one place.

Two conversations, each over its own socket, each message one frame of `grader.worker.protocol`:

- with the **warm parent** (`server.Parent`), which never runs student code: `ParentConfig` first,
  then `Fork` (with the new worker's socket passed alongside) and `End`, each answered by a
  `ParentReply`;
- with a **worker** (`server.Server`), one per submission, forked by the parent: `Request`s
  (`Seed`, `Import`, `Inspect`, `GetAttr`, `Call`), each answered by a `Reply`: `Done` with a
  value (plain data; see protocol.py) or `Failed` with an `ErrorInfo`. A `Batch` carries several
  requests in one round trip, run in order as if sent one by one: `Done` with their values, or
  the first one's `Failed` (the rest are not run).

Values inside requests and replies are encoded by `protocol.encode` (objects that are not plain
data cross as handles: `{"__handle__": id, "type": name, "callable": bool}`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, TypedDict


@dataclass(frozen=True)
class Limits:
    """What one worker may use; course.yaml sets them per course and per assignment."""

    wall_s: float = 20.0  # wall-clock seconds one test may take
    cpu_s: float = 60.0  # CPU seconds a worker process may use over its life
    memory_mb: int = 4096  # address space of a worker process
    output_kb: int = 256  # stdout + stderr a worker may write
    grader_s: float = 300.0  # wall-clock seconds for one whole submission
    reply_mb: int = 8  # the largest reply frame a worker may send (the grading side reads no more)
    threads: int = 32  # threads of a worker's process tree, checked while the grading side waits
    scratch_mb: int = 64  # a worker's scratch folder (/tmp in bubblewrap), checked while it waits


# -- the warm parent ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ParentConfig:
    """Sent once, first, to a new parent. Nothing in it is secret: the parent holds no student's
    files, no hidden test and no solution, only what every worker of the assignment shares."""

    assignment: str
    limits: Limits
    preload: tuple[str, ...] = ()  # heavy libraries imported once, before any fork
    drivers: str = ""  # the assignment's drivers (grader/worker/drivers/<id>.py), as source
    require_filter: bool = False  # a worker that cannot install the system-call filter exits (71)
    parent: int | None = None  # the grading process's pid (fallback isolation): exit if it is gone
    gpu: bool = False  # the workers may use the machine's GPUs (`course plot --device cuda`): see confine.apply_limits
    # (uid, gid) a worker that starts as root with root's powers (the fallback path, run as root)
    # becomes before student code runs; without it such a worker refuses to start (confine.drop_root);
    # (0, 0): stays root, where the grading side found that user cannot read Python's files and said so
    run_as: tuple[int, int] | None = None

    def to_message(self) -> dict:
        run_as = None if self.run_as is None else list(self.run_as)
        return {**asdict(self), "preload": list(self.preload), "run_as": run_as}

    @classmethod
    def from_message(cls, message: dict) -> ParentConfig:
        run_as = message.get("run_as")
        return cls(
            **{
                **message,
                "limits": Limits(**message["limits"]),
                "preload": tuple(message["preload"]),
                "run_as": None if run_as is None else (int(run_as[0]), int(run_as[1])),
            }
        )


class Fork(TypedDict):
    """Start a worker for one submission (its socket travels with this frame, as SCM_RIGHTS)."""

    op: Literal["fork"]
    submission: str  # the folder to import from, as the worker sees it
    modules: list[str]  # the student modules it may import by name
    output: str  # the file its stdout and stderr go to
    startup: str  # the file a worker that cannot start writes its reason to


class End(TypedDict):
    """Kill the current worker (if it still runs) and report how it ended."""

    op: Literal["end"]


class ParentReply(TypedDict, total=False):
    ok: bool
    status: int | None  # End: the exit status as subprocess reports it (-N: killed by signal N)
    error: str


# -- a worker -----------------------------------------------------------------------------------

# What a request acts on: a student module by name, the assignment's drivers, or an object the
# worker kept (a handle from an earlier reply).
Target = tuple[Literal["module"], str] | tuple[Literal["drivers"], None] | tuple[Literal["handle"], int]


class Seed(TypedDict):
    op: Literal["seed"]
    seed: int


class Import(TypedDict):
    op: Literal["import"]
    module: str


class Inspect(TypedDict):
    op: Literal["inspect"]


class GetAttr(TypedDict):
    op: Literal["getattr"]
    target: list  # a Target, as a JSON list
    name: str


class Call(TypedDict):
    op: Literal["call"]
    target: list  # a Target, as a JSON list
    name: str | None  # a method or function of the target; None: call the target itself
    args: list  # encoded
    kwargs: dict  # encoded


Single = Seed | Import | Inspect | GetAttr | Call


class Batch(TypedDict):
    op: Literal["batch"]
    requests: list[Single]  # not batches


Request = Single | Batch


class ErrorInfo(TypedDict):
    """An exception raised in the worker, as plain data (student frames only)."""

    type: str
    mro: list[str]
    message: str  # at most 2,000 characters
    where: str  # "file.py:LINE" of the innermost student frame, or ""
    traceback: str  # the last student frames, at most 4,000 characters


class Done(TypedDict):
    ok: Literal[True]
    value: Any  # encoded; GetAttr of a function: {"__callable__": True}


class Failed(TypedDict):
    ok: Literal[False]
    error: ErrorInfo


Reply = Done | Failed


class InspectReport(TypedDict):
    """Inspect's value: what the submission brought in."""

    modules: list[str]  # modules loaded since the worker started serving
    classes: dict[str, list[str]]  # "module.Class" -> its method resolution order, qualified


def seed(value: int) -> Seed:
    return {"op": "seed", "seed": int(value)}


def import_(module: str) -> Import:
    return {"op": "import", "module": module}


def inspect() -> Inspect:
    return {"op": "inspect"}


def getattr_(target: list, name: str) -> GetAttr:
    return {"op": "getattr", "target": target, "name": name}


def call(target: list, name: str | None, args: list, kwargs: dict) -> Call:
    return {"op": "call", "target": target, "name": name, "args": args, "kwargs": kwargs}


def batch(requests: list[Single]) -> Batch:
    return {"op": "batch", "requests": list(requests)}
