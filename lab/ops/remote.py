"""Everyday operations on the hosts of a lab that is up: a command on many hosts at once, a unit's journal.

Both go over the same SSH connections as `lab ssh` (the lab's inventory says how to reach each host).

Reference: docs/lab.md#operating-a-lab
"""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import threading
from typing import IO

from lab.errors import LabError
from lab.model import Connection
from lab.plumbing.ssh import connection_command
from lab.state import LabConfig

DEFAULT_JOURNAL_LINES = 50
UNIT_NAME = re.compile(r"^[A-Za-z0-9@._:-]{1,128}$")
NOT_A_UNIT_EXIT = 4


def resolve_hosts(spec: str, known: list[str]) -> list[str]:
    """'all', or host names separated by commas, in the lab's order; an unknown name is a LabError."""
    if spec == "all":
        return list(known)
    wanted = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in known]
    if unknown or not wanted:
        raise LabError(f"no host {', '.join(unknown) or repr(spec)} in this lab (hosts: {', '.join(known)}, or all)")
    return [name for name in known if name in wanted]


def remote_script(words: list[str]) -> str:
    """What the host's shell runs: one word is a shell command line as it is (pipes, quotes and all);
    several words are one command and its arguments, each kept whole."""
    if not words:
        raise LabError("no command given: lab exec HOST -- COMMAND [ARGS...]")
    return words[0] if len(words) == 1 else shlex.join(words)


def as_root(script: str, user: str) -> str:
    """The script run as root: as it is for root, through sudo for the VMs' vagrant user."""
    return script if user == "root" else f"sudo -n sh -c {shlex.quote(script)}"


def as_root_command(argv: list[str], user: str) -> str:
    """One command run as root with no shell of its own: as it is for root, `sudo -n COMMAND` for the VMs' vagrant
    user (a process fewer than as_root's `sh -c`: under TCG every process start in a guest costs)."""
    command = shlex.join(argv)
    return command if user == "root" else f"sudo -n {command}"


def prefixed(host: str, line: str, width: int) -> str:
    return f"{host.ljust(width)} | {line}"


def _relay(stream: IO[str], host: str, width: int, out: IO[str], lock: threading.Lock) -> None:
    for line in stream:
        with lock:
            out.write(prefixed(host, line.rstrip("\n"), width) + "\n")
            out.flush()


def exec_on_hosts(config: LabConfig, connections: dict[str, Connection], hosts: list[str], script: str,
                  out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    """Runs `script` as root on every host at once; each output line (stdout to out, stderr to err) starts with
    the host's name. 0 when it succeeded everywhere, else 1, with one line per host that failed."""
    width = max(len(host) for host in hosts)
    lock = threading.Lock()
    processes: dict[str, subprocess.Popen[str]] = {}
    relays: list[threading.Thread] = []
    for host in hosts:
        c = connections[host]
        args = [*connection_command(config, c), as_root(script, c.user)]
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, errors="replace")
        processes[host] = process
        for stream, sink in ((process.stdout, out), (process.stderr, err)):
            assert stream is not None
            relay = threading.Thread(target=_relay, args=(stream, host, width, sink, lock), daemon=True)
            relay.start()
            relays.append(relay)
    codes = {host: process.wait() for host, process in processes.items()}
    for relay in relays:
        relay.join()
    failed = {host: code for host, code in codes.items() if code != 0}
    for host, code in failed.items():
        reason = "SSH failed (host down or not answering?)" if code == 255 else f"exit status {code}"
        err.write(f"lab: {host}: {reason}\n")
    return 1 if failed else 0


def journal_script(unit: str, follow: bool, lines: int) -> str:
    """journalctl for one unit, refusing a unit the host does not have (journalctl would just say 'No entries')."""
    if not UNIT_NAME.match(unit):
        raise LabError(f"{unit!r} is not a systemd unit name")
    quoted = shlex.quote(unit)
    return (f"systemctl cat -- {quoted} >/dev/null 2>&1 || exit {NOT_A_UNIT_EXIT}; "
            f"exec journalctl --no-pager -u {quoted} -n {lines}{' -f' if follow else ''}")


def show_journal(config: LabConfig, connection: Connection, unit: str, follow: bool, lines: int) -> int:
    """Prints a unit's journal on a host (and follows it until Ctrl-C with follow); the exit status of journalctl."""
    args = [*connection_command(config, connection), as_root(journal_script(unit, follow, lines), connection.user)]
    interrupted = False

    def note_interrupt(signum: int, frame: object) -> None:  # Ctrl-C reaches ssh too: wait for it to end
        nonlocal interrupted
        interrupted = True

    previous = signal.signal(signal.SIGINT, note_interrupt)
    try:
        code = subprocess.run(args, check=False).returncode
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        return 0  # the end of following (ssh itself then exits 255 or by the signal, whichever comes first)
    if code == NOT_A_UNIT_EXIT:
        raise LabError(f"{connection.host} has no unit {unit!r}")
    return code
