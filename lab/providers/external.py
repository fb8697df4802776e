"""Hosts the lab does not create (`provider: external` in the topology: real machines): reached as their `ssh`
entry says, with the lab's key; only in the inventory, never built or removed.

Reference: docs/providers.md#external-hosts
"""

from __future__ import annotations

from lab.errors import LabError
from lab.model import Connection
from lab.plumbing.shell import log, run
from lab.plumbing.ssh import answers, authorize_command, ensure_keypair
from lab.state import LabConfig
from lab.topology import SSH_PATTERN

KEYSCAN_TIMEOUT_S = 10


def external_targets(config: LabConfig) -> list[tuple[str, str, str, int]]:
    """(host, user, address, port) of each external host, as its `ssh` entry says."""
    targets = []
    for host in config.topology.hosts:
        if host.is_external:
            match = SSH_PATTERN.match(host.external_ssh or "")
            assert match is not None  # checked when the topology was read
            targets.append((host.name, match["user"] or "root", match["address"], int(match["port"] or 22)))
    return targets


def external_connections(config: LabConfig) -> list[Connection]:
    """The topology's external hosts, each logged in to with the lab's key: its SSH host key learnt when first
    seen (and kept: a changed key is refused by ssh), and one line with the command that authorizes the key when
    the host does not take it."""
    connections = []
    for host, user, address, port in external_targets(config):
        learn_host_key(config, host, address, port)
        key = ensure_keypair(config)
        if not answers(config, user, address, port):
            raise LabError(f"{host}: cannot log in to {user}@{address} with the lab's key; authorize it: "
                           f"{authorize_command(key, user, address, port)}")
        connections.append(Connection(host, address, port, user))
    return connections


def learn_host_key(config: LabConfig, host: str, address: str, port: int) -> None:
    """Adds the host's SSH host keys to the external hosts' known_hosts unless it has a line for it already."""
    known = config.external_known_hosts_path
    known.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
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
