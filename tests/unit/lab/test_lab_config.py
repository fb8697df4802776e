"""Which lab a command works on: the topology file, LAB_* settings on top of it, and the record of a lab that is up."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from lab.config import (
    LabError,
    configure,
    existing_lab,
    up_request,
)
from lab.state import load_state, save_state, state_dir_for


def request(tmp_path: Path, **environ: str):
    return up_request(environ, root=tmp_path)


def test_the_default_is_the_seed_lab(tmp_path: Path) -> None:
    wanted = request(tmp_path)
    assert wanted.topology.name == "chatlab" and wanted.topology.source == "labs/seed.yml"
    config = configure(wanted, "nspawn")
    assert [(h.name, h.role, str(h.lab_address), str(h.mgmt_address)) for h in config.hosts] == [
        ("server", "chat_server", "192.168.56.10/24", "10.199.56.10/24"),
        ("client1", "chat_client", "192.168.56.11/24", "10.199.56.11/24"),
    ]
    assert config.inventory_path == tmp_path / ".lab" / "chatlab" / "inventory.yml"


def test_each_provider_has_its_own_default_management_subnet(tmp_path: Path) -> None:
    assert str(configure(request(tmp_path), "libvirt").mgmt_subnet) == "10.199.57.0/24"
    assert str(configure(request(tmp_path, LAB_MGMT_SUBNET="10.77.0.0/24"), "libvirt").mgmt_subnet) == "10.77.0.0/24"


def test_lab_settings_override_the_default_topology(tmp_path: Path) -> None:
    config = configure(request(tmp_path, LAB_CLIENTS="5", LAB_SUBNET="192.168.0.0/24", LAB_CHAT_PORT="6000",
                               LAB_NAME="five"), "nspawn")
    assert [str(h.lab_address.ip) for h in config.hosts] == [f"192.168.0.{n}" for n in range(10, 16)]
    assert config.chat_port == 6000 and config.name == "five"
    assert config.state_dir == tmp_path / ".lab" / "five"


def test_lab_subnet_moves_the_networks_gateway_with_it(tmp_path: Path) -> None:
    config = configure(request(tmp_path, LAB_TOPOLOGY="labs/single-nic.yml", LAB_SUBNET="192.168.158.0/24"),
                       "nspawn")
    lan = config.topology.network("lan")
    assert str(lan.subnet) == "192.168.158.0/24" and str(lan.gateway) == "192.168.158.1"  # .1 in both
    assert [str(h.interfaces[0].gateway) for h in config.hosts] == ["192.168.158.1", "192.168.158.1"]


def test_another_topology_file_names_its_own_lab(tmp_path: Path) -> None:
    wanted = request(tmp_path, LAB_TOPOLOGY="labs/routed.yml")
    assert wanted.topology.name == "routed" and wanted.state_dir == tmp_path / ".lab" / "routed"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LAB_CLIENTS": "0"}, "hosts.client.count: 0 is out of range (1..40) (from LAB_CLIENTS=0)"),
        ({"LAB_CLIENTS": "two"}, "LAB_CLIENTS='two' is not a whole number"),
        ({"LAB_SUBNET": "192.168.56.300/24"}, "'192.168.56.300/24' is not an IPv4 subnet"),
        ({"LAB_SUBNET": "192.168.56.0/29"}, "is too small for host number 10"),
        ({"LAB_PROVIDER": "docker"}, "provider: 'docker' is not one of auto, nspawn, libvirt (from LAB_PROVIDER"),
        ({"LAB_NAME": "Chat-Lab"}, "name: 'Chat-Lab' is not a lab name"),
        ({"LAB_CHAT_PORT": "70000"}, "chat.port: 70000 is out of range (1..65535) (from LAB_CHAT_PORT=70000)"),
        ({"LAB_TOPOLOGY": "labs/routed.yml", "LAB_SUBNET": "10.1.0.0/24"}, "LAB_SUBNET works with a topology of one"),
        ({"LAB_TOPOLOGY": "labs/none.yml"}, "labs/none.yml: cannot read it"),
    ],
)
def test_bad_settings_are_one_clear_error(tmp_path: Path, environ: dict[str, str], message: str) -> None:
    with pytest.raises(LabError) as error:
        request(tmp_path, **environ)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_lab_clients_needs_one_counted_client_entry(tmp_path: Path) -> None:
    fixed = tmp_path / "fixed.yml"
    fixed.write_text("name: fixed\nnetworks: {lan: {subnet: 10.1.0.0/24}}\n"
                     "hosts: {s: {role: chat_server, networks: [lan]}, c: {role: chat_client, networks: [lan]}}\n")
    with pytest.raises(LabError, match=r"LAB_CLIENTS works with a topology that has one chat_client entry with a "
                                       r"'count' \(like labs/seed.yml\); edit .*fixed.yml's hosts instead"):
        request(tmp_path, LAB_TOPOLOGY=str(fixed), LAB_CLIENTS="3")
    assert len(request(tmp_path, LAB_TOPOLOGY="labs/routed.yml", LAB_CLIENTS="3").topology.hosts) == 5


def test_a_lan_inside_the_management_subnet_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LabError, match=r"overlaps the management subnet 10\.199\.56\.0/24"):
        configure(request(tmp_path, LAB_SUBNET="10.199.56.0/24"), "nspawn")


def test_the_record_of_a_lab_reads_back_the_same(tmp_path: Path) -> None:
    config = configure(request(tmp_path, LAB_TOPOLOGY="labs/routed.yml"), "libvirt")
    save_state(config)
    assert load_state(config.state_dir) == config
    name, found = existing_lab({"LAB_TOPOLOGY": "labs/routed.yml"}, root=tmp_path)
    assert name == "routed" and found == config


def test_up_again_keeps_the_running_labs_settings_and_says_which(tmp_path: Path) -> None:
    save_state(configure(request(tmp_path, LAB_CLIENTS="5", LAB_MGMT_SUBNET="10.77.0.0/24"), "nspawn"))
    again = request(tmp_path)
    assert again.kept == {"LAB_CLIENTS": "5", "LAB_MGMT_SUBNET": "10.77.0.0/24"}
    assert len(again.topology.hosts) == 6
    assert str(configure(again, "nspawn").mgmt_subnet) == "10.77.0.0/24"
    grown = request(tmp_path, LAB_CLIENTS="7")
    assert grown.kept == {"LAB_MGMT_SUBNET": "10.77.0.0/24"} and len(grown.topology.hosts) == 8


def test_a_running_labs_management_subnet_is_kept_for_its_provider(tmp_path: Path) -> None:
    made = configure(request(tmp_path), "libvirt")
    save_state(made)
    assert configure(request(tmp_path), "libvirt").mgmt_subnet == ipaddress.IPv4Network("10.199.57.0/24")
    save_state(configure(request(tmp_path, LAB_MGMT_SUBNET="10.77.0.0/24"), "libvirt"))
    again = request(tmp_path, LAB_TOPOLOGY="labs/seed.yml")  # a file named again: no setting is kept from it
    assert again.kept == {} and again.topology.mgmt_subnet is None
    assert configure(again, "libvirt").mgmt_subnet == ipaddress.IPv4Network("10.77.0.0/24")  # the VMs' network
    assert configure(again, "nspawn").mgmt_subnet == ipaddress.IPv4Network("10.199.56.0/24")  # not the provider's


def test_vms_get_no_planned_management_address_containers_do(tmp_path: Path) -> None:
    """libvirt's DHCP gives the VMs their management addresses: the record must not claim others."""
    assert [h.mgmt_address for h in configure(request(tmp_path), "libvirt").hosts] == [None, None]
    assert [str(h.mgmt_address) for h in configure(request(tmp_path), "nspawn").hosts] == [
        "10.199.56.10/24", "10.199.56.11/24"]


def test_a_lab_name_that_is_no_lab_name_is_refused_by_every_command(tmp_path: Path) -> None:
    with pytest.raises(LabError, match=r"name: '\.\./x' is not a lab name .* \(from LAB_NAME=\.\./x\)"):
        existing_lab({"LAB_NAME": "../x"}, root=tmp_path)


def test_a_damaged_record_is_one_line(tmp_path: Path) -> None:
    state = state_dir_for("chatlab", tmp_path)
    state.mkdir(parents=True)
    (state / "topology.json").write_text("{not json")
    with pytest.raises(LabError, match=r"topology\.json is damaged"):
        load_state(state)
