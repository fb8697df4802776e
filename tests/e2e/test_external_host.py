"""A lab on an existing LAN bridge with a machine the lab did not create (tests/e2e/real_machine.py), end to end:
`lab key` says how to authorize the lab's key, `lab up` says exactly that while it cannot log in, then provisions
and checks the lab's server and the real machine together (the cross-host checks: they talk), learns the machine's
host key once, and `lab down` leaves the bridge and the machine as they were.

Names from the environment, so that each run uses its own: E2E_EXTERNAL_LAB (the lab), E2E_EXTERNAL_BRIDGE and
E2E_EXTERNAL_SUBNET (the LAN), LAB_MGMT_SUBNET (the lab's management network).
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from real_machine import Lan, RealMachine, lan_bridge, real_machine
from repo_paths import REPO

LAB_NAME = os.environ.get("E2E_EXTERNAL_LAB", "e2ex")
BRIDGE = os.environ.get("E2E_EXTERNAL_BRIDGE", "e2ebr0")
SUBNET = ipaddress.IPv4Network(os.environ.get("E2E_EXTERNAL_SUBNET", "192.168.157.0/24"))
MACHINE_HOST_NUMBER = 50

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a bridge, a container, the lab)")


def lab(topology: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LAB_NAME": LAB_NAME, "LAB_TOPOLOGY": str(topology), "LAB_PROVIDER": "nspawn"}
    env.pop("LAB_SUBNET", None)
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def rootfs() -> Path:
    try:
        from lab.images.rootfs import ensure_rootfs  # the layout of #17
    except ImportError:
        from lab.rootfs import ensure_rootfs
    return ensure_rootfs()


@pytest.fixture(scope="module")
def lan() -> Iterator[Lan]:
    with lan_bridge(BRIDGE, SUBNET) as made:
        yield made


@pytest.fixture(scope="module")
def machine(lan: Lan, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealMachine]:
    with real_machine(lan, f"{LAB_NAME}real", MACHINE_HOST_NUMBER, rootfs(),
                      tmp_path_factory.mktemp("machine") / "m") as booted:
        yield booted


@pytest.fixture(scope="module")
def topology(lan: Lan, machine: RealMachine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("topology") / "lan-and-laptop.yml"
    path.write_text(yaml.safe_dump({
        "name": LAB_NAME,
        "provider": "nspawn",
        "networks": {"lan": {"subnet": str(SUBNET), "bridge": lan.bridge}},
        "hosts": {
            "server": {"role": "chat_server", "networks": ["lan"]},
            "laptop": {"role": "chat_client", "provider": "external", "ssh": machine.ssh_target,
                       "networks": {"lan": {"address": str(machine.address.ip), "interface": "eth0"}}},
        },
    }, sort_keys=False))
    yield path
    lab(path, "down")


def test_the_lab_says_how_to_authorize_its_key_then_provisions_the_real_machine_with_its_own(
    lan: Lan, machine: RealMachine, topology: Path
) -> None:
    key = lab(topology, "key")
    assert key.returncode == 0, key.stderr
    public_line = next(line for line in key.stdout.splitlines() if line.startswith("ssh-ed25519 "))
    authorize = f"ssh-copy-id -i {REPO / '.lab' / LAB_NAME / 'ssh' / 'id_ed25519.pub'} {machine.ssh_target}"
    assert authorize in key.stdout.splitlines()

    refused = lab(topology, "up")
    assert refused.returncode != 0
    hint = f"lab: error: laptop: cannot log in to {machine.ssh_target} with the lab's key; authorize it: {authorize}"
    assert hint in refused.stderr.splitlines(), refused.stderr[-2000:]
    assert "password" not in refused.stderr.lower()

    machine.authorize(public_line + "\n")
    up = lab(topology, "up", timeout=600)
    assert up.returncode == 0, (up.stdout + up.stderr)[-4000:]
    assert f"lab '{LAB_NAME}' is up" in up.stdout + up.stderr  # provisioned and checked (the checks passed)
    known = (REPO / ".lab" / LAB_NAME / "ssh" / "known_hosts.external").read_text()
    assert known.count(str(machine.address.ip)) == 1

    again = lab(topology, "up", timeout=600)
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    assert "host key added" not in again.stdout + again.stderr  # learnt once
    assert (REPO / ".lab" / LAB_NAME / "ssh" / "known_hosts.external").read_text().count(str(machine.address.ip)) == 1


def test_lab_down_leaves_the_bridge_and_the_machine_alone(lan: Lan, machine: RealMachine, topology: Path) -> None:
    down = lab(topology, "down")
    assert down.returncode == 0, down.stderr
    addresses = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", lan.bridge], capture_output=True,
                               text=True, check=True).stdout
    assert f"inet {lan.machine_address} " in addresses
    assert machine.running()
    ports = subprocess.run(["ip", "-o", "link", "show", "master", lan.bridge], capture_output=True, text=True,
                           check=True).stdout
    assert f"{machine.name[:11]}e0" in ports and len(ports.splitlines()) == 1  # only the machine's: the lab's gone
