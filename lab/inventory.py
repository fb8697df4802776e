"""The Ansible inventory every provider writes for its lab: one shape, so site.yml and tests/infra just work."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab.config import LAB_INTERFACE, LabConfig
from lab.ssh import control_dir, key_path, known_hosts_path


@dataclass(frozen=True)
class Connection:
    """How Ansible reaches one lab host over management."""

    host: str
    address: str
    port: int = 22
    user: str = "root"
    lab_interface: str = LAB_INTERFACE
    key_file: str | None = None  # None: the lab's own key (lab.ssh.key_path)


def inventory_data(config: LabConfig, connections: list[Connection]) -> dict[str, Any]:
    plans = {plan.name: plan for plan in config.hosts}

    def host_vars(connection: Connection) -> dict[str, Any]:
        values: dict[str, Any] = {
            "ansible_host": connection.address,
            "static_ip_interface": connection.lab_interface,
            "static_ip_address": str(plans[connection.host].lab_address),
        }
        if connection.port != 22:
            values["ansible_port"] = connection.port
        if connection.user != "root":
            values["ansible_user"] = connection.user
        if connection.key_file:
            values["ansible_ssh_private_key_file"] = connection.key_file
        return values

    common_args = (
        f"-o UserKnownHostsFile={known_hosts_path(config)} -o StrictHostKeyChecking=yes "
        f"-o ControlMaster=auto -o ControlPath={control_dir(config)}/%C -o ControlPersist=60s"
    )
    by_role = {role: [c for c in connections if plans[c.host].role == role] for role in ("server", "client")}
    return {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(key_path(config)),
                "ansible_ssh_common_args": common_args,
                "ansible_python_interpreter": "/usr/bin/python3",
                "chatlab_lab_name": config.name,
                "chatlab_chat_port": config.chat_port,
            },
            "children": {
                "chat_servers": {"hosts": {c.host: host_vars(c) for c in by_role["server"]}},
                "chat_clients": {"hosts": {c.host: host_vars(c) for c in by_role["client"]}},
            },
        }
    }


def write_inventory(config: LabConfig, connections: list[Connection]) -> Path:
    path = config.inventory_path
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Written by the chatlab lab driver for lab {config.name!r}; rewritten by every 'make lab-up'.\n"
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
    return {name: Connection(name, values["ansible_host"], int(values.get("ansible_port", 22)),
                             values.get("ansible_user", "root"), values["static_ip_interface"],
                             values.get("ansible_ssh_private_key_file"))
            for name, values in hosts.items()}
