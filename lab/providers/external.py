"""Hosts the lab does not create (`provider: external` in the topology: real machines): reached as their `ssh`
entry says, with the lab's key; only in the inventory, never built or removed.

Reference: docs/providers.md#external-hosts
"""

from __future__ import annotations

from lab.errors import LabError
from lab.model import Connection
from lab.plumbing.shell import log, run
from lab.state import LabConfig
from lab.topology import SSH_PATTERN

KEYSCAN_TIMEOUT_S = 10


def external_connections(config: LabConfig) -> list[Connection]:
    """The topology's external hosts; their SSH host keys are added to the lab's known_hosts when first seen."""
    connections = []
    for host in config.topology.hosts:
        if not host.is_external:
            continue
        match = SSH_PATTERN.match(host.external_ssh or "")
        assert match is not None  # checked when the topology was read
        address, port = match["address"], int(match["port"] or 22)
        connections.append(Connection(host.name, address, port, match["user"] or "root"))
        learn_host_key(config, host.name, address, port)
    return connections


def learn_host_key(config: LabConfig, host: str, address: str, port: int) -> None:
    """Adds the host's SSH host keys to the lab's known_hosts unless it has a line for it already."""
    known = config.known_hosts_path
    lines = known.read_text().splitlines() if known.is_file() else []
    if any(line.split(" ", 1)[0] in (address, f"[{address}]:{port}") for line in lines):
        return
    scan = run(["ssh-keyscan", "-T", str(KEYSCAN_TIMEOUT_S), "-p", str(port), address], check=False,
               timeout=30).stdout
    found = [line for line in scan.splitlines() if line.strip() and not line.startswith("#")]
    if not found:
        raise LabError(f"{host}: no SSH host key from {address}:{port} (external host; is it up?)")
    with known.open("a") as file:
        file.writelines(f"{line}\n" for line in found)
    log(f"{host}: external host, its SSH host key added to {known}")
