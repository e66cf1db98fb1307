"""The course's errors, in one place.

- `CourseError`: a command could not do its job (bad input, a file that cannot be written); its
  message is the one-line cause the CLI prints before exiting with status 2.
- `ConfigError`: course.yaml could not be read; one line naming file, line and key.
- `StudentError`: student code raised or could not run; a test fails with its `cause`.
"""

from __future__ import annotations


class CourseError(Exception):
    """A command could not do its job; the message is the one-line cause shown to the user."""


class ConfigError(ValueError):
    """course.yaml could not be read; the message is one line with file, line and key."""


class StudentError(Exception):
    """Student code raised, or could not run. `cause` is one of: error, missing, syntax,
    not-implemented, timeout, crash, limit."""

    def __init__(self, message: str, cause: str = "error", type_name: str = "", mro=(), where: str = "", tb: str = ""):
        super().__init__(message)
        self.cause = cause
        self.type_name = type_name
        self.mro = tuple(mro)
        self.where = where
        self.traceback = tb

    def is_a(self, name: str) -> bool:
        """Did the student raise an exception of (a subclass of) the builtin named `name`?"""
        return self.cause == "error" and name in self.mro
