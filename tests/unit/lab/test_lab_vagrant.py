"""Pure parts of the VM lab: parsing Vagrant's and libvirt's output, the box's MBR, choices from settings; and
the removal of a lab's libvirt leftovers against a stand-in virsh."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from repo_paths import REPO

from lab.config import configure, up_request
from lab.errors import LabError
from lab.images import box
from lab.images.box import box_metadata, inputs_hash, mbr, parse_box_list
from lab.providers.libvirt.provider import (
    DNSMASQ_XMLNS,
    LibvirtLab,
    boot_failure,
    interface_with_mac,
    known_hosts_lines,
    mac_on_network,
    management_mac,
    parse_macs,
    shared_network_xml,
    table_names,
)
from lab.providers.libvirt.tools import kvm_accessible
from lab.providers.libvirt.vagrant import parse_ssh_config
from netconfig import interfaces

SSH_CONFIG = """\
Host server
  HostName 10.199.57.193
  User vagrant
  Port 22
  UserKnownHostsFile /dev/null
  IdentityFile /work/.lab/vmlab/vagrant/machines/server/libvirt/private_key
  IdentitiesOnly yes

Host client1
  HostName 127.0.0.1
  User vagrant
  Port 2200
  IdentityFile "/home/me/my key"
"""

DOMIFLIST = """\
 Interface   Type      Source       Model    MAC
----------------------------------------------------------------
 vnet0       network   vmlab-mgmt   virtio   52:54:00:7b:78:a5
 vnet1       network   vmlab-lan    virtio   52:54:00:34:DC:ae
