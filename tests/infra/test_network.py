"""Every host has its static addresses, written once each in /etc/network/interfaces, and reaches the server the
way the inventory says: directly on a shared LAN, or through the router its static route names."""

from __future__ import annotations

import ipaddress
import re

from lab_hosts import LabHost, on_each


def test_lab_interfaces_hold_their_static_addresses(all_hosts: list[LabHost]) -> None:
    def holds(lab_host: LabHost) -> None:
        for interface in lab_host.interfaces:
            live = lab_host.host.check_output(f"ip -o -4 addr show dev {interface.name}")
            assert f"inet {interface.address} " in live, f"{lab_host.name}: {interface.name} lacks {interface.address}"

    on_each(all_hosts, holds)


def test_interfaces_file_holds_exactly_one_stanza_per_lab_interface(all_hosts: list[LabHost]) -> None:
    def one_stanza_each(lab_host: LabHost) -> None:
        text = lab_host.host.file("/etc/network/interfaces").content_string
        for interface in lab_host.interfaces:
            stanzas = re.findall(rf"^\s*iface\s+{re.escape(interface.name)}\s+inet\s+(\S+)", text, re.MULTILINE)
            assert stanzas == ["static"], f"{lab_host.name}: inet stanzas for {interface.name}: {stanzas}"
            assert f"address {interface.address}" in text, f"{lab_host.name}: no 'address {interface.address}' line"

    on_each(all_hosts, one_stanza_each)


def test_clients_reach_the_server_over_the_lab_networks_not_over_management(
    chat_address: ipaddress.IPv4Address, clients: list[LabHost], server: LabHost
) -> None:
    def reaches(client: LabHost) -> None:
        path = client.path_to(chat_address)
        assert path is not None, f"{client.name}: the inventory gives it no way to {chat_address}"
        interface, via = path
        route = client.host.check_output(f"ip -o route get {chat_address}")
        assert f" dev {interface.name} " in f"{route} ", f"{client.name}: route to the server is not the lab's: {route}"
        assert f" src {interface.address.ip} " in f"{route} ", f"{client.name}: wrong source address: {route}"
        if via is not None:
            assert f" via {via} " in f"{route} ", f"{client.name}: the route to the server skips router {via}: {route}"
        ping = client.host.run(f"ping -c 1 -W 3 -I {interface.name} {chat_address}")
        assert ping.rc == 0, f"{client.name}: no ping to {chat_address} over {interface.name}: {ping.stdout}"
        hops = 0 if via is None else 1  # Linux answers with TTL 64, less one per router on the way back
        assert f"ttl={64 - hops}" in ping.stdout, f"{client.name}: expected {hops} router(s) on the way: {ping.stdout}"
        port = client.host.run(f"nc -z -w 3 -s {interface.address.ip} {chat_address} {server.chat_port}")
        assert port.rc == 0, f"{client.name}: chat port {chat_address}:{server.chat_port} not reachable"

    on_each(clients, reaches)
