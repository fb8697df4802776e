"""The seed's one-NIC case, for real: site.yml moves the address of the very interface Ansible is connected through.

The server's management interface plays the single NIC. A new address Ansible can reach: the play reconnects to it
and confirms, and moving back the same way leaves the host as it was. A new address Ansible cannot reach: the play
fails the host with one line, and the host rolls back by itself (systemd timer on the lab's hosts) and answers SSH at
its old address again, with its file byte for byte and nothing else changed.

The unreachable address is a /32 inside the management subnet: the host then has no route back to the controller,
and every packet of the attempt stays on the lab's own management network.

The management interface is a static ifupdown stanza (containers) or the installer's ``iface eth0 inet dhcp`` (VMs:
docs/real-networks.md). For DHCP the rollback drill runs first: the host rolls back to DHCP (ifup starts dhclient
again, which gets the same lease). The move drill then moves it to a static address and back to its old address,
static from then on, as `lab up` leaves a one-NIC host: site.yml writes static stanzas only.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import testinfra
import yaml
from lab_hosts import LabHost
from outputs import addresses, failure_messages, rollback_ended_with, routes, stanza_address, task_result
from site_runs import play

from netconfig.interfaces import current_static, parse, parse_static_address

INTERFACES = "/etc/network/interfaces"
CONFIRM_TIMEOUT = 30  # seconds; static_ip_confirm_timeout of the runs below
ROLLBACK_TIMEOUT = 12  # seconds, for the run that must fail
ANSWER_GRACE = 15  # seconds after the rollback is due for SSH to answer at the old address
MOVED_HOST_PART = 50  # the new address: .50 of the management subnet (free in every lab: hosts start at .10)

pytestmark = pytest.mark.disruptive


@dataclass(frozen=True)
class Management:
    """The server's management interface: the one Ansible is connected through."""

    iface: str
    address: ipaddress.IPv4Interface
    hostvars: dict[str, Any]
    dhcp: bool  # the installer's `iface IFACE inet dhcp` (a VM's eth0), else a static stanza at `address`


@pytest.fixture
def management(server: LabHost, inventory_data: dict[str, Any]) -> Management:
    hostvars = inventory_data["_meta"]["hostvars"][server.name]
    if "chatlab_lab_name" not in hostvars:
        pytest.skip("not a lab inventory (no chatlab_lab_name): a real machine's interface is not moved to test "
                    "addresses")
    connected = hostvars["ansible_host"]
    fields = server.host.check_output(f"ip -o -4 addr show to {connected}/32").split()
    assert fields, f"no interface of {server.name} holds {connected}"
    iface, address = fields[1], ipaddress.IPv4Interface(fields[3])
    if str(address.ip) == hostvars.get("chatlab_server_address"):
        pytest.skip(f"{server.name}'s only interface {iface} carries the chat too (a one-NIC lab): moving it would "
                    f"take the chat away; 'lab up' itself moved it there with a confirmed change, which the other "
                    f"checks prove")
    text = server.host.file(INTERFACES).content_string
    dhcp = [stanza.method for stanza in parse(text).iface_stanzas(iface, "inet")] == ["dhcp"]
    if not dhcp and current_static(text, iface) != parse_static_address(str(address)):
        pytest.skip(f"{server.name}'s management interface {iface} is neither a static ifupdown stanza at {address} "
                    f"nor an `inet dhcp` one in {INTERFACES}: the one-NIC move needs ifupdown to own it")
    return Management(iface, address, hostvars, dhcp)


def _snapshot(host: Any) -> dict[str, Any]:
    return {
        "file": host.file(INTERFACES).content,  # bytes
        "addresses": addresses(host.check_output("ip -4 -o addr show")),  # sets: a rollback may reorder them
        "routes": routes(host.check_output("ip -4 route show table main")),
        "chat": host.service("chatlab-chat").is_running if host.exists("systemctl") else None,
    }


def _netconfig_state(host: Any, name: str) -> str | None:
    """A file of netconfig's state directory (root's only) as text, None when it does not exist: read as root,
    since a VM is reached as a sudo user."""
    with host.sudo():
        state = host.file(f"/run/network/netconfig/{name}")
        return state.content_string if state.exists else None


def _interfaces_var(iface: str, address: str, timeout: int) -> str:
    return json.dumps({"static_ip_interfaces": [{"interface": iface, "address": address}],
                       "static_ip_confirm_timeout": timeout})


def _inventory_reaching(inventory: Path, name: str, address: str, key_alias: str, tmp_path: Path) -> Path:
    """A copy of the inventory that reaches `name` at `address`, with the host key known for `key_alias`."""
    data = yaml.safe_load(inventory.read_text())

    def find(group: dict[str, Any]) -> dict[str, Any] | None:
        if name in (group.get("hosts") or {}):
            return group["hosts"][name]
        return next((found for child in (group.get("children") or {}).values() if (found := find(child or {}))),
                    None)

    host = find(data["all"])
    assert host is not None, f"{name} is not in {inventory}"
    host.update(ansible_host=address, ansible_ssh_extra_args=f"-o HostKeyAlias={key_alias}")
    path = tmp_path / "inventory-moved.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def _ssh(hostvars: dict[str, Any], address: str, *command: str, timeout: float = 5) -> int:
    """Plain ssh (no shared connection) to `address` with the inventory's key and options; its exit status."""
    argv = ["ssh", "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=2", *shlex.split(hostvars.get("ansible_ssh_common_args", "")),
            *(["-i", hostvars["ansible_ssh_private_key_file"]] if "ansible_ssh_private_key_file" in hostvars else []),
            f"{hostvars.get('ansible_user', 'root')}@{address}", *command]
    try:
        return subprocess.run(argv, capture_output=True, timeout=timeout, check=False).returncode
    except subprocess.TimeoutExpired:
        return 255


