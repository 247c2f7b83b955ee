"""Errors of the entry points. Each is one line that says what is wrong and where; the CLI
prints it and exits with status 2."""

from __future__ import annotations

from optograph.graph.errors import OptographError


class TaskError(OptographError):
    """A task file (or something it names) is not usable: not YAML, a wrong field, a reference
    that does not import, a function with the wrong signature."""


class RunStoreError(OptographError):
    """A run folder that is missing, is not a run, or does not match the task."""
