"""The SSH session we run in: ``SSH_CONNECTION`` from our environment, or from an ancestor's.

``sudo`` resets the environment (SSH_CONNECTION is not in its default env_keep), so under
``sudo netconfig ...`` the variable is looked up in the parent processes' environments
(/proc/PID/environ, readable as root), up to the first process that has it.

Stdlib only: also the static_ip role's module_utils (chatlab_session), for a module run under become.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
MAX_DEPTH = 64


def _parent(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may contain spaces and parentheses
    fields = stat[stat.rfind(")") + 1:].split()
    try:
        return int(fields[1])
    except (IndexError, ValueError):
        return None


def _environ_value(pid: int, name: str) -> str | None:
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    prefix = name.encode() + b"="
    for item in raw.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix):].decode(errors="replace")
    return None


def ancestor_ssh_connection(start: int | None = None) -> str | None:
    """SSH_CONNECTION of the nearest ancestor process that has it."""
    pid: int | None = os.getppid() if start is None else start
    for _ in range(MAX_DEPTH):
        if pid is None or pid <= 1:
            return None
        value = _environ_value(pid, "SSH_CONNECTION")
        if value:
            return value
        pid = _parent(pid)
    return None


def ssh_connection() -> str | None:
    """The SSH_CONNECTION of the session we run in, if any."""
    return os.environ.get("SSH_CONNECTION") or ancestor_ssh_connection()
