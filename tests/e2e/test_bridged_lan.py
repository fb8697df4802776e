"""A lab whose LAN is an existing bridge of this machine (`networks.lan.bridge`), end to end, on containers or VMs:
the lab's server and client on the bridge pass the checks, this machine reaches the chat server over the bridge from
its own address there (as a laptop on the LAN would), and `lab down` leaves the bridge exactly as it was (addresses,
flags, no port left, its settings).

Containers by default (part of `make external-e2e`, about 20 s); VMs by hand, as the VM runs are too slow for `make
test`: `sudo make bridged-e2e E2E_BRIDGED_PROVIDER=libvirt` (about 3 min under software emulation). Names from the
environment, so that each run uses its own: E2E_BRIDGED_PROVIDER, E2E_BRIDGED_LAB, E2E_BRIDGED_BRIDGE,
E2E_BRIDGED_SUBNET, E2E_BRIDGED_MGMT (docs/real-networks.md).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from real_machine import Lan, lan_bridge
from repo_paths import REPO

PROVIDER = os.environ.get("E2E_BRIDGED_PROVIDER", "nspawn")
LAB_NAME = os.environ.get("E2E_BRIDGED_LAB", "e2eb")
BRIDGE = os.environ.get("E2E_BRIDGED_BRIDGE", "e2ebr1")
SUBNET = ipaddress.IPv4Network(os.environ.get("E2E_BRIDGED_SUBNET", "192.168.156.0/24"))
MGMT_SUBNET = os.environ.get("E2E_BRIDGED_MGMT", "10.199.62.0/24")
UP_TIMEOUT_S = 1800 if PROVIDER == "libvirt" else 600
SERVER_NUMBER = 10  # the server's planned host number (docs/topology.md): first in the file

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a bridge, the lab's hosts)")


def lab(topology: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LAB_NAME": LAB_NAME, "LAB_TOPOLOGY": str(topology), "LAB_PROVIDER": PROVIDER,
           "LAB_MGMT_SUBNET": MGMT_SUBNET}
    env.pop("LAB_SUBNET", None)
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def bridge_state(bridge: str) -> dict[str, str]:
    """What `lab down` must leave as it was: addresses, the flags the admin sets, ports, the bridge's settings and
    routes. Not what the kernel itself changes as ports come and go: the carrier (a route's `linkdown` once the last
    port has left) and, on a bridge whose MAC was never set, the MAC (its ports' lowest, docs/real-networks.md)."""
    def ip(*args: str) -> str:
        return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout

    sys_net = Path("/sys/class/net") / bridge
    flags = int((sys_net / "flags").read_text(), 16)
    return {
        "addresses": " ".join(sorted(line.split()[3] for line in ip("-o", "addr", "show", "dev", bridge).splitlines()
                                     if "scope global" in line)),
        "up": str(bool(flags & 1)),
        "ports": " ".join(sorted(line.split(":")[1].strip() for line in
                                 ip("-o", "link", "show", "master", bridge).splitlines())),
        "mtu": (sys_net / "mtu").read_text().strip(),
        "stp": (sys_net / "bridge" / "stp_state").read_text().strip(),
        "routes": ip("-4", "route", "show", "dev", bridge).replace(" linkdown", "").strip(),
    }


def greeting(source: ipaddress.IPv4Address, server: ipaddress.IPv4Address, port: int) -> str:
    """The chat server's first line, read over a connection from `source` (this machine's address on the bridge)."""
    with socket.create_connection((str(server), port), timeout=15, source_address=(str(source), 0)) as connection:
        return connection.makefile("r", encoding="utf-8").readline().rstrip("\n")


@pytest.fixture(scope="module")
def lan() -> Iterator[Lan]:
    with lan_bridge(BRIDGE, SUBNET) as made:
        yield made


@pytest.fixture(scope="module")
def topology(lan: Lan, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("topology") / "bridged-lan.yml"
    path.write_text(yaml.safe_dump({
        "name": LAB_NAME,
        "networks": {"lan": {"subnet": str(SUBNET), "bridge": lan.bridge}},
        "hosts": {"server": {"role": "chat_server", "networks": ["lan"]},
                  "client": {"role": "chat_client", "networks": ["lan"], "count": 1}},
    }, sort_keys=False))
    yield path
    lab(path, "down", timeout=600)


def test_a_lab_on_an_existing_bridge_is_reached_over_it_and_leaves_it_as_it_was(lan: Lan, topology: Path) -> None:
    before = bridge_state(lan.bridge)
    up = lab(topology, "up", timeout=UP_TIMEOUT_S)
    assert up.returncode == 0, (up.stdout + up.stderr)[-4000:]
    assert f"lab '{LAB_NAME}' is up" in up.stdout + up.stderr  # provisioned and checked (the checks passed)
    plugged = bridge_state(lan.bridge)["ports"].split()
    assert len(plugged) == 2, f"expected the server's and the client's ports on {lan.bridge}: {plugged}"

    server = SUBNET.network_address + SERVER_NUMBER
    route = subprocess.run(["ip", "-o", "route", "get", str(server), "from", str(lan.machine_address.ip)],
                           capture_output=True, text=True, check=True).stdout
    assert f" dev {lan.bridge} " in route, f"this machine does not reach {server} over {lan.bridge}: {route}"
    line = greeting(lan.machine_address.ip, server, 5000)
    assert line.startswith("* welcome to chatlab!"), f"not the chat server's greeting: {line!r}"

    down = lab(topology, "down", timeout=600)
    assert down.returncode == 0, down.stderr
    assert bridge_state(lan.bridge) == before
