"""The Ansible inventory of a lab, rendered from its resolved topology: one shape for every provider, so site.yml
and tests/infra just work (and read the same variables on an inventory of real machines).

Reference: docs/ansible.md (the variables it sets), docs/testing.md (the checks that read them)
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from lab.model import Connection, Host
from lab.plumbing.ssh import CONTROL_PERSIST, control_dir
from lab.state import LabConfig

# inventory group of each role (site.yml and tests/infra use these names)
# The lab's chat server takes this many connections from one address (its default, 50, guards a real server):
# `lab bench` runs its 1,000 connections from one client host (docs/conditions.md).
BENCH_CONNECTIONS_PER_ADDRESS = 2000
GROUPS = {"chat_server": "chat_servers", "chat_client": "chat_clients", "router": "routers", "plain": "plain"}


def static_ip_interfaces(host: Host, names: dict[str, str]) -> list[dict[str, Any]]:
    """The static_ip role's `static_ip_interfaces` of a host: each lab interface with its address, its default
    route's gateway (if it has one) and its static routes."""
    entries = []
    for interface in host.interfaces:
        entry: dict[str, Any] = {"interface": names.get(interface.network, interface.name),
                                 "address": str(interface.address)}
        if interface.gateway is not None:  # its default route (the one-NIC network's gateway)
            entry["gateway"] = str(interface.gateway)
        if interface.routes:
            entry["routes"] = [{"to": str(route.to), "via": str(route.via)} for route in interface.routes]
        entries.append(entry)
    return entries


def inventory_data(config: LabConfig, connections: list[Connection]) -> dict[str, Any]:
    by_name = {connection.host: connection for connection in connections}

    def host_vars(host: Host) -> dict[str, Any]:
        connection = by_name[host.name]
        values: dict[str, Any] = {"ansible_host": connection.address}
        if connection.port != 22:
            values["ansible_port"] = connection.port
        if connection.user != "root":
            values["ansible_user"] = connection.user
        if connection.key_file:
            values["ansible_ssh_private_key_file"] = connection.key_file
        values["static_ip_interfaces"] = static_ip_interfaces(host, connection.interface_names)
        if host.role == "chat_server":  # `lab bench` opens many connections from one client host
            values["chat_server_extra_args"] = ["--max-clients-per-address", str(BENCH_CONNECTIONS_PER_ADDRESS)]
        return values

    common_args = (
        f"-o 'UserKnownHostsFile={config.known_hosts_files}' -o StrictHostKeyChecking=yes "
        f"-o ControlMaster=auto -o ControlPath={control_dir(config)}/%C -o ControlPersist={CONTROL_PERSIST}"
    )
    topology = config.topology
    children = {group: {"hosts": {h.name: host_vars(h) for h in topology.hosts if h.role == role}}
                for role, group in GROUPS.items()}
    return {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(config.key_path),
                "ansible_ssh_common_args": common_args,
                "ansible_python_interpreter": "/usr/bin/python3",
                "chatlab_lab_name": config.name,
                "chatlab_server_address": str(topology.chat_server.lab_address.ip),
                "chatlab_chat_port": config.chat_port,
                # the lab's client hosts get an IRC client too (WeeChat, baked into the hosts' root filesystem)
                "chat_client_irc_client": True,
            },
            "children": children,
        }
    }


def moved_to_static(config: LabConfig, connections: list[Connection]) -> list[Connection]:
    """On a shared management network (the one-NIC case) site.yml moves each host from its temporary address to
    its static one: the connections from then on."""
    network = config.topology.mgmt_network
    if network is None:
        return connections
    moved = []
    for connection in connections:
        interface = config.topology.host(connection.host).interface_on(network)
        moved.append(replace(connection, address=str(interface.address.ip)) if interface else connection)
    return moved


def write_inventory(config: LabConfig, connections: list[Connection]) -> Path:
    path = config.inventory_path
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# Written by the chatlab lab driver for lab {config.name!r} from {config.state_path.name}; "
              f"rewritten by every 'make lab-up'.\n")
    temporary = path.with_suffix(".tmp")
    temporary.write_text(header + yaml.safe_dump(inventory_data(config, connections), sort_keys=False))
    temporary.replace(path)
    return path


def read_connections(config: LabConfig) -> dict[str, Connection]:
    """The connections of the lab's inventory (what write_inventory wrote), by host name; empty when it has none."""
    if not config.inventory_path.is_file():
        return {}
    data = yaml.safe_load(config.inventory_path.read_text())
    hosts = {name: values for group in data["all"]["children"].values()
             for name, values in (group.get("hosts") or {}).items()}
    connections = {}
    for name, values in hosts.items():
        written = values.get("static_ip_interfaces", [])  # in the order of the host's interfaces
        renamed = {interface.network: entry["interface"]
                   for interface, entry in zip(config.topology.host(name).interfaces, written, strict=False)
                   if entry["interface"] != interface.name}
        connections[name] = Connection(name, values["ansible_host"], int(values.get("ansible_port", 22)),
                                       values.get("ansible_user", "root"), values.get("ansible_ssh_private_key_file"),
                                       renamed)
    return connections
