"""The lab's settings and address plan: every LAB_* mistake is one clear error."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from lab.config import LabError, load_config, load_config_of_existing_lab, plan_hosts, save_settings


def config_from(**values: str):
    return load_config(environ=values, root=Path("/nonexistent"))


def test_defaults_give_a_server_at_10_and_one_client_at_11() -> None:
    config = config_from()
    assert [(h.name, h.role, str(h.lab_address)) for h in config.hosts] == [
        ("server", "server", "192.168.56.10/24"),
        ("client1", "client", "192.168.56.11/24"),
    ]
    assert config.provider == "auto" and config.chat_port == 5000
    assert config.inventory_path == Path("/nonexistent/.lab/chatlab/inventory.yml")


def test_five_clients_on_the_seeds_subnet() -> None:
    config = config_from(LAB_CLIENTS="5", LAB_SUBNET="192.168.0.0/24")
    assert [str(h.lab_address.ip) for h in config.hosts] == [f"192.168.0.{n}" for n in range(10, 16)]
    assert len({h.mgmt_address for h in config.hosts}) == 6


def test_management_addresses_are_distinct_from_lan_addresses() -> None:
    hosts = plan_hosts(2, ipaddress.IPv4Network("192.168.56.0/24"), ipaddress.IPv4Network("10.199.56.0/24"))
    assert all(h.mgmt_address.ip in ipaddress.IPv4Network("10.199.56.0/24") for h in hosts)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"LAB_CLIENTS": "0"}, "LAB_CLIENTS=0 is out of range"),
        ({"LAB_CLIENTS": "two"}, "LAB_CLIENTS='two' is not a whole number"),
        ({"LAB_SUBNET": "192.168.56.300/24"}, "LAB_SUBNET='192.168.56.300/24' is not an IPv4 subnet"),
        ({"LAB_SUBNET": "192.168.56.0/29"}, "LAB_SUBNET 192.168.56.0/29 is too small"),
        ({"LAB_SUBNET": "10.199.56.0/24"}, "overlaps the management subnet"),
        ({"LAB_PROVIDER": "docker"}, "LAB_PROVIDER='docker' is not one of auto, nspawn, libvirt"),
        ({"LAB_NAME": "Chat-Lab"}, "LAB_NAME='Chat-Lab' must be"),
        ({"LAB_CHAT_PORT": "70000"}, "LAB_CHAT_PORT=70000 is out of range"),
    ],
)
def test_bad_settings_are_one_clear_error(values: dict[str, str], message: str) -> None:
    with pytest.raises(LabError, match=None) as error:
        config_from(**values)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_later_commands_use_the_settings_the_lab_was_made_with(tmp_path: Path) -> None:
    made = load_config(environ={"LAB_CLIENTS": "5", "LAB_SUBNET": "192.168.0.0/24"}, root=tmp_path)
    save_settings(made)
    later = load_config_of_existing_lab(environ={}, root=tmp_path)
    assert [h.name for h in later.hosts] == ["server", *(f"client{i}" for i in range(1, 6))]
    assert str(later.subnet) == "192.168.0.0/24"


def test_without_a_lab_the_environment_decides(tmp_path: Path) -> None:
    assert load_config_of_existing_lab(environ={"LAB_CLIENTS": "3"}, root=tmp_path).clients == 3


def test_up_again_keeps_the_lab_unless_a_setting_is_given(tmp_path: Path) -> None:
    save_settings(load_config(environ={"LAB_CLIENTS": "5"}, root=tmp_path))
    assert load_config_of_existing_lab(environ={}, root=tmp_path, environment_wins=True).clients == 5
    grown = load_config_of_existing_lab(environ={"LAB_CLIENTS": "7"}, root=tmp_path, environment_wins=True)
    assert grown.clients == 7
    assert load_config_of_existing_lab(environ={"LAB_CLIENTS": "7"}, root=tmp_path).clients == 5
