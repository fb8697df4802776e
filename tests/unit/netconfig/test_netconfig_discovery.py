"""netconfig.discovery and netconfig.routes: this machine's real interfaces and route table."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from pathlib import Path

import pytest

from netconfig import discovery, routes

PROC_ROUTE = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth1\t0038A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
wg0\t00000000\t00000000\t0001\t0\t0\t50\t00000000\t0\t0\t0
down0\t00000000\t0100000A\t0002\t0\t0\t0\t00000000\t0\t0\t0
"""
Z32 = "0" * 32
PROC_IPV6_ROUTE = "".join(f"{line}\n" for line in (
    f"{Z32} 00 {Z32} 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0",
    f"fd000000000000000000000000000000 40 {Z32} 00 {Z32} 00000100 00000001 00000000 00000001     eth0",
    f"{Z32} 00 {Z32} 00 {Z32} ffffffff 00000001 00000000 00200200       lo",  # unreachable
))


def test_parse_proc_route() -> None:
    assert routes.parse_proc_route(PROC_ROUTE) == [
        routes.DefaultRoute("eth0", "ipv4", ipaddress.IPv4Address("192.0.2.1")),
        routes.DefaultRoute("wg0", "ipv4", None),  # a device route, no gateway; down0 is not RTF_UP
    ]
    assert routes.parse_proc_route("garbage\nx y z\n") == []


def test_parse_proc_ipv6_route() -> None:
    assert routes.parse_proc_ipv6_route(PROC_IPV6_ROUTE) == [
        routes.DefaultRoute("eth0", "ipv6", ipaddress.IPv6Address("fd00::1"))]


def test_real_default_routes_agree_with_ip_route() -> None:
    if shutil.which("ip") is None:
        pytest.skip("iproute2's ip is not installed: nothing to compare /proc/net/route with")
    shown = subprocess.run(["ip", "-4", "route", "show", "default", "table", "main"], capture_output=True,
                           text=True, check=True).stdout.split()
    expected = {shown[i + 1] for i, word in enumerate(shown) if word == "dev"}
    assert {r.interface for r in routes.read_default_routes() if r.family == "ipv4"} == expected


def test_describe_from_netifaces_data() -> None:
    info = discovery.describe(
        "eth0",
        {17: [{"addr": "02:00:00:00:00:01"}],
         2: [{"addr": "192.0.2.2", "netmask": "255.255.255.0"}, {"addr": "198.51.100.1"}],
         10: [{"addr": "fe80::1%eth0", "netmask": "ffff:ffff:ffff:ffff::/64"},
              {"addr": "fd00::2", "netmask": "ffff:ffff:ffff:ff00::"}]},
        17, 2, 10, "up",
        [routes.DefaultRoute("eth0", "ipv4", None), routes.DefaultRoute("eth1", "ipv6", None)])
    assert info.to_json() == {
        "name": "eth0", "mac": "02:00:00:00:00:01", "state": "up",
        "ipv4": ["192.0.2.2/24", "198.51.100.1/32"], "ipv6": ["fe80::1/64", "fd00::2/56"],
        "default_route": ["ipv4"],
    }
    assert info.holds(ipaddress.ip_address("fd00::2"))
    assert not info.holds(ipaddress.ip_address("192.0.2.3"))


def test_discover_this_machine() -> None:
    infos = {i.name: i for i in discovery.discover()}
    names = {p.name for p in Path("/sys/class/net").iterdir()}
    assert set(infos) == names
    lo = infos["lo"]
    assert ipaddress.IPv4Interface("127.0.0.1/8") in lo.ipv4
    assert lo.state == "up"
    assert discovery.ipv4_addresses("lo") >= {ipaddress.IPv4Interface("127.0.0.1/8")}
    assert discovery.ipv4_addresses("ncfg-no-such") == set()
    holders = {r.interface for r in routes.read_default_routes()}
    assert {n for n, i in infos.items() if i.default_route} == holders & set(infos)
    for info in infos.values():
        assert info.state in {"up", "down", "lowerlayerdown", "dormant", "notpresent", "testing", "unknown"}


def test_interface_exists() -> None:
    assert discovery.interface_exists("lo")
    for name in ("ncfg-no-such", "", ".", "..", "../net"):
        assert not discovery.interface_exists(name)
