"""Applying a changed interfaces file with ifupdown, checking the result, and rolling back on failure.

The sequence (see :func:`apply_change`):

1. ``ifdown IFACE`` with the *previous* file (``-i BACKUP``), when ifupdown has IFACE up: ifdown takes
   the addresses to remove from the file, and with the new file it would try to remove the new address
   ("Address not found");
2. ``ip -4 addr flush dev IFACE``: whatever IPv4 address is left (set by hand, or by a failed ifdown);
3. ``ifup IFACE`` with the new file;
4. check that IFACE really holds the address (and the default route via the gateway, when given).

If 3 or 4 fails: the previous file is put back, ``ifdown --force``, flush, ``ifup`` with the previous
file when ifupdown had brought IFACE up before, then any IPv4 address IFACE held before and is missing
is added back with ``ip addr add``; the rollback succeeds when every address of before is back.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from netconfig import files, routes
from netconfig.discovery import ipv4_addresses
from netconfig.interfaces import StaticAddress

DEFAULT_INTERFACES = Path("/etc/network/interfaces")
COMMAND_TIMEOUT = 60.0
VERIFY_SECONDS = 1.0

Log = Callable[[str], None]


class ApplyError(RuntimeError):
    """Applying failed. `rolled_back` tells whether the previous file and addresses are back."""

    def __init__(self, message: str, rolled_back: bool) -> None:
        super().__init__(message)
        self.rolled_back = rolled_back


def preflight() -> str | None:
    """Why --apply cannot run here (not root, ifupdown or ip missing), or None."""
    if os.geteuid() != 0:
        return "--apply needs root (ifup/ifdown change the live interface)"
    for tool, package in (("ifup", "ifupdown"), ("ifdown", "ifupdown"), ("ip", "iproute2")):
        if shutil.which(tool) is None:
            return f"--apply needs {tool}, which is not installed (apt-get install {package})"
    return None


@dataclass(frozen=True)
class Ifupdown:
    """How to call ifupdown: the interfaces file (None: its default) and its state directory."""

    interfaces_file: Path | None = None
    state_dir: Path | None = None
    log: Log = print

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        self.log("  $ " + " ".join(argv))
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                                    check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            return subprocess.CompletedProcess(argv, 127, "", str(e))
        for line in (result.stdout + result.stderr).splitlines():
            if line.strip():
                self.log(f"    {line}")
        return result

    def _argv(self, tool: str, iface: str, file: Path | None, *extra: str,
              with_file: bool = True) -> list[str]:
        argv = [tool, *extra]
        chosen = file if file is not None else self.interfaces_file
        if with_file and chosen is not None and chosen != DEFAULT_INTERFACES:
            argv += ["-i", str(chosen)]
        if self.state_dir is not None:
            argv += ["--state-dir", str(self.state_dir)]
        return [*argv, iface]

    def ifup(self, iface: str, file: Path | None = None) -> subprocess.CompletedProcess[str]:
        return self._run(self._argv("ifup", iface, file))

    def ifdown(self, iface: str, file: Path | None = None, force: bool = False) -> None:
        self._run(self._argv("ifdown", iface, file, *(["--force"] if force else [])))

    def is_up(self, iface: str) -> bool:
        """Whether ifupdown has `iface` in its state (brought up by ifup)."""
        argv = self._argv("ifquery", iface, None, "--state", with_file=False)
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                                    check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return result.returncode == 0 and bool(result.stdout.strip())

    def flush(self, iface: str) -> None:
        self._run(["ip", "-4", "addr", "flush", "dev", iface])

    def add_address(self, iface: str, address: ipaddress.IPv4Interface) -> None:
        self._run(["ip", "addr", "add", address.with_prefixlen, "dev", iface])


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    """The most telling output line: the last one but ifupdown's own "failed to bring up" summary."""
    lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    telling = [line for line in lines if not re.match(r"if(up|down): failed to bring (up|down) ", line)]
    return (telling or lines or [f"exit status {result.returncode}"])[-1]


def verify(iface: str, static: StaticAddress, seconds: float = VERIFY_SECONDS) -> str | None:
    """Why `iface` does not (yet) hold `static`, or None once it does (waits up to `seconds`)."""
    deadline = time.monotonic() + seconds
    while True:
        held = ipv4_addresses(iface)
        problem: str | None = None
        if static.interface not in held:
            shown = ", ".join(sorted(a.with_prefixlen for a in held)) or "no IPv4 address"
            problem = f"{iface} does not hold {static.cidr} (it has {shown})"
        elif static.gateway is not None and not any(
                r.interface == iface and r.gateway == static.gateway for r in routes.read_default_routes()):
            problem = f"no default route via {static.gateway} on {iface}"
        if problem is None or time.monotonic() >= deadline:
            return problem
        time.sleep(0.1)


def apply_change(iface: str, path: Path, static: StaticAddress, old_text: str | None, backup: Path | None,
                 tools: Ifupdown) -> None:
    """Bring `iface` down and up so that the (already written) `path` takes effect; verify; roll back.

    `old_text` is what `path` held before (None: there was no file) and `backup` where it was saved
    (None: not saved, e.g. the file did not change). Raises ApplyError on failure.
    """
    before = ipv4_addresses(iface)
    was_up = tools.is_up(iface)
    # 1. down with the configuration that brought it up
    if was_up:
        tools.ifdown(iface, file=backup if backup is not None else path)
    # 2. whatever IPv4 address is left
    tools.flush(iface)
    # 3. up with the new file
    result = tools.ifup(iface, file=path)
    failure = f"ifup {iface} failed: {_last_line(result)}" if result.returncode != 0 else None
    # 4. is it really there?
    if failure is None:
        failure = verify(iface, static)
    if failure is None:
        tools.log(f"applied: {iface} holds {static.cidr}" + (f", default route via {static.gateway}"
                                                        if static.gateway else ""))
        return
    tools.log(f"apply failed: {failure}; rolling back")
    problem = rollback(iface, path, old_text, before, was_up, tools)
    if problem is None:
        back = ", ".join(sorted(a.with_prefixlen for a in before)) or "no IPv4 address, as before"
        raise ApplyError(f"apply failed: {failure}; rolled back: restored {path} and re-applied the old "
                         f"configuration ({iface}: {back})", rolled_back=True)
    raise ApplyError(f"apply failed: {failure}; ROLLBACK FAILED too: {problem}", rolled_back=False)


def rollback(iface: str, path: Path, old_text: str | None, before: set[ipaddress.IPv4Interface],
             was_up: bool, tools: Ifupdown) -> str | None:
    """Put back the previous file and addresses; why that did not work, or None."""
    try:
        files.restore(path, old_text)
    except files.FilesError as e:
        return str(e)
    tools.ifdown(iface, file=path if old_text is not None else None, force=True)
    tools.flush(iface)
    if was_up and old_text is not None:
        result = tools.ifup(iface, file=path)
        if result.returncode != 0:
            tools.log(f"  ifup with the old file failed: {_last_line(result)}")
    for address in sorted(before - ipv4_addresses(iface)):
        tools.add_address(iface, address)
    missing = before - ipv4_addresses(iface)
    if missing:
        return f"{iface} is missing {', '.join(sorted(a.with_prefixlen for a in missing))}"
    return None
