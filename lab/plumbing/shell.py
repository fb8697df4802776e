"""Running commands for the lab driver: one place that turns a failed command into a one-line LabError."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from lab.errors import LabError


def log(message: str) -> None:
    """One progress line of the lab driver."""
    print(f"lab: {message}", flush=True)


def run(args: Sequence[str], *, check: bool = True, capture: bool = True, timeout: float = 600,
        input_text: str | None = None, env: Mapping[str, str] | None = None,
        what: str | None = None) -> subprocess.CompletedProcess[str]:
    """Runs `args` (in `env` if given, else this process's environment); raises LabError naming `what`
    (default: the command) and its last error line when it fails."""
    if shutil.which(args[0], path=(env or os.environ).get("PATH")) is None:
        raise LabError(f"{args[0]} is not installed (run: make deps)")
    what = what or " ".join(args)
    try:
        result = subprocess.run(
            list(args), check=False, text=True, timeout=timeout, input=input_text, env=env,
            stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE if capture else None,
        )
    except subprocess.TimeoutExpired:
        raise LabError(f"{what} did not finish within {timeout:.0f} s") from None
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip().splitlines()
        last = detail[-1] if detail else f"exit code {result.returncode}"
        raise LabError(f"{what} failed: {last}")
    return result


def aligned(rows: Sequence[Sequence[str]], *, rule: bool = False) -> list[str]:
    """Rows of cells as lines of columns, two spaces apart, each cell padded to its column's width (no trailing
    spaces); with `rule`, a line of dashes as wide as each column under the first row (the header)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    if rule:
        lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def succeeds(args: Sequence[str], timeout: float = 30) -> bool:
    """True when the command exits 0 (its output is discarded)."""
    try:
        return subprocess.run(list(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=timeout, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def unmount(path: Path | str, *, check: bool = False) -> None:
    """Unmounts `path`, lazily if it is busy (the mount goes once its last user does)."""
    if not succeeds(["umount", str(path)]):
        run(["umount", "-l", str(path)], check=check)


def specific_routes(listing: str) -> list[str]:
    """The routes of an `ip route show to match ADDRESS` listing other than the default route (listed too)."""
    return [line.strip() for line in listing.splitlines() if line.strip() and not line.startswith("default")]


def require_unrouted(subnet: ipaddress.IPv4Network, what: str) -> None:
    """Refuses a subnet the machine already routes somewhere (other than by its default route)."""
    gateway = subnet.network_address + 1
    specific = specific_routes(run(["ip", "-4", "route", "show", "to", "match", str(gateway)]).stdout)
    if specific:
        raise LabError(f"{what} {subnet} is already routed here ({specific[0].strip()}): "
                       f"set LAB_MGMT_SUBNET to a free /24")
