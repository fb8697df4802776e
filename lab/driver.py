"""The lab's sequences: up (provider, hosts, inventory, provision, checks), down, and what a running lab's hosts
are doing (status). The only writer of the lab's record (lab.state.save_state). No printing but progress lines:
lab.cli shows the results.

Reference: docs/lab.md
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lab import model
from lab.config import configure, existing_lab, lab_name, up_request
from lab.errors import LabError
from lab.model import Connection, Host, Topology
from lab.ops import tc
from lab.outputs.inventory import moved_to_static, read_connections, write_inventory
from lab.plumbing.shell import log, run
from lab.plumbing.ssh import (
    answers,
    authorize_command,
    close_control_masters,
    connection_command,
    control_dir,
    ensure_key,
    ensure_keypair,
    remove_control_dir,
)
from lab.providers import decide_provider, make_provider
from lab.providers.external import external_connections, external_targets
from lab.providers.libvirt.vagrant import manual_settings
from lab.provision import check, provision
from lab.state import LabConfig, key_path_in, save_state

CHAT_SERVICE = "chatlab-chat"  # the chat_server role's chat_server_service
STATUS_WORKERS = 8


def up() -> LabConfig:
    """`lab up`: the lab as its topology says, provisioned and checked (not the fault drills); its config."""
    started = time.monotonic()
    request = up_request()
    for key, value in request.kept.items():
        log(f"keeping {key}={value} from the running lab '{request.topology.name}' (set {key} to change it)")
    name, reason = decide_provider(request)
    config = configure(request, name)
    tc.refuse_early(config)  # a container lab's conditions this kernel cannot apply: refused before anything exists
    save_state(config)
    log(f"lab '{config.name}' from {config.topology.source}: {len(config.topology.hosts)} hosts, "
        f"{len(config.topology.networks)} network(s); provider: {name} ({reason})")
    close_control_masters(config)  # a shared SSH connection may still lead to a host that is gone
    control_dir(config).mkdir(parents=True, exist_ok=True, mode=0o700)  # every lab's, external hosts only too
    ensure_keypair(config)
    provider = make_provider(config)
    config = provider.prepare()  # with what the provider chose (box, driver)
    save_state(config)  # the Vagrantfile reads it
    connections = provider.up()
    connections += external_connections(config)
    write_inventory(config, connections)
    log(f"hosts ready in {time.monotonic() - started:.1f} s; inventory {config.inventory_path}")
    provision(config)
    connections = moved_to_static(config, connections)
    write_inventory(config, connections)
    apply_conditions(config, connections)
    check(config, drills=False)
    log(f"lab '{config.name}' is up in {time.monotonic() - started:.1f} s:")
    return config


def apply_conditions(config: LabConfig, connections: list[Connection]) -> None:
    """The topology's link conditions on the hosts; saying which ones it put back (changed by `lab tc`)."""
    put_back, seconds = tc.restore_planned(config, {c.host: c for c in connections if c.host in
                                                    {h.name for h in config.topology.lab_hosts}})
    for line in put_back:
        log(f"link conditions: put back the topology's: {line}")
    said = tc.in_force(config).described()
    log(f"link conditions applied in {seconds:.2f} s: "
        + ("; ".join(f"{target}: {text}" for target, text in said.items()) if said else "none"))


def down() -> None:
    """`lab down`: every host, network and file of the lab removed (nothing to do when it is down)."""
    started = time.monotonic()
    name, config = existing_lab()
    if config is None:
        log(f"lab '{name}' is already down")
        return
    remove_control_dir(config)  # closes the ControlMaster processes too
    make_provider(config).down()
    log(f"lab '{config.name}' removed in {time.monotonic() - started:.1f} s")


def default_lab_name() -> str:
    return lab_name({})[0]


def require_lab() -> LabConfig:
    name, config = existing_lab()
    if config is None or not config.inventory_path.is_file():
        raise LabError(f"lab '{name}' is not up: run 'make lab-up' first")
    return config


