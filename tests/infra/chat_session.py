"""Chat sessions on lab hosts, driven through the installed `chat-client` command in piped mode.

Waits poll until what they expect shows up, with generous deadlines: the same checks run against containers
(milliseconds per command) and emulated VMs (seconds per command).
"""

from __future__ import annotations

import shlex
import time
import uuid
from typing import Any

CLIENT = "/usr/local/bin/chat-client"
DEADLINE_S = 90  # for anything that should happen; reached only when it does not
HOLD_MAX_S = 300  # a background session ends by itself at the latest after this


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _script(lines: list[str]) -> str:
    return "; ".join(f"printf '%s\\n' {shlex.quote(line)}" for line in lines)


def run_session(host: Any, lines: list[str]) -> str:
    """Sends `lines`, then quits; returns everything the client printed."""
    result = host.run(f"({_script(lines)}) | timeout {DEADLINE_S} {CLIENT}")
    assert result.rc == 0, f"chat-client on {host.backend.get_hostname()} failed: {result.stderr}"
    return result.stdout


class BackgroundSession:
    """A chat session that stays connected on a host until end() (or HOLD_MAX_S), its output (and its
    status lines on stderr) in a file. ``flags`` go to chat-client, e.g. "--reconnect"."""

    def __init__(self, host: Any, lines: list[str], flags: str = "") -> None:
        self.host = host
        name = unique("/tmp/chatlab-session-")
        self.output, self.hold = f"{name}.out", f"{name}.hold"
        hold = f"while [ -e {self.hold} ]; do sleep 0.2; done"
        inner = f"({_script(lines)}; {hold}) | timeout {HOLD_MAX_S} {CLIENT} {flags} > {self.output} 2>&1"
        host.run(f"touch {self.hold}; nohup sh -c {shlex.quote(inner)} > /dev/null 2>&1 &")

    def wait_for(self, expected: str, deadline_s: float = DEADLINE_S, times: int = 1) -> str:
        """Polls the session's output until it contains `expected` (`times` times); returns the output
        either way."""
        deadline = time.monotonic() + deadline_s
        content = ""
        while time.monotonic() < deadline:
            content = self.host.run(f"cat {self.output} 2>/dev/null").stdout
            if content.count(expected) >= times:
                break
            time.sleep(0.3)
        return content

    def end(self) -> str:
        """Lets the session quit; returns its output once the server has said goodbye."""
        self.host.run(f"rm -f {self.hold}")
        return self.wait_for("* bye")

