"""What every `course` command shares, apart from grader.cli so that modules which define their own
commands (grader.gradescope, grader.nbverify) need not import it: one-line errors with exit status
2, and the course a command works on, loaded once."""

from __future__ import annotations

import sys

import click

from grader.config import load_course
from grader.errors import ConfigError, CourseError


def fail(message: str) -> None:
    click.echo(f"course: {message}", err=True)
    sys.exit(2)


class CourseGroup(click.Group):
    """Turns the library's one-line errors into `course: cause` and exit status 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (ConfigError, CourseError) as exc:
            fail(str(exc))


def course_obj():
    """The course of this command (course.yaml found from COURSE_ROOT or the working folder), loaded once."""
    ctx = click.get_current_context()
    if ctx.obj is None:
        ctx.obj = load_course()
    return ctx.obj
