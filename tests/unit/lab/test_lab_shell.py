"""Which routes make a management subnet unusable: any but the default route, wherever it is listed;
and how a failed command is reported."""

from __future__ import annotations

import os

import pytest

from lab.errors import LabError
from lab.plumbing.shell import run, specific_routes


def test_a_bridge_route_counts_even_after_the_default_route() -> None:
    listing = ("default via 192.0.2.1 dev eth0 \n"
               "10.199.56.0/24 dev chatlab-mgmt proto kernel scope link src 10.199.56.1 \n")
    assert specific_routes(listing) == ["10.199.56.0/24 dev chatlab-mgmt proto kernel scope link src 10.199.56.1"]


def test_only_the_default_route_leaves_the_subnet_free() -> None:
    assert specific_routes("default via 192.0.2.1 dev eth0 \n") == []
    assert specific_routes("") == []


def test_run_names_what_failed_with_its_last_error_line() -> None:
    with pytest.raises(LabError, match=r"^step 'boot' failed: second$"):
        run(["sh", "-c", "echo first >&2; echo second >&2; exit 3"], what="step 'boot'")


def test_run_uses_the_environment_it_is_given() -> None:
    env = {"PATH": os.environ["PATH"], "CHATLAB_PROBE": "given"}
    assert run(["sh", "-c", 'echo "$CHATLAB_PROBE"'], env=env).stdout == "given\n"
