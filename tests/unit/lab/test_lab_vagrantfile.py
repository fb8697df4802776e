"""vagrant/Vagrantfile: valid for any resolved topology, and strict about the libvirt driver (needs vagrant; else
skipped)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from repo_paths import REPO

from lab.config import configure, up_request
from lab.model import to_json
from lab.providers.libvirt.tools import ensure_libvirtd

VAGRANT_DIR = REPO / "vagrant"

pytestmark = pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant is not installed")


def state_file(tmp_path: Path, driver: str = "qemu", **environ: str) -> Path:
    config = configure(up_request(environ, root=tmp_path), "libvirt")
    record = {"provider": "libvirt", "topology": to_json(config.topology),
              "provider_settings": {"LAB_BOX": "chatlab/bookworm64", "LAB_LIBVIRT_DRIVER": driver,
                                    "LAB_VM_MEMORY": "512", "LAB_CONSOLE_DIR": str(tmp_path)}}
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(record))
    return path


def vagrant(tmp_path: Path, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VAGRANT_CWD": str(VAGRANT_DIR), "VAGRANT_DOTFILE_PATH": str(tmp_path / "dot"),
           "VAGRANT_CHECKPOINT_DISABLE": "1", "LAB_STATE": str(state)}
    return subprocess.run(["vagrant", *args, "--no-color"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_vagrantfile_is_valid_for_the_routed_lab_and_defines_its_machines(tmp_path: Path) -> None:
    state = state_file(tmp_path, LAB_TOPOLOGY="labs/routed.yml")
    assert vagrant(tmp_path, state, "validate").returncode == 0
    listing = vagrant(tmp_path, state, "status")
    assert [name for name in ("server", "router", "client1", "client2") if f"\n{name} " in listing.stdout] == [
        "server", "router", "client1", "client2"], listing.stdout


def test_vagrantfile_refuses_an_unknown_driver(tmp_path: Path) -> None:
    result = vagrant(tmp_path, state_file(tmp_path, driver="host"), "validate")
    assert result.returncode != 0
    assert "LAB_LIBVIRT_DRIVER must be kvm or qemu" in result.stdout + result.stderr


def test_vagrantfile_by_hand_resolves_the_default_lab(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAB_")}
    env.update(VAGRANT_CWD=str(VAGRANT_DIR), VAGRANT_DOTFILE_PATH=str(tmp_path / "dot"),
               VAGRANT_CHECKPOINT_DISABLE="1", LAB_LIBVIRT_DRIVER="qemu")
    listing = subprocess.run(["vagrant", "status", "--no-color"], env=env, capture_output=True, text=True,
                             timeout=120, check=False)
    assert listing.returncode == 0, listing.stderr
    assert "\nserver " in listing.stdout and "\nclient1 " in listing.stdout


def test_vagrantfile_makes_the_one_nic_labs_network_vagrants_management_network(tmp_path: Path) -> None:
    state = state_file(tmp_path, LAB_TOPOLOGY="labs/single-nic.yml", LAB_NAME="vmd9")
    record = json.loads(state.read_text())
    record["provider_settings"]["LAB_MGMT_MACS"] = "server=52:54:00:00:00:01,client1=52:54:00:00:00:02"
    state.write_text(json.dumps(record))
    assert vagrant(tmp_path, state, "validate").returncode == 0
    listing = vagrant(tmp_path, state, "status")
    assert "\nserver " in listing.stdout and "\nclient1 " in listing.stdout, listing.stdout + listing.stderr


@pytest.fixture
def libvirtd() -> None:
    """libvirtd answering, started the way a VM lab starts it: vagrant-libvirt asks it for the machine's devices
    when it validates a public network (a socket file alone proves nothing: one is left behind by a dead daemon)."""
    if os.geteuid() != 0 or shutil.which("libvirtd") is None:
        pytest.skip("needs root and libvirtd installed (tools/install-deps vm): vagrant-libvirt asks libvirtd for "
                    "the machine's devices when it validates a public network")
    ensure_libvirtd(lambda line: None)


@pytest.mark.usefixtures("libvirtd")
def test_vagrantfile_puts_a_network_with_a_bridge_on_that_bridge_and_vagrant_checks_it_exists(tmp_path: Path) -> None:
    """A lab network on an existing bridge is a public network on that bridge: vagrant-libvirt's validation
    refuses it while the bridge is missing and accepts it once there is one (in a network namespace of the test's
    own: nothing on this machine changes)."""
    topology = tmp_path / "bridged.yml"
    topology.write_text("name: vmbr\nnetworks: {lan: {subnet: 192.168.171.0/24, bridge: brvmbrtest0}}\n"
                        "hosts: {server: {role: chat_server, networks: [lan]},\n"
                        "        client: {role: chat_client, networks: [lan], count: 1}}\n")
    state = state_file(tmp_path, LAB_TOPOLOGY=str(topology))
    env = {**os.environ, "VAGRANT_CWD": str(VAGRANT_DIR), "VAGRANT_DOTFILE_PATH": str(tmp_path / "dot"),
           "VAGRANT_CHECKPOINT_DISABLE": "1", "LAB_STATE": str(state)}
    script = ("vagrant validate --no-color; echo \"missing=$?\"; ip link add brvmbrtest0 type bridge; "
              "vagrant validate --no-color; echo \"present=$?\"")
    result = subprocess.run(["unshare", "--net", "sh", "-c", script], env=env, capture_output=True, text=True,
                            timeout=240, check=False)
    output = result.stdout + result.stderr
    assert "missing=1" in output and "host device 'brvmbrtest0' which does not exist" in output, output
    assert "present=0" in output, output
