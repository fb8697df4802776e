"""A lab network's DHCP server: dnsmasq's configuration (lab.plumbing.dhcp_config, pure), and a real dnsmasq
(lab.plumbing.dhcp) that a real dhclient gets its planned address from, in two network namespaces of the test's own
joined by a veth."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from netns_helpers import Netns

from lab.plumbing.dhcp import DhcpError, leases, running_pid, start, stop
from lab.plumbing.dhcp_config import DhcpConfigError, DhcpNetwork, Reservation, render

SUBNET = ipaddress.IPv4Network("192.168.185.0/24")
BRIDGE_ADDRESS = ipaddress.IPv4Address("192.168.185.1")


def network(state_dir: Path, bridge: str = "rn2-lan", router: str | None = "192.168.185.1",
            reservations: tuple[Reservation, ...] = (Reservation("server", ipaddress.IPv4Address("192.168.185.100")),)
            ) -> DhcpNetwork:
    return DhcpNetwork("rn2", "lan", bridge, SUBNET, BRIDGE_ADDRESS,
                       ipaddress.IPv4Address(router) if router else None, reservations, state_dir)


def test_only_the_lab_hosts_get_addresses_and_no_dns_is_served(tmp_path: Path) -> None:
    text = render(network(tmp_path))
    assert "port=0\n" in text and "interface=rn2-lan\n" in text and "bind-interfaces\n" in text
    assert "dhcp-range=set:lab,192.168.185.0,static,255.255.255.0," in text  # no pool for strangers
    assert "dhcp-host=server,192.168.185.100\n" in text
    assert "dhcp-option=tag:lab,option:router,192.168.185.1\n" in text
    assert f"dhcp-leasefile={tmp_path / 'lan.leases'}\n" in text
    assert "dhcp-option=tag:lab,option:router\n" in render(network(tmp_path, router=None))


@pytest.mark.parametrize(("reservations", "problem"), [
    ((Reservation("server", ipaddress.IPv4Address("10.0.0.5")),), "not a free address of 192.168.185.0/24"),
    ((Reservation("a", ipaddress.IPv4Address("192.168.185.5")),
      Reservation("b", ipaddress.IPv4Address("192.168.185.5"))), "not a free address"),
    ((Reservation("Bad_Name", ipaddress.IPv4Address("192.168.185.5")),), "not a host name"),
    ((Reservation("server", BRIDGE_ADDRESS),), "the bridge's own address"),
])
def test_a_reservation_that_does_not_fit_is_one_line(tmp_path: Path, reservations: tuple[Reservation, ...],
                                                    problem: str) -> None:
    with pytest.raises(DhcpConfigError, match=problem):
        render(network(tmp_path, reservations=reservations))


@pytest.fixture
def server_side(netns: Netns) -> Iterator[str]:
    """A second namespace of the test's own holding the veth's other end, addressed as the lab's bridge is."""
    name = f"rndhcp-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "link", "set", netns.host_end, "netns", name], check=True)
        for argv in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", f"{BRIDGE_ADDRESS}/24", "dev",
                     netns.host_end], ["ip", "link", "set", netns.host_end, "up"]):
            subprocess.run(["ip", "netns", "exec", name, *argv], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_a_real_dhclient_gets_its_planned_address_and_the_router(netns: Netns, server_side: str,
                                                                  tmp_path: Path) -> None:
    if None in (shutil.which("dnsmasq", path="/usr/sbin:/usr/bin"), shutil.which("dhclient", path="/usr/sbin:/sbin")):
        pytest.skip("needs dnsmasq and dhclient (tools/install-deps installs dnsmasq-base and isc-dhcp-client)")
    planned = Reservation("rnclient", ipaddress.IPv4Address("192.168.185.100"))
    lab = network(tmp_path / "dhcp", bridge=netns.host_end, reservations=(planned,))
    pid = start(lab, netns=server_side)
    try:
        assert start(lab, netns=server_side) == pid  # running with this configuration already: kept
        record = tmp_path / "dhclient.env"
        script = tmp_path / "record"  # dhclient-script's place: records what was offered, changes nothing else
        script.write_text(f"#!/bin/sh\n[ \"$reason\" = BOUND ] && env | grep '^new_' > {record}\nexit 0\n")
        script.chmod(0o755)
        conf = tmp_path / "dhclient.conf"  # as Debian's, which sends gethostname()
        conf.write_text('send host-name "rnclient";\nrequest subnet-mask, routers, domain-name-servers;\n')
        netns.run("ip", "link", "set", netns.iface, "up")
        got = netns.run("timeout", "30", "dhclient", "-1", "-4", "-cf", str(conf), "-sf", str(script),
                        "-lf", str(tmp_path / "lf"), "-pf", str(tmp_path / "pf"), netns.iface, check=False)
        assert got.returncode == 0, got.stderr
        offered = dict(line.split("=", 1) for line in record.read_text().splitlines())
        assert offered["new_ip_address"] == "192.168.185.100"
        assert offered["new_routers"] == "192.168.185.1"
        assert "new_domain_name_servers" not in offered
        assert [(lease.address, lease.host_name) for lease in leases(lab)] == [
            (ipaddress.IPv4Address("192.168.185.100"), "rnclient")]
        netns.run("dhclient", "-x", "-pf", str(tmp_path / "pf"), check=False)
    finally:
        assert stop(lab)
    assert running_pid(lab) is None and not stop(lab)


def test_dnsmasq_that_cannot_bind_is_one_line(tmp_path: Path) -> None:
    if shutil.which("dnsmasq", path="/usr/sbin:/usr/bin") is None:
        pytest.skip("needs dnsmasq (tools/install-deps installs dnsmasq-base)")
    with pytest.raises(DhcpError, match=r"^DHCP server of network lan on rnnosuch0: .*rnnosuch0"):
        start(network(tmp_path, bridge="rnnosuch0"))