def _close_shared_connection(hostvars: dict[str, Any], address: str) -> None:
    """The shared SSH connection to `address` saw the address go away: close it, later runs open a fresh one."""
    subprocess.run(["ssh", *shlex.split(hostvars.get("ansible_ssh_common_args", "")), "-O", "exit",
                    f"{hostvars.get('ansible_user', 'root')}@{address}"], capture_output=True, timeout=10, check=False)


@pytest.fixture
def moved_back(server: LabHost, management: Management, inventory: Path, tmp_path: Path) -> Iterator[list[Path]]:
    """Yields a list the test puts the inventory of a moved host in; afterwards moves it back if it is still moved."""
    moved: list[Path] = []
    yield moved
    if moved and _ssh(management.hostvars, str(management.address.ip), "true") != 0:
        play(moved[0], "--limit", server.name, "-e", _interfaces_var(management.iface, str(management.address),
                                                                     CONFIRM_TIMEOUT))
    _close_shared_connection(management.hostvars, str(management.address.ip))


def test_an_unreachable_new_address_fails_the_host_and_the_host_rolls_back_by_itself(
    server: LabHost, management: Management, inventory: Path
) -> None:
    before = _snapshot(server.host)
    old_ip = str(management.address.ip)
    unreachable = ipaddress.IPv4Interface(f"{management.address.network[MOVED_HOST_PART + 1]}/32")
    started = time.monotonic()
    result = play(inventory, "--limit", server.name, "-e",
                  _interfaces_var(management.iface, str(unreachable), ROLLBACK_TIMEOUT))
    assert result.returncode != 0, "site.yml reported success with an address it cannot reach"
    message = failure_messages(result.stdout).get(server.name, "")  # the YAML callback may fold it
    assert re.match(rf"{management.iface}: {unreachable.ip} not reachable from here; the host rolls back to "
                    rf"{re.escape(old_ip)} by itself at \d\d:\d\d:\d\d", message), result.stdout[-3000:]
    assert "'dict object'" not in result.stdout

    deadline = started + ROLLBACK_TIMEOUT + ANSWER_GRACE
    while _ssh(management.hostvars, old_ip, "true") != 0:
        assert time.monotonic() < deadline, f"{server.name} does not answer SSH at {old_ip} after its rollback"
        time.sleep(1)
    _close_shared_connection(management.hostvars, old_ip)
    assert _snapshot(server.host) == before
    log = _netconfig_state(server.host, "netconfig.log") or ""
    assert rollback_ended_with(log, management.iface, str(management.address), why="timer"), log[-2000:]
    if server.host.exists("journalctl"):
        with server.host.sudo():  # the system journal is root's (a VM is reached as a sudo user)
            journal = server.host.check_output("journalctl -u netconfig-rollback.service --no-pager -n 20")
        assert "netconfig: rolled back:" in journal


def test_site_moves_the_interface_ansible_uses_reconnects_and_confirms(
    server: LabHost, management: Management, inventory: Path, tmp_path: Path, moved_back: list[Path]
) -> None:
    before = _snapshot(server.host)
    network = management.address.network
    new = ipaddress.IPv4Interface(f"{network[MOVED_HOST_PART]}/{network.prefixlen}")
    assert new != management.address
    old_ip = str(management.address.ip)
    moved_inventory = _inventory_reaching(inventory, server.name, str(new.ip), old_ip, tmp_path)
    moved_back.append(moved_inventory)

    result = play(inventory, "--limit", server.name, "-e", _interfaces_var(management.iface, str(new), CONFIRM_TIMEOUT))
    assert result.returncode == 0, f"site.yml failed:\n{result.stdout[-3000:]}{result.stderr}"
    assert task_result(result.stdout, "static_ip : Confirm the change", server.name) in ("changed", "ok"), \
        result.stdout[-3000:]
    moved = testinfra.get_host(f"ansible://{server.name}", ansible_inventory=str(moved_inventory))
    assert f"inet {new} " in moved.check_output(f"ip -o -4 addr show dev {management.iface}")
    assert stanza_address(moved.file(INTERFACES).content_string, management.iface) == new  # confirmed: written
    assert _netconfig_state(moved, "armed") is None
    assert "confirmed: " in (_netconfig_state(moved, "netconfig.log") or "")

    back = play(moved_inventory, "--limit", server.name, "-e",
                _interfaces_var(management.iface, str(management.address), CONFIRM_TIMEOUT))
    assert back.returncode == 0, f"site.yml (moving back) failed:\n{back.stdout[-3000:]}{back.stderr}"
    _close_shared_connection(management.hostvars, str(new.ip))
    _close_shared_connection(management.hostvars, old_ip)
    after = _snapshot(server.host)
    if management.dhcp:  # back at its old address, now a static stanza (no dhclient left: test_network checks it)
        assert stanza_address(after.pop("file").decode(), management.iface) == management.address
        before.pop("file")
    assert after == before
