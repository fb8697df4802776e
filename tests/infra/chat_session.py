"""Chat sessions on lab hosts, driven through the installed `chat-client` command in piped mode."""

from __future__ import annotations

import shlex
import time
import uuid
from typing import Any

CLIENT = "/usr/local/bin/chat-client"
DEADLINE_S = 15


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def run_session(host: Any, lines: list[str], hold_s: float = 0) -> str:
    """Sends `lines`, keeps the connection `hold_s` seconds longer, quits; returns everything the client printed."""
    script = "; ".join(f"printf '%s\\n' {shlex.quote(line)}" for line in lines)
    command = f"({script}; sleep {hold_s}) | timeout {DEADLINE_S + hold_s} {CLIENT}"
    result = host.run(command)
    assert result.rc == 0, f"chat-client on {host.backend.get_pretty_hostname()} failed: {result.stderr}"
    return result.stdout


def start_background_session(host: Any, lines: list[str], hold_s: float) -> str:
    """Starts a session that stays connected `hold_s` seconds; returns the file its output goes to."""
    output = f"/tmp/{unique('chatlab-session-')}.out"
    script = "; ".join(f"printf '%s\\n' {shlex.quote(line)}" for line in lines)
    inner = f"({script}; sleep {hold_s}) | timeout {DEADLINE_S + hold_s} {CLIENT} > {output} 2>&1"
    host.run(f"nohup sh -c {shlex.quote(inner)} > /dev/null 2>&1 &")
    return output


def wait_for_output(host: Any, path: str, expected: str, deadline_s: float = DEADLINE_S) -> str:
    """Polls the remote file until it contains `expected`; returns the file either way."""
    deadline = time.monotonic() + deadline_s
    content = ""
    while time.monotonic() < deadline:
        content = host.run(f"cat {shlex.quote(path)} 2>/dev/null").stdout
        if expected in content:
            break
        time.sleep(0.3)
    return content


def rooms_line(output: str) -> list[str]:
    """The `* rooms: ...` answers in a session's output, in order."""
    return [line for line in output.splitlines() if line.startswith("* rooms:")]
