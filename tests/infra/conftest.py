"""Cross-host checks over an Ansible inventory: the container lab's, the VM lab's, or one of real machines.

Run: pytest tests/infra --inventory=PATH (or CHATLAB_INVENTORY=PATH). Groups: chat_servers (one host), chat_clients,
and optionally routers and plain. Variables used: static_ip_interfaces (or static_ip_interface + static_ip_address),
chatlab_server_address, chatlab_chat_port. Which host must reach which, and through which router, follows from
the interfaces' subnets and static routes.

Reference: docs/testing.md#cross-host-checks-testsinfra
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import testinfra
from lab_hosts import LabHost, LabInterface
from site_runs import EVERY_HOST, RERUN_SCOPES, ConvergedRuns, one_of_each_kind, rerun_hosts


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "disruptive: a fault drill that changes the lab and puts it back (moving the "
                                       "interface Ansible uses, killing the chat server, cutting a router); 'lab up' "
                                       "leaves them to 'lab test'")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The read-only checks first, those that wait for the session's site.yml runs after them, the fault drills last
    (they change the lab, which those runs read)."""
    items.sort(key=lambda item: (item.get_closest_marker("disruptive") is not None,
                                 "converged_runs" in getattr(item, "fixturenames", ())))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--inventory", default=os.environ.get("CHATLAB_INVENTORY"),
                     help="Ansible inventory of the hosts to check (default: $CHATLAB_INVENTORY)")
    parser.addoption("--rerun-on", choices=RERUN_SCOPES, default=EVERY_HOST,
                     help="the idempotence rerun of site.yml on every host (the default), or on one host of each "
                          "kind, as check mode ('lab up': each lab's hosts were provisioned by the same run)")


@pytest.fixture(scope="session")
def inventory(pytestconfig: pytest.Config) -> Path:
    value = pytestconfig.getoption("inventory")
    if not value:
        pytest.fail("no inventory: pass --inventory=PATH or set CHATLAB_INVENTORY (make lab-up writes one)")
    path = Path(value)
    if not path.is_file():
        pytest.fail(f"inventory {path} does not exist: is the lab up? (make lab-up)")
    return path


@pytest.fixture(scope="session")
def inventory_data(inventory: Path) -> dict[str, Any]:
    command = shutil.which("ansible-inventory")
    if command is None:
        pytest.fail("ansible-inventory is not on PATH (use the project's venv: make lab-test)")
    listing = subprocess.run([command, "-i", str(inventory), "--list"], check=True, capture_output=True, text=True)
    return json.loads(listing.stdout)


def _interfaces(variables: dict[str, Any]) -> tuple[LabInterface, ...]:
    entries = variables.get("static_ip_interfaces") or [
        {"interface": variables["static_ip_interface"], "address": variables["static_ip_address"]}]
    return tuple(
        LabInterface(entry["interface"], ipaddress.IPv4Interface(entry["address"]),
                     tuple((ipaddress.IPv4Network(route["to"]), ipaddress.IPv4Address(route["via"]))
                           for route in entry.get("routes", [])),
                     ipaddress.IPv4Address(entry["gateway"]) if entry.get("gateway") else None)
        for entry in entries
    )


def _lab_host(name: str, inventory: Path, data: dict[str, Any]) -> LabHost:
    variables = data["_meta"]["hostvars"][name]
    return LabHost(
        name=name,
        host=testinfra.get_host(f"ansible://{name}", ansible_inventory=str(inventory)),
        interfaces=_interfaces(variables),
        chat_port=int(variables["chatlab_chat_port"]),
    )


def _group(data: dict[str, Any], group: str) -> list[str]:
    return list(data.get(group, {}).get("hosts", []))


@pytest.fixture(scope="session")
def server(inventory: Path, inventory_data: dict[str, Any]) -> LabHost:
    names = _group(inventory_data, "chat_servers")
    if len(names) != 1:
        pytest.fail(f"the inventory must have exactly one host in chat_servers, it has {len(names)}")
    return _lab_host(names[0], inventory, inventory_data)


@pytest.fixture(scope="session")
def clients(inventory: Path, inventory_data: dict[str, Any]) -> list[LabHost]:
    names = _group(inventory_data, "chat_clients")
    if not names:
        pytest.fail("the inventory has no host in chat_clients")
    return [_lab_host(name, inventory, inventory_data) for name in names]


@pytest.fixture(scope="session")
def routers(inventory: Path, inventory_data: dict[str, Any]) -> list[LabHost]:
    return [_lab_host(name, inventory, inventory_data) for name in _group(inventory_data, "routers")]


@pytest.fixture(scope="session")
def all_hosts(server: LabHost, clients: list[LabHost], routers: list[LabHost], inventory: Path,
              inventory_data: dict[str, Any]) -> list[LabHost]:
    plain = [_lab_host(name, inventory, inventory_data) for name in _group(inventory_data, "plain")]
    return [server, *clients, *routers, *plain]


@pytest.fixture(scope="session")
def chat_address(inventory_data: dict[str, Any], server: LabHost) -> ipaddress.IPv4Address:
    """Where the clients reach the chat server (the inventory's chatlab_server_address)."""
    return ipaddress.IPv4Address(inventory_data["_meta"]["hostvars"][server.name]["chatlab_server_address"])


@pytest.fixture(scope="session")
def converged_runs(pytestconfig: pytest.Config, inventory: Path,
                   inventory_data: dict[str, Any]) -> Iterator[ConvergedRuns]:
    groups = {group: _group(inventory_data, group) for group in ("chat_servers", "chat_clients", "routers", "plain")}
    hostvars = inventory_data["_meta"]["hostvars"]
    runs = ConvergedRuns(inventory, check_hosts=one_of_each_kind(groups, hostvars),
                         rerun_hosts=rerun_hosts(pytestconfig.getoption("rerun_on"), groups, hostvars))
    yield runs
    runs.close()


@pytest.fixture(scope="session")
def _converged_runs_wanted(request: pytest.FixtureRequest) -> bool:
    """Whether any check of this session reads the converged runs."""
    return any("converged_runs" in getattr(item, "fixturenames", ()) for item in request.session.items)


@pytest.fixture(autouse=True)
def _site_runs_start_first_and_end_before_a_drill(request: pytest.FixtureRequest, _converged_runs_wanted: bool) -> None:
    """The idempotence rerun and the check-mode run start with the first check, when any check of this session
    reads them, so that the read-only checks run meanwhile; a fault drill waits until they are done."""
    if not _converged_runs_wanted:
        return
    runs: ConvergedRuns = request.getfixturevalue("converged_runs")
    if request.node.get_closest_marker("disruptive") is not None:
        runs.wait()
