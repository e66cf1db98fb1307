"""The course package: configuration, release, isolated grading, reports and the suites."""

__version__ = "0.1.0"
