"""The lab's errors: what a user can fix, in one line. Imports nothing of the project, so every module can raise
them without pulling in the configuration (or YAML)."""

from __future__ import annotations


class LabError(Exception):
    """A problem the user can fix; its text is one line."""


class TopologyError(ValueError):
    """A mistake in a topology: one line naming the file, the key and the problem."""
