"""The inventory every provider writes: groups, addresses and SSH settings that site.yml and tests/infra use."""

from __future__ import annotations

from pathlib import Path

import yaml

from lab.config import load_config
from lab.inventory import Connection, inventory_data, read_connections, write_inventory


def test_inventory_groups_hosts_with_their_lan_addresses(tmp_path: Path) -> None:
    config = load_config(environ={"LAB_CLIENTS": "2"}, root=tmp_path)
    connections = [Connection(h.name, str(h.mgmt_address.ip)) for h in config.hosts]
    data = inventory_data(config, connections)["all"]
    assert list(data["children"]["chat_servers"]["hosts"]) == ["server"]
    assert list(data["children"]["chat_clients"]["hosts"]) == ["client1", "client2"]
    client2 = data["children"]["chat_clients"]["hosts"]["client2"]
    assert client2 == {"ansible_host": "10.199.56.12", "static_ip_interface": "eth1",
                       "static_ip_address": "192.168.56.12/24"}
    assert "StrictHostKeyChecking=yes" in data["vars"]["ansible_ssh_common_args"]
    assert data["vars"]["chatlab_chat_port"] == 5000


def test_vm_style_connections_keep_their_port_and_user(tmp_path: Path) -> None:
    config = load_config(environ={}, root=tmp_path)
    connections = [Connection("server", "127.0.0.1", port=2201, user="vagrant"),
                   Connection("client1", "127.0.0.1", port=2202, user="vagrant")]
    server = inventory_data(config, connections)["all"]["children"]["chat_servers"]["hosts"]["server"]
    assert server["ansible_port"] == 2201 and server["ansible_user"] == "vagrant"


def test_written_inventory_is_yaml_that_reads_back(tmp_path: Path) -> None:
    config = load_config(environ={}, root=tmp_path)
    path = write_inventory(config, [Connection(h.name, str(h.mgmt_address.ip)) for h in config.hosts])
    assert path == config.inventory_path
    assert yaml.safe_load(path.read_text()) == inventory_data(
        config, [Connection(h.name, str(h.mgmt_address.ip)) for h in config.hosts])


def test_connections_read_back_from_the_written_inventory(tmp_path: Path) -> None:
    config = load_config(environ={}, root=tmp_path)
    assert read_connections(config) == {}  # no lab, no inventory
    connections = [Connection("server", "10.199.57.10", port=2201, user="vagrant", key_file="/k/server"),
                   Connection("client1", "10.199.57.11", lab_interface="ens6")]
    write_inventory(config, connections)
    assert read_connections(config) == {c.host: c for c in connections}
