"""Which hosts the check-mode run of site.yml covers (tests/infra/site_runs.py): one of each kind, where a kind is a
group and the shape of the hosts' static interfaces (names, subnets, routes, gateway), not their addresses; and the
idempotence rerun: every host, or one of each kind when asked (lab up)."""

from __future__ import annotations

from typing import Any

from infra.site_runs import one_of_each_kind, rerun_hosts


def lan_host(address: str, **extra: Any) -> dict[str, Any]:
    return {"static_ip_interfaces": [{"interface": "eth1", "address": address, **extra}]}


def test_twenty_clients_on_one_lan_are_one_kind_beside_the_server() -> None:
    clients = {f"client{n}": lan_host(f"192.168.56.{100 + n}/24") for n in range(1, 21)}
    hostvars = {"server": lan_host("192.168.56.10/24"), **clients}
    groups = {"chat_servers": ["server"], "chat_clients": list(clients), "routers": [], "plain": []}
    assert one_of_each_kind(groups, hostvars) == ["server", "client1"]


def test_clients_behind_a_router_another_lan_or_with_a_gateway_are_kinds_of_their_own() -> None:
    route = {"routes": [{"to": "192.168.56.0/24", "via": "192.168.57.1"}]}
    hostvars = {
        "server": lan_host("192.168.56.10/24"),
        "client1": lan_host("192.168.56.101/24"),
        "client2": lan_host("192.168.57.102/24", **route),
        "client3": lan_host("192.168.57.103/24", **route),
        "client4": lan_host("192.168.56.104/24", gateway="192.168.56.1"),
        "client5": {"static_ip_interface": "eth2", "static_ip_address": "192.168.56.105/24"},
        "router": {"static_ip_interfaces": [{"interface": "eth1", "address": "192.168.56.1/24"},
                                            {"interface": "eth2", "address": "192.168.57.1/24"}]},
    }
    groups = {"chat_servers": ["server"], "chat_clients": [f"client{n}" for n in range(1, 6)], "routers": ["router"]}
    assert one_of_each_kind(groups, hostvars) == ["server", "client1", "client2", "client4", "client5", "router"]


def test_a_host_in_two_groups_counts_once_in_its_first() -> None:
    hostvars = {"server": lan_host("192.168.56.10/24"), "client1": lan_host("192.168.56.101/24")}
    groups = {"chat_servers": ["server"], "chat_clients": ["client1", "server"]}
    assert one_of_each_kind(groups, hostvars) == ["server", "client1"]


def test_the_rerun_covers_every_host_once_unless_asked_for_one_of_each_kind() -> None:
    groups = {"chat_servers": ["server"], "chat_clients": ["client1", "client2", "server"], "routers": [],
              "plain": ["extra"]}
    hostvars = {"server": lan_host("192.168.56.10/24"), "client1": lan_host("192.168.56.11/24"),
                "client2": lan_host("192.168.56.12/24"), "extra": lan_host("192.168.56.13/24")}
    assert rerun_hosts("every-host", groups, hostvars) == ["server", "client1", "client2", "extra"]
    assert rerun_hosts("one-of-each-kind", groups, hostvars) == ["server", "client1", "extra"]
