"""Every host has its static addresses, written once each in /etc/network/interfaces, and reaches the server the
way the inventory says: directly on a shared LAN, or through the router its static route names; a host whose
inventory gives it a default gateway sends what is bound outside the lab to that gateway."""

from __future__ import annotations

import ipaddress
import re

import pytest
from lab_hosts import LabHost, on_each
from outputs import routers_crossed, stanza_address, stanza_gateway


def test_lab_interfaces_hold_their_static_addresses(all_hosts: list[LabHost]) -> None:
    def holds(lab_host: LabHost) -> None:
        for interface in lab_host.interfaces:
            live = lab_host.host.check_output(f"ip -o -4 addr show dev {interface.name}")
            assert f"inet {interface.address} " in live, f"{lab_host.name}: {interface.name} lacks {interface.address}"

    on_each(all_hosts, holds)


def test_interfaces_file_holds_exactly_one_stanza_per_lab_interface(all_hosts: list[LabHost]) -> None:
    def one_stanza_each(lab_host: LabHost) -> None:
        text = lab_host.host.check_output("cat /etc/network/interfaces")  # host.file probes the OS first
        for interface in lab_host.interfaces:
            stanzas = re.findall(rf"^\s*iface\s+{re.escape(interface.name)}\s+inet\s+(\S+)", text, re.MULTILINE)
            assert stanzas == ["static"], f"{lab_host.name}: inet stanzas for {interface.name}: {stanzas}"
            written = stanza_address(text, interface.name)  # `address A/P`, or `address A` + `netmask M`
            assert written == interface.address, f"{lab_host.name}: {interface.name}'s stanza gives {written}"

    on_each(all_hosts, one_stanza_each)


def test_clients_reach_the_server_over_the_lab_networks_not_over_management(
    chat_address: ipaddress.IPv4Address, clients: list[LabHost], server: LabHost
) -> None:
    initial_ttl = int(server.host.file("/proc/sys/net/ipv4/ip_default_ttl").content_string)

    def reaches(client: LabHost) -> None:
        path = client.path_to(chat_address)
        assert path is not None, f"{client.name}: the inventory gives it no way to {chat_address}"
        interface, via = path
        route = client.host.check_output(f"ip -o route get {chat_address}")
        assert f" dev {interface.name} " in f"{route} ", f"{client.name}: route to the server is not the lab's: {route}"
        assert f" src {interface.address.ip} " in f"{route} ", f"{client.name}: wrong source address: {route}"
        if via is not None:
            assert f" via {via} " in f"{route} ", f"{client.name}: the route to the server skips router {via}: {route}"
        # until one reply, one echo every 0.2 s for at most 10 s: a lossy link (tc loss) delays the answer, but a
        # path that works answers (at 10 % loss each way, 50 echoes all lost: about 1 in 10^36)
        ping = client.host.run(f"ping -c 1 -w 10 -i 0.2 -I {interface.name} {chat_address}")
        assert ping.rc == 0, f"{client.name}: no ping to {chat_address} over {interface.name}: {ping.stdout}"
        hops = 0 if via is None else 1  # the reply starts with the server's TTL, less one per router on the way back
        crossed = routers_crossed(ping.stdout, initial_ttl)
        assert crossed == hops, f"{client.name}: expected {hops} router(s) on the way, saw {crossed}: {ping.stdout}"
        port = client.host.run(f"nc -z -w 3 -s {interface.address.ip} {chat_address} {server.chat_port}")
        assert port.rc == 0, f"{client.name}: chat port {chat_address}:{server.chat_port} not reachable"

    on_each(clients, reaches)


def test_no_dhcp_client_runs_for_an_interface_with_a_static_address(all_hosts: list[LabHost]) -> None:
    """A host that started by DHCP (the installer's `iface eth0 inet dhcp`) and was moved to its static address
    runs no dhclient for that interface any more: it would put the leased address back."""
    def no_dhclient(lab_host: LabHost) -> None:
        clients = lab_host.host.run("ps -eo args= | grep -E '^(/usr/sbin/|/sbin/)?dhclient ' || true").stdout
        for interface in lab_host.interfaces:
            running = [line for line in clients.splitlines() if interface.name in line.split()]
            assert not running, f"{lab_host.name}: a DHCP client still runs for {interface.name}: {running}"

    on_each(all_hosts, no_dhclient)


OUTSIDE_THE_LAB = ipaddress.IPv4Address("198.51.100.1")  # TEST-NET-2 (RFC 5737): on no lab network, never routed


def test_traffic_bound_outside_the_lab_goes_to_the_default_gateway(all_hosts: list[LabHost]) -> None:
    """The default route the inventory gives (the one-NIC network's gateway, which its DHCP handed out) is the
    host's only one after site.yml moved it to its static stanza, and the kernel's own route lookup for an address
    outside the lab picks it: via that gateway, from the host's static address."""
    with_gateway = [lab_host for lab_host in all_hosts if any(i.gateway for i in lab_host.interfaces)]
    if not with_gateway:
        pytest.skip("no host has a default gateway in the inventory (no lab network shared as management "
                    "with a gateway: labs/single-nic.yml with one does)")

    def via_gateway(lab_host: LabHost) -> None:
        interface = next(i for i in lab_host.interfaces if i.gateway)
        written = stanza_gateway(lab_host.host.check_output("cat /etc/network/interfaces"), interface.name)
        assert written == interface.gateway, f"{lab_host.name}: {interface.name}'s stanza gives the gateway {written}"
        defaults = lab_host.host.check_output("ip -4 -o route show default").splitlines()
        assert [line.split()[:5] for line in defaults] == [["default", "via", str(interface.gateway), "dev",
                                                           interface.name]], (
            f"{lab_host.name}: default routes {defaults}, expected one via {interface.gateway} dev {interface.name}")
        route = lab_host.host.check_output(f"ip -o route get {OUTSIDE_THE_LAB}")
        assert f" via {interface.gateway} dev {interface.name} " in f" {route} ", (
            f"{lab_host.name}: {OUTSIDE_THE_LAB} is not sent to the gateway {interface.gateway}: {route}")
        assert f" src {interface.address.ip} " in f"{route} ", f"{lab_host.name}: wrong source address: {route}"

    on_each(with_gateway, via_gateway)
