"""Which routes make a management subnet unusable: any but the default route, wherever it is listed."""

from __future__ import annotations

from lab.shell import specific_routes


def test_a_bridge_route_counts_even_after_the_default_route() -> None:
    listing = ("default via 192.0.2.1 dev eth0 \n"
               "10.199.56.0/24 dev chatlab-mgmt proto kernel scope link src 10.199.56.1 \n")
    assert specific_routes(listing) == ["10.199.56.0/24 dev chatlab-mgmt proto kernel scope link src 10.199.56.1"]


def test_only_the_default_route_leaves_the_subnet_free() -> None:
    assert specific_routes("default via 192.0.2.1 dev eth0 \n") == []
    assert specific_routes("") == []
