"""Every host has its static LAN address, written once in /etc/network/interfaces, and reaches the server over it."""

from __future__ import annotations

import re

from lab_hosts import LabHost


def test_lab_interface_holds_its_static_address(all_hosts: list[LabHost]) -> None:
    for lab_host in all_hosts:
        live = lab_host.host.check_output(f"ip -o -4 addr show dev {lab_host.interface}")
        assert f"inet {lab_host.address} " in live, f"{lab_host.name}: {lab_host.interface} lacks {lab_host.address}"


def test_interfaces_file_holds_exactly_one_stanza_for_the_lab_interface(all_hosts: list[LabHost]) -> None:
    for lab_host in all_hosts:
        text = lab_host.host.file("/etc/network/interfaces").content_string
        stanzas = re.findall(rf"^\s*iface\s+{re.escape(lab_host.interface)}\s+inet\s+(\S+)", text, re.MULTILINE)
        assert stanzas == ["static"], f"{lab_host.name}: inet stanzas for {lab_host.interface}: {stanzas}"
        assert f"address {lab_host.address}" in text, f"{lab_host.name}: no 'address {lab_host.address}' line"


def test_clients_reach_the_server_over_the_lan_not_over_management(
    server: LabHost, clients: list[LabHost]
) -> None:
    for client in clients:
        route = client.host.check_output(f"ip -o route get {server.address.ip}")
        assert f" dev {client.interface} " in f"{route} ", f"{client.name}: route to the server is not LAN: {route}"
        assert f" src {client.address.ip} " in f"{route} ", f"{client.name}: wrong source address: {route}"
        ping = client.host.run(f"ping -c 1 -W 3 -I {client.interface} {server.address.ip}")
        assert ping.rc == 0, f"{client.name}: no ping to {server.address.ip} over {client.interface}: {ping.stdout}"
        port = client.host.run(f"nc -z -w 3 -s {client.address.ip} {server.address.ip} {server.chat_port}")
        assert port.rc == 0, f"{client.name}: chat port {server.address.ip}:{server.chat_port} not reachable"
