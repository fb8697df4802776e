"""An interface that came up by DHCP (``iface X inet dhcp``, as the Debian installer writes it) moved to its static
address for real, and rolled back to DHCP: real ifupdown, real dhclient, and a real DHCP server (the lab's dnsmasq,
lab.plumbing.dhcp) in a second namespace of the test's own at the veth's other end.

Afterwards no dhclient runs for the interface and the default route stays via the gateway; the rollback brings the
DHCP stanza up again (dhclient runs, the lease's address is back). /etc/resolv.conf inside the namespace is a file
of the test's own (ip netns exec mounts /etc/netns/NAME/ over /etc); the DHCP server offers no DNS anyway.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from netns_helpers import Netns

from lab.plumbing.dhcp import start, stop
from lab.plumbing.dhcp_config import DhcpNetwork, Reservation

SUBNET = ipaddress.IPv4Network("192.168.185.0/24")
GATEWAY = "192.168.185.1"  # the server side's address: the router the DHCP server names
LEASED, STATIC = "192.168.185.100/24", "192.168.185.10/24"


def dhclients(iface: str) -> list[int]:
    """The dhclient processes running for `iface` (ifupdown starts them with the interface as last argument)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if argv and argv[0].endswith(b"dhclient") and iface.encode() in argv and state != "Z":
            found.append(int(proc.name))
    return found


def wait_for(what: str, condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.2)


@pytest.fixture
def dhcp_lan(netns: Netns, tmp_path: Path) -> Iterator[Netns]:
    """`netns` whose interface is on a LAN with the lab's DHCP server (the interface's MAC reserved LEASED) and a
    DHCP stanza for it in the file, brought up by ifup (dhclient)."""
    if None in (shutil.which("dnsmasq", path="/usr/sbin:/usr/bin"), shutil.which("dhclient", path="/usr/sbin:/sbin")):
        pytest.skip("needs dnsmasq and dhclient (tools/install-deps installs dnsmasq-base and isc-dhcp-client)")
    server = f"rndhcp-{uuid.uuid4().hex[:6]}"
    etc = Path("/etc/netns") / netns.name
    etc.mkdir(parents=True)
    (etc / "resolv.conf").write_text("# the test's own: dhclient-script may rewrite this one, not the machine's\n")
    subprocess.run(["ip", "netns", "add", server], check=True)
    lan = None
    try:
        subprocess.run(["ip", "link", "set", netns.host_end, "netns", server], check=True)
        for argv in (["ip", "addr", "add", f"{GATEWAY}/24", "dev", netns.host_end],
                     ["ip", "link", "set", netns.host_end, "up"]):
            subprocess.run(["ip", "netns", "exec", server, *argv], check=True)
        mac = netns.run("cat", f"/sys/class/net/{netns.iface}/address").stdout.strip()
        lan = DhcpNetwork("rn2", "lan", netns.host_end, SUBNET, ipaddress.IPv4Address(GATEWAY),
                          ipaddress.IPv4Address(GATEWAY),
                          (Reservation("host", ipaddress.IPv4Interface(LEASED).ip, mac=mac),), tmp_path / "dhcp")
        start(lan, netns=server)
        netns.file.write_text(f"auto lo\niface lo inet loopback\n\nallow-hotplug {netns.iface}\n"
                              f"iface {netns.iface} inet dhcp\n")
        netns.ifup()
        assert netns.ipv4() == {LEASED}
        assert dhclients(netns.iface), "ifup started no dhclient"
        yield netns
    finally:
        for pid in dhclients(netns.iface):
            subprocess.run(["kill", str(pid)], check=False)
        if lan is not None:
            stop(lan)
        subprocess.run(["ip", "netns", "del", server], check=False)
        shutil.rmtree(etc, ignore_errors=True)
        for leftover in (Path(f"/run/dhclient.{netns.iface}.pid"), Path(f"/var/lib/dhcp/dhclient.{netns.iface}.leases"),
                         Path(f"/var/lib/dhcp/dhclient6.{netns.iface}.leases")):
            leftover.unlink(missing_ok=True)


def default_route(ns: Netns) -> str:
    return " ".join(ns.default_route().split()[:5])


def test_a_dhcp_interface_moved_to_static_runs_no_dhclient_and_keeps_the_default_route(dhcp_lan: Netns) -> None:
    ns = dhcp_lan
    assert default_route(ns) == f"default via {GATEWAY} dev {ns.iface}"
    moved = ns.set("--address", STATIC, "--gateway", GATEWAY, "--apply", "--confirm", "30")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    confirmed = ns.netconfig("confirm", ns.iface, "--state-dir", str(ns.state_dir))
    assert confirmed.returncode == 0, confirmed.stderr
    assert ns.ipv4() == {STATIC}
    wait_for("dhclient for the interface is gone", lambda: not dhclients(ns.iface), 10)
    assert default_route(ns) == f"default via {GATEWAY} dev {ns.iface}"
    text = ns.file.read_text()
    assert f"iface {ns.iface} inet static" in text and "inet dhcp" not in text


def test_a_rollback_returns_the_interface_to_dhcp(dhcp_lan: Netns) -> None:
    ns = dhcp_lan
    before = ns.file.read_bytes()
    moved = ns.set("--address", STATIC, "--gateway", GATEWAY, "--apply", "--confirm", "5")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert ns.ipv4() == {STATIC}
    log = ns.state_dir / "netconfig" / "netconfig.log"
    wait_for("the rollback ran", lambda: log.exists() and "rolled back:" in log.read_text())
    assert ns.ipv4() == {LEASED}
    assert dhclients(ns.iface), "no dhclient after the rollback: the interface is not DHCP's again"
    assert default_route(ns) == f"default via {GATEWAY} dev {ns.iface}"
    assert ns.file.read_bytes() == before
