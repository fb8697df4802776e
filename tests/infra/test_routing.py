"""Across a router: clients on another LAN reach the chat server only while the router forwards."""

from __future__ import annotations

import ipaddress

import pytest
from lab_hosts import LabHost


def routed_clients(clients: list[LabHost], routers: list[LabHost], chat_address: ipaddress.IPv4Address
                   ) -> list[tuple[LabHost, LabHost]]:
    """(client, router) for each client whose way to the server goes through a router of the lab."""
    by_address = {interface.address.ip: router for router in routers for interface in router.interfaces}
    pairs = []
    for client in clients:
        path = client.path_to(chat_address)
        if path is not None and path[1] is not None and path[1] in by_address:
            pairs.append((client, by_address[path[1]]))
    return pairs


@pytest.mark.disruptive
def test_router_forwards_and_clients_behind_it_need_it(
    clients: list[LabHost], routers: list[LabHost], server: LabHost, chat_address: ipaddress.IPv4Address
) -> None:
    pairs = routed_clients(clients, routers, chat_address)
    if not pairs:
        pytest.skip("no client reaches the chat server through a router in this lab (one LAN): nothing to route")
    reach = f"nc -z -w 3 {chat_address} {server.chat_port}"
    for client, router in pairs:
        forwarding = "/proc/sys/net/ipv4/ip_forward"
        assert router.host.check_output(f"cat {forwarding}") == "1", f"{router.name} does not forward"
        assert client.host.run(reach).rc == 0, f"{client.name} cannot reach the server through {router.name}"
        router.host.check_output("sudo -n sysctl -qw net.ipv4.ip_forward=0")  # a VM is reached as a sudo user
        try:
            cut = client.host.run(reach)
            assert cut.rc != 0, f"{client.name} reached the server with {router.name}'s forwarding off"
        finally:
            router.host.check_output("sudo -n sysctl -qw net.ipv4.ip_forward=1")
        assert client.host.run(reach).rc == 0, f"{client.name} lost the server after forwarding came back"
