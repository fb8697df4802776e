"""The container provider's snapshot pieces: freezing every process of some containers at once, and copying a
writable layer with everything overlayfs keeps in it (whiteouts, xattrs, owners, modes)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from lab.errors import LabError
from lab.plumbing.shell import run

COPY_TIMEOUT_S = 600
MAX_FREEZE_ROUNDS = 50  # stopped processes cannot fork, so a few rounds find every process
STOPPED_TIMEOUT_S = 5  # a process in the middle of a system call stops when it returns
# states of /proc/PID/stat that need no SIGSTOP: stopped (T, t), zombie (Z), dead (X), or gone ('')
STOPPED_OR_GONE = ("T", "t", "", "Z", "X")


def _namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name: the state first, so index N is field N + 3 of
    proc(5); [] when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return []


def process_state(pid: int) -> str:
    """The one-letter state of /proc/PID/stat ('' when the process is gone)."""
    fields = stat_fields(pid)
    return fields[0] if fields else ""


def processes_in(namespaces: set[str]) -> list[int]:
    """Every process of the machine whose PID namespace is one of `namespaces`."""
    pids = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return [pid for pid in pids if _namespace(pid) in namespaces]


def to_stop(found: list[int], stopped: set[int], states: dict[int, str]) -> list[int]:
    """Which of the processes found must still get SIGSTOP: not stopped by us yet, and not already stopped
    (state T or t: somebody else's, which thawing must leave stopped), nor gone."""
    return [pid for pid in found if pid not in stopped and states.get(pid, "") not in STOPPED_OR_GONE]


@contextmanager
def frozen_containers(init_pids: list[int]) -> Iterator[None]:
    """Every process of the containers whose inits are given stops (SIGSTOP, from outside their namespaces, so
    not even their init can refuse it) until the block ends; then exactly those continue. Their disks do not
    change meanwhile: a lab-wide, crash-consistent moment."""
    namespaces = {ns for ns in map(_namespace, init_pids) if ns}
    stopped: set[int] = set()
    try:
        for _ in range(MAX_FREEZE_ROUNDS):
            found = processes_in(namespaces)
            pending = to_stop(found, stopped, {pid: process_state(pid) for pid in found})
            if not pending:
                break
            for pid in pending:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
                    stopped.add(pid)
        _wait_stopped(stopped)
        yield
    finally:
        for pid in stopped:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def _wait_stopped(pids: set[int]) -> None:
    deadline = time.monotonic() + STOPPED_TIMEOUT_S
    while any(process_state(pid) not in STOPPED_OR_GONE for pid in pids):
        if time.monotonic() > deadline:
            raise LabError(f"the hosts' processes did not all stop within {STOPPED_TIMEOUT_S} s")
        time.sleep(0.01)


def copy_tree(source: Path, destination: Path) -> None:
    """A full copy of a directory tree: owners, modes, times, xattrs, device nodes (overlayfs whiteouts)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    run(["cp", "-a", "--reflink=auto", str(source), str(destination)], timeout=COPY_TIMEOUT_S,
        what=f"copying {source} to {destination}")