def lab_connection(config: LabConfig, host: str | None, default_role: str) -> Connection:
    connections = read_connections(config)  # the lab's inventory is the one place that says how to reach a host
    if host is None:
        host = next((h.name for h in config.topology.hosts if h.role == default_role), config.topology.hosts[0].name)
    if host not in connections:
        raise LabError(f"no host {host!r} in lab '{config.name}' (hosts: {', '.join(connections)})")
    return connections[host]


# ---- status ---------------------------------------------------------------------------------------------------
def host_status(config: LabConfig) -> list[dict[str, Any]]:
    """Each host of the lab with its live state: the provider's view, SSH answering, the chat service active."""
    states = make_provider(config).states()
    connections = read_connections(config)

    def one(host: Host) -> dict[str, Any]:
        state = "external" if host.is_external else states.get(host.name, "absent")
        connection = connections.get(host.name)
        ssh_ok = chat = None
        if connection is not None and state in ("running", "external"):
            command = connection_command(config, connection)
            ssh_ok = answers(config, connection.user, connection.address, connection.port, connection.key_file,
                             timeout=15)
            if ssh_ok and host.role == "chat_server":
                result = run([*command, f"systemctl is-active {CHAT_SERVICE}"], check=False, timeout=30)
                chat = result.stdout.strip() == "active"
        return {"name": host.name, "role": host.role, "state": state, "ssh": ssh_ok, "chat_service": chat,
                "management": connection.address if connection else None,
                "interfaces": [{"name": i.name, "network": i.network, "address": str(i.address)}
                               for i in host.interfaces]}

    with ThreadPoolExecutor(max_workers=STATUS_WORKERS) as pool:
        return list(pool.map(one, config.topology.hosts))


def healthy(hosts: list[dict[str, Any]]) -> bool:
    return all(h["state"] in ("running", "external") and h["ssh"] for h in hosts)


def status_record(config: LabConfig, hosts: list[dict[str, Any]]) -> dict[str, Any]:
    """`lab status --json`: the lab's record and each host's live state."""
    return {"name": config.name, "state": "up" if healthy(hosts) else "degraded", "provider": config.provider,
            "provider_settings": config.provider_settings, "topology": model.to_json(config.topology),
            "inventory": str(config.inventory_path), "hosts": hosts,
            "conditions": tc.show_rows(config, tc.in_force(config))}


# ---- key, graph and resolve: from the file alone -------------------------------------------------------------------
def lab_key() -> tuple[str, list[str]]:
    """`lab key`: the lab's public key (made now if the lab has none yet) and, for each external host of its
    topology (or for USER@HOST when it has none), the one command that authorizes it there."""
    topology, state_dir = topology_to_show()
    key = ensure_key(key_path_in(state_dir), topology.name)
    config = LabConfig(topology, "nspawn", state_dir, {})  # only its names and paths are used
    targets = [authorize_command(key, user, address, port) for _, user, address, port in external_targets(config)]
    return key.with_name(key.name + ".pub").read_text().strip(), targets or [f"ssh-copy-id -i {key}.pub USER@HOST"]


# ---- graph and resolve: from the file alone ------------------------------------------------------------------------
def topology_to_show(environ: Mapping[str, str] | None = None) -> tuple[Topology, Path]:
    """The running lab's topology unless LAB_TOPOLOGY names a file; else the file's (before any lab up)."""
    env = os.environ if environ is None else environ
    _, config = existing_lab(env)
    if config is not None and not env.get("LAB_TOPOLOGY"):
        return config.topology, config.state_dir
    request = up_request(env)
    return request.topology, request.state_dir


def resolved_record(provider: str) -> dict[str, Any]:
    """The lab's resolved record as `lab up` would write it (what vagrant/Vagrantfile reads by hand)."""
    config = configure(up_request(), provider)
    settings = manual_settings(config) if provider == "libvirt" else dict(config.provider_settings)
    return {"provider": provider, "provider_settings": settings, "topology": model.to_json(config.topology)}