"""


def test_ssh_config_per_machine() -> None:
    machines = parse_ssh_config(SSH_CONFIG)
    assert set(machines) == {"server", "client1"}
    assert machines["server"]["hostname"] == "10.199.57.193"
    assert machines["server"]["identityfile"].endswith("server/libvirt/private_key")
    assert machines["client1"]["port"] == "2200"
    assert machines["client1"]["identityfile"] == "/home/me/my key"


def test_lan_mac_comes_from_the_lan_network_only() -> None:
    assert mac_on_network(DOMIFLIST, "vmlab-lan") == "52:54:00:34:dc:ae"
    assert mac_on_network(DOMIFLIST, "vmlab-mgmt") == "52:54:00:7b:78:a5"
    assert mac_on_network(DOMIFLIST, "other-lan") is None


def test_guest_interface_found_by_mac() -> None:
    listing = "eth0 52:54:00:7b:78:a5\neth1 52:54:00:34:dc:ae\nlo 00:00:00:00:00:00\n"
    assert interface_with_mac(listing, "52:54:00:34:DC:AE") == "eth1"
    assert interface_with_mac(listing, "52:54:00:00:00:01") is None


@pytest.mark.parametrize(("mode", "owner", "group", "expected"), [
    (0o20600, 0, 0, False),  # root:root 0600, the user is neither
    (0o20660, 0, 108, True),  # group kvm, rw for the group
    (0o20660, 0, 106, False),  # another group
    (0o20666, 0, 0, True),  # world rw
    (0o20640, 0, 108, False),  # group may only read
])
def test_kvm_access_for_libvirt_qemu(mode: int, owner: int, group: int, expected: bool) -> None:
    assert kvm_accessible(mode, owner, group, uid=64055, groups={108, 64055}) is expected


def test_known_hosts_lines_skip_comments() -> None:
    output = "# 10.0.0.1:22 SSH-2.0-OpenSSH_9.2p1\n10.0.0.1 ssh-ed25519 AAAAC3Nza\n\n"
    assert known_hosts_lines(output) == ["10.0.0.1 ssh-ed25519 AAAAC3Nza"]


def test_box_list_pairs_names_with_providers() -> None:
    listing = ("1700000000,,ui,info,chatlab/bookworm64 (libvirt\\, 0)\n"
               "1700000000,,box-name,chatlab/bookworm64\n1700000000,,box-provider,libvirt\n"
               "1700000000,,box-version,0\n"
               "1700000000,,box-name,debian/bookworm64\n1700000000,,box-provider,virtualbox\n"
               "1700000000,,box-version,12.20240905.1\n")
    assert parse_box_list(listing) == {("chatlab/bookworm64", "libvirt"), ("debian/bookworm64", "virtualbox")}
    assert parse_box_list("") == set()


def test_mbr_has_one_bootable_linux_partition() -> None:
    record = mbr(b"\xeb\x63" + b"\x90" * 100, 2048, 16_775_168)
    assert len(record) == 512
    assert record[:2] == b"\xeb\x63"
    assert record[510:] == b"\x55\xaa"
    status, kind, first, count = record[446], record[450], *struct.unpack("<II", record[454:462])
    assert (status, kind, first, count) == (0x80, 0x83, 2048, 16_775_168)
    assert record[462:510] == b"\0" * 48  # the other three entries are empty


def test_mbr_refuses_oversized_boot_code() -> None:
    assert len(mbr(b"\xeb" * 440, 2048, 1)) == 512  # 440 bytes fit
    with pytest.raises(LabError, match=r"^MBR boot code is 441 bytes, at most 440 fit$"):
        mbr(b"\0" * 441, 2048, 1)


def test_box_inputs_hash_changes_with_each_input(monkeypatch: pytest.MonkeyPatch) -> None:
    """A box is rebuilt when the rootfs, the extra packages or the insecure key change: each is in the hash."""
    monkeypatch.setattr(box, "rootfs_key", lambda: "rootfs-1")
    first = inputs_hash("ssh-rsa AAAA one")
    assert len(first) == 16 and int(first, 16) >= 0
    assert inputs_hash("ssh-rsa AAAA two") != first
    monkeypatch.setattr(box, "rootfs_key", lambda: "rootfs-2")
    assert inputs_hash("ssh-rsa AAAA one") != first
    monkeypatch.setattr(box, "rootfs_key", lambda: "rootfs-1")
    assert inputs_hash("ssh-rsa AAAA one") == first  # the same inputs, the same box
    monkeypatch.setattr(box, "EXTRA_PACKAGES", (*box.EXTRA_PACKAGES, "tcpdump"))
    assert inputs_hash("ssh-rsa AAAA one") != first


def test_box_metadata_is_a_libvirt_qcow2_box() -> None:
    assert box_metadata() == {"provider": "libvirt", "format": "qcow2", "virtual_size": 8}


def test_volume_names_from_a_virsh_table() -> None:
    listing = (" Name                 Path\n-------------------------------------\n"
               " vmlab-server.img     /var/lib/libvirt/images/vmlab-pool/vmlab-server.img\n"
               " box_image_0_box.img  /var/lib/libvirt/images/vmlab-pool/box_image_0_box.img\n\n")
    assert table_names(listing) == ["vmlab-server.img", "box_image_0_box.img"]
    assert table_names("") == []


def test_boot_failures_are_recognised_on_the_console() -> None:
    assert boot_failure("[  OK  ] Started ssh.service\nbookworm login: ") is None
    panic = "[    7.1] \x1b[0;1mKernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n"
    assert boot_failure(panic) == "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)"
    assert boot_failure("Gave up waiting for root file system device.  Common problems:\n").startswith("Gave up")
    assert boot_failure("You are in emergency mode. After logging in, type ...").startswith("You are in")


def test_libvirt_leftovers_of_this_lab_are_removed_and_nothing_of_another_lab(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Against a stand-in virsh first on PATH (tests/unit/lab/fake_virsh.py: libvirt's state in a file; the
    machine's libvirt belongs to everyone here): this lab's domains (their snapshots first), networks and pool
    with its volumes go; another lab's, whose name starts alike, stay."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "virsh").symlink_to(Path(__file__).with_name("fake_virsh.py"))
    state = tmp_path / "libvirt.json"
    state.write_text(json.dumps({
        "domains": {"vl-server": {"state": "running", "snapshots": ["s1", "s2"]},
                    "vl-client1": {"state": "shut off", "snapshots": []},
                    "vl2-server": {"state": "running", "snapshots": ["s1"]}},
        "networks": {"vl-mgmt": {"active": True}, "vl-lan": {"active": False}, "vl2-mgmt": {"active": True},
                     "default": {"active": True}},
        "pools": {"vl-pool": {"active": False, "volumes": ["vl-server.img", "box_image_0_box.img"]},
                  "vl2-pool": {"active": True, "volumes": ["vl2-server.img"]}}}))
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_VIRSH_STATE", str(state))
    lines: list[str] = []
    config = configure(up_request({"LAB_NAME": "vl"}, root=tmp_path), "libvirt")
    LibvirtLab(config, log=lines.append)._remove_libvirt_leftovers()
    left = json.loads(state.read_text())
    assert left == {"domains": {"vl2-server": {"state": "running", "snapshots": ["s1"]}},
                    "networks": {"vl2-mgmt": {"active": True}, "default": {"active": True}},
                    "pools": {"vl2-pool": {"active": True, "volumes": ["vl2-server.img"]}}}
    assert sorted(lines) == ["removed the VM vl-client1", "removed the VM vl-server"]
    calls = (tmp_path / "libvirt.json.log").read_text().splitlines()
    assert calls.index("snapshot-delete vl-server s2") < calls.index("destroy vl-server") < calls.index(
        "undefine vl-server --remove-all-storage --nvram")
    assert "destroy vl-client1" not in calls  # shut off already


def test_the_box_leaves_eth0_to_ifupdown_with_dhcp_as_the_installer_does() -> None:
    document = interfaces.parse(box.INTERFACES)
    assert [stanza.method for stanza in document.iface_stanzas("eth0", "inet")] == ["dhcp"]
    assert [stanza.keyword for stanza in document.marks("eth0")] == ["allow-hotplug"]
    assert "networkd" not in Path(box.__file__).read_text().split('"""', 2)[2]  # no unit, no .network file


