"""Runs the DHCP server of a lab network (dnsmasq, configured by lab.plumbing.dhcp_config): started by `lab up`, stopped
by `lab down`, one process per network, known by its pid file and its own configuration path (never another dnsmasq,
such as libvirt's). The leases are read back from its lease file."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from lab.plumbing.dhcp_config import DhcpNetwork, render

DNSMASQ = "dnsmasq"
STOP_WAIT_S = 5.0


class DhcpError(RuntimeError):
    """The DHCP server could not be started (one line: dnsmasq's own reason)."""


@dataclass(frozen=True)
class Lease:
    mac: str
    address: ipaddress.IPv4Address
    host_name: str | None
    expires: int  # epoch seconds


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def running_pid(network: DhcpNetwork) -> int | None:
    """The PID of this network's dnsmasq while it runs (its pid file names it and it runs our configuration)."""
    try:
        pid = int(network.pid_path.read_text().split()[0])
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        return None
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] if argv else "X"
    if state in ("Z", "X") or f"--conf-file={network.config_path}".encode() not in argv:
        return None
    return pid


def start(network: DhcpNetwork, netns: str | None = None) -> int:
    """Starts (or keeps) the network's dnsmasq with its configuration as rendered now; its PID. `netns`: in that
    named network namespace (where the bridge is) instead of the machine's own."""
    config = render(network)
    pid = running_pid(network)
    if pid is not None and network.config_path.read_text() == config:
        return pid
    if pid is not None:
        stop(network)
    command = shutil.which(DNSMASQ) or shutil.which(DNSMASQ, path="/usr/sbin:/sbin")
    if command is None:
        raise DhcpError("dnsmasq is not installed (apt-get install dnsmasq-base, or make deps)")
    network.state_dir.mkdir(parents=True, exist_ok=True)
    _write(network.config_path, config)
    network.lease_path.touch()
    inside = ["ip", "netns", "exec", netns] if netns else []
    done = subprocess.run([*inside, command, f"--conf-file={network.config_path}"], capture_output=True, text=True,
                          timeout=30, check=False)  # returns once it has bound and daemonized
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise DhcpError(f"DHCP server of network {network.network} on {network.bridge}: "
                        f"{reason.removeprefix('dnsmasq: ')}")
    pid = running_pid(network)
    if pid is None:
        raise DhcpError(f"DHCP server of network {network.network}: dnsmasq exited at once (see {network.log_path})")
    return pid


def stop(network: DhcpNetwork) -> bool:
    """Stops the network's dnsmasq if it runs; whether one ran."""
    pid = running_pid(network)
    if pid is None:
        network.pid_path.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT_S
    while running_pid(network) == pid and time.monotonic() < deadline:
        time.sleep(0.05)
    if running_pid(network) == pid:
        os.kill(pid, signal.SIGKILL)
    network.pid_path.unlink(missing_ok=True)
    return True


def leases(network: DhcpNetwork) -> list[Lease]:
    """The leases dnsmasq has given (its lease file: ``EXPIRY MAC ADDRESS HOSTNAME CLIENT-ID`` per line)."""
    try:
        text = network.lease_path.read_text()
    except FileNotFoundError:
        return []
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 4:
            try:
                found.append(Lease(fields[1], ipaddress.IPv4Address(fields[2]),
                                   None if fields[3] == "*" else fields[3], int(fields[0])))
            except ValueError:
                continue
    return found
