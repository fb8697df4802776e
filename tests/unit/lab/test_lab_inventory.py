"""The inventory rendered from a lab's topology: groups, addresses, routes and SSH settings that site.yml and
tests/infra use."""

from __future__ import annotations

from pathlib import Path

import yaml

from lab.config import configure, up_request
from lab.model import Connection
from lab.outputs.inventory import inventory_data, moved_to_static, read_connections, write_inventory
from lab.state import LabConfig


def lab(tmp_path: Path, **environ: str) -> LabConfig:
    return configure(up_request(environ, root=tmp_path), "nspawn")


def management(config: LabConfig) -> list[Connection]:
    return [Connection(h.name, str(h.mgmt_address.ip)) for h in config.hosts]


def test_inventory_groups_hosts_with_their_lan_addresses(tmp_path: Path) -> None:
    config = lab(tmp_path, LAB_CLIENTS="2")
    data = inventory_data(config, management(config))["all"]
    assert list(data["children"]["chat_servers"]["hosts"]) == ["server"]
    assert list(data["children"]["chat_clients"]["hosts"]) == ["client1", "client2"]
    assert data["children"]["routers"]["hosts"] == {}
    client2 = data["children"]["chat_clients"]["hosts"]["client2"]
    assert client2 == {"ansible_host": "10.199.56.12",
                       "static_ip_interfaces": [{"interface": "eth1", "address": "192.168.56.12/24"}]}
    assert "StrictHostKeyChecking=yes" in data["vars"]["ansible_ssh_common_args"]
    assert data["vars"]["chatlab_chat_port"] == 5000
    assert data["vars"]["chatlab_server_address"] == "192.168.56.10"


def test_routed_lab_hosts_get_their_routes_and_the_router_its_group(tmp_path: Path) -> None:
    config = lab(tmp_path, LAB_TOPOLOGY="labs/routed.yml", LAB_MGMT_SUBNET="10.199.67.0/24")
    children = inventory_data(config, management(config))["all"]["children"]
    assert list(children["routers"]["hosts"]) == ["router"]
    assert children["routers"]["hosts"]["router"]["static_ip_interfaces"] == [
        {"interface": "eth1", "address": "192.168.56.1/24"}, {"interface": "eth2", "address": "192.168.57.1/24"}]
    assert children["chat_clients"]["hosts"]["client1"]["static_ip_interfaces"] == [
        {"interface": "eth1", "address": "192.168.57.12/24",
         "routes": [{"to": "192.168.56.0/24", "via": "192.168.57.1"}]}]


def test_vm_style_connections_keep_their_port_user_and_guest_interface_names(tmp_path: Path) -> None:
    config = lab(tmp_path)
    connections = [Connection("server", "127.0.0.1", port=2201, user="vagrant", interface_names={"lan": "ens6"}),
                   Connection("client1", "127.0.0.1", port=2202, user="vagrant")]
    server = inventory_data(config, connections)["all"]["children"]["chat_servers"]["hosts"]["server"]
    assert server["ansible_port"] == 2201 and server["ansible_user"] == "vagrant"
    assert server["static_ip_interfaces"] == [{"interface": "ens6", "address": "192.168.56.10/24"}]


def test_written_inventory_is_yaml_that_reads_back(tmp_path: Path) -> None:
    config = lab(tmp_path)
    path = write_inventory(config, management(config))
    assert path == config.inventory_path
    assert yaml.safe_load(path.read_text()) == inventory_data(config, management(config))


def test_connections_read_back_from_the_written_inventory(tmp_path: Path) -> None:
    config = lab(tmp_path)
    assert read_connections(config) == {}  # no lab, no inventory
    connections = [Connection("server", "10.199.57.10", port=2201, user="vagrant", key_file="/k/server"),
                   Connection("client1", "10.199.57.11", interface_names={"lan": "ens6"})]
    write_inventory(config, connections)
    assert read_connections(config) == {c.host: c for c in connections}


def test_one_nic_hosts_are_reached_at_their_static_address_once_provisioned(tmp_path: Path) -> None:
    config = lab(tmp_path, LAB_TOPOLOGY="labs/single-nic.yml")
    booted = management(config)
    assert [c.address for c in booted] == ["192.168.60.100", "192.168.60.101"]
    assert [c.address for c in moved_to_static(config, booted)] == ["192.168.60.10", "192.168.60.11"]
    server = inventory_data(config, booted)["all"]["children"]["chat_servers"]["hosts"]["server"]
    assert server["static_ip_interfaces"] == [{"interface": "eth0", "address": "192.168.60.10/24",
                                                "gateway": "192.168.60.1"}]  # the default route DHCP gave
    assert moved_to_static(lab(tmp_path), management(lab(tmp_path))) == management(lab(tmp_path))


def test_only_the_network_shared_as_management_gives_a_default_gateway(tmp_path: Path) -> None:
    """The routed lab's networks have gateways (its router's addresses), but hosts reach other networks by their
    static routes there: no default route is written."""
    config = lab(tmp_path, LAB_TOPOLOGY="labs/routed.yml", LAB_MGMT_SUBNET="10.199.67.0/24")
    children = inventory_data(config, management(config))["all"]["children"]
    entries = [entry for group in children.values() for host in group["hosts"].values()
               for entry in host["static_ip_interfaces"]]
    assert entries and not [entry for entry in entries if "gateway" in entry]