def test_a_one_nic_vm_lab_reserves_each_hosts_temporary_address_for_its_fixed_mac(tmp_path: Path) -> None:
    config = configure(up_request({"LAB_TOPOLOGY": "labs/single-nic.yml", "LAB_NAME": "vmd9"}, root=tmp_path),
                       "libvirt")
    planned = {host.name: host.mgmt_address for host in config.hosts}
    assert {name: str(address) for name, address in planned.items()} == {"server": "192.168.60.100/24",
                                                                          "client1": "192.168.60.101/24"}
    macs = {name: management_mac("vmd9", name) for name in planned}
    assert len(set(macs.values())) == 2 and all(mac.startswith("52:54:00:") for mac in macs.values())
    assert management_mac("vmd9", "server") == macs["server"] != management_mac("vmd8", "server")
    assert parse_macs(",".join(f"{name}={mac}" for name, mac in macs.items())) == macs
    xml = shared_network_xml("vmd9-lan", config.mgmt_gateway,
                             [(name, macs[name], address.ip) for name, address in planned.items() if address])
    assert "<forward" not in xml  # isolated: no NAT, no route out
    assert "<ip address='192.168.60.254' netmask='255.255.255.0'>" in xml
    assert "<range start='192.168.60.100' end='192.168.60.101'/>" in xml
    assert f"<host mac='{macs['client1']}' name='client1' ip='192.168.60.101'/>" in xml


def one_nic_network_xml(tmp_path: Path, topology: Path) -> str:
    config = configure(up_request({"LAB_TOPOLOGY": str(topology), "LAB_NAME": "vmd9"}, root=tmp_path), "libvirt")
    router = config.topology.network("lan").gateway
    return shared_network_xml("vmd9-lan", config.mgmt_gateway,
                              [(h.name, management_mac("vmd9", h.name), h.mgmt_address.ip)
                               for h in config.hosts if h.mgmt_address], router)


def dnsmasq_options(xml: str) -> list[str]:
    return [option.get("value", "") for option in ET.fromstring(xml).iter(f"{{{DNSMASQ_XMLNS}}}option")]


def test_a_one_nic_vm_networks_gateway_is_the_router_its_dhcp_gives_the_reserved_hosts(tmp_path: Path) -> None:
    xml = one_nic_network_xml(tmp_path, Path("labs/single-nic.yml"))
    # tagged 'known' (a host with a reservation): dnsmasq prefers it to libvirt's untagged, empty dhcp-option=3
    assert dnsmasq_options(xml) == ["dhcp-option=tag:known,option:router,192.168.60.1"]
    assert ET.fromstring(xml).find("forward") is None  # still isolated


@pytest.mark.skipif(not (shutil.which("virt-xml-validate") and shutil.which("xmllint")),
                    reason="virt-xml-validate (libvirt-clients) and xmllint (libxml2-utils) are not installed: "
                           "tools/install-deps vm installs them")
def test_a_one_nic_vm_network_with_a_gateway_passes_libvirts_own_schema(tmp_path: Path) -> None:
    path = tmp_path / "network.xml"
    path.write_text(one_nic_network_xml(tmp_path, Path("labs/single-nic.yml")))
    check = subprocess.run(["virt-xml-validate", str(path), "network"], capture_output=True, text=True,
                           check=False, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_one_nic_vm_network_without_a_gateway_offers_no_router(tmp_path: Path) -> None:
    topology = tmp_path / "no-gateway.yml"
    text = (REPO / "labs" / "single-nic.yml").read_text()
    topology.write_text("\n".join(line for line in text.splitlines() if "gateway:" not in line))
    xml = one_nic_network_xml(tmp_path, topology)
    assert dnsmasq_options(xml) == [] and "dnsmasq" not in xml  # libvirt's empty option 3 stays: no router


BRIDGED_DOMIFLIST = """\
 Interface   Type      Source        Model    MAC
-----------------------------------------------------------------
 vnet4       network   vmnet-mgmt    virtio   52:54:00:7b:78:a5
 vnet5       bridge    brvmnet0      virtio   52:54:00:11:22:33
"""


def test_a_vm_nic_on_an_existing_bridge_is_found_by_that_bridge(tmp_path: Path) -> None:
    """A public network's NIC is an <interface type='bridge'> whose source is the bridge itself, not a libvirt
    network: the provider finds its MAC (and so its name in the guest) and captures on that bridge."""
    topology = tmp_path / "bridged.yml"
    topology.write_text("name: vmnet\nnetworks: {lan: {subnet: 192.168.171.0/24, bridge: brvmnet0}}\n"
                        "hosts: {server: {role: chat_server, networks: [lan]}}\n")
    config = configure(up_request({"LAB_TOPOLOGY": str(topology)}, root=tmp_path), "libvirt")
    lab = LibvirtLab(config, log=lambda _: None)
    assert lab.nic_sources == {"lan": "brvmnet0"}
    assert mac_on_network(BRIDGED_DOMIFLIST, lab.nic_sources["lan"]) == "52:54:00:11:22:33"
    assert mac_on_network(BRIDGED_DOMIFLIST, lab.networks["lan"]) is None  # no libvirt network of that name
    assert lab.capture_interface("lan") == "brvmnet0"
