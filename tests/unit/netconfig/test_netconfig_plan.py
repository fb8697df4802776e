"""netconfig.plan.decide, the one decision of the CLI's ``set`` and the static_ip module: values in, a plan out.

Each test is one rule of netconfig/plan.py's docstring; the live state is written out as values (no machine is
asked), the file is a string."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from netconfig.apply import LinkState
from netconfig.interfaces import parse_static_address
from netconfig.plan import (
    CONFIRMED,
    CONFLICT,
    DRY_RUN,
    FORCED,
    LOCKOUT,
    MISSING,
    REFUSED,
    FileState,
    LiveState,
    Request,
    Target,
    decide,
    missing_interface,
)

PATH = Path("/etc/network/interfaces")
ETH1 = Target("eth1", parse_static_address("10.0.0.5/24"))
ETH2 = Target("eth2", parse_static_address("10.0.1.5/24"))
HAS_ETH1 = "auto eth1\niface eth1 inet static\n    address 10.0.0.5/24\n"
OLD_ETH1 = "auto eth1\niface eth1 inet static\n    address 10.0.0.4/24\n"


def link(name: str, *addresses: str, default_route: tuple[str, ...] = ()) -> LinkState:
    return LinkState(name, tuple(ipaddress.ip_address(a) for a in addresses), default_route)


def live(*links: LinkState, ssh: str | None = None, connected: tuple[str, ...] = (),
         not_live: dict[str, str | None] | None = None) -> LiveState:
    return LiveState(frozenset(lnk.name for lnk in links), links, ssh,
                     tuple(ipaddress.ip_address(a) for a in connected),
                     not_live if not_live is not None else {lnk.name: None for lnk in links})


QUIET = live(link("eth1", "10.0.0.4"), link("eth2"))  # no default route, no SSH session on them


def test_a_missing_interface_is_refused_before_anything_else_unless_offline() -> None:
    request = Request((ETH1,), force=True, dry_run=True)
    plan = decide(request, FileState(PATH, OLD_ETH1), live(link("eth2")))
    assert [(o.kind, o.ifaces, o.outcome) for o in plan.objections] == [(MISSING, ("eth1",), REFUSED)]
    assert plan.refusal is plan.objections[0] and not plan.writes_file and not plan.changed
    assert missing_interface(request, live(link("eth2"))) == "eth1"
    offline = Request((ETH1,), offline=True)
    assert missing_interface(offline, live()) is None
    assert decide(offline, FileState(PATH, OLD_ETH1), live()).new_text == HAS_ETH1


def test_the_file_gets_each_stanza_and_a_stanza_it_has_is_not_rewritten() -> None:
    plan = decide(Request((ETH1, ETH2)), FileState(PATH, HAS_ETH1), QUIET)
    assert plan.rewritten == plan.touched == (ETH2,)
    assert plan.new_text == HAS_ETH1 + "\nauto eth2\niface eth2 inet static\n    address 10.0.1.5/24\n"
    assert plan.changed and plan.writes_file and not plan.applies and plan.objections == ()


def test_no_file_yet_is_a_file_to_write() -> None:
    plan = decide(Request((ETH1,)), FileState(PATH, None), QUIET)
    assert (plan.old_text, plan.new_text, plan.rewritten) == ("", HAS_ETH1, (ETH1,))


def test_nothing_to_do_when_the_file_has_it_and_the_interface_holds_it() -> None:
    plan = decide(Request((ETH1,), apply=True), FileState(PATH, HAS_ETH1), QUIET)
    assert (plan.changed, plan.writes_file, plan.applies, plan.touched) == (False, False, False, ())


def test_applying_touches_an_interface_that_does_not_hold_its_address_live_yet() -> None:
    not_yet = live(link("eth1", "10.0.0.4"), not_live={"eth1": "eth1 does not hold 10.0.0.5/24"})
    plan = decide(Request((ETH1,), apply=True), FileState(PATH, HAS_ETH1), not_yet)
    assert (plan.writes_file, plan.touched, plan.applies, plan.changed) == (False, (ETH1,), True, True)
    assert decide(Request((ETH1,)), FileState(PATH, HAS_ETH1), not_yet).touched == ()  # without apply: the file


def test_a_sourced_file_configuring_the_interface_too_is_refused_unless_forced() -> None:
    fragment = Path("/etc/network/interfaces.d/50-cloud-init")
    file = FileState(PATH, "source-directory interfaces.d\n", {fragment: "iface eth1 inet dhcp\n",
                                                               Path("/etc/network/interfaces.d/eth2"): "#\n"})
    refused = decide(Request((ETH1,), apply=True, confirm_seconds=60, confirm_every_apply=True), file, QUIET)
    assert [(o.kind, o.ifaces, o.outcome) for o in refused.objections] == [(CONFLICT, ("eth1",), REFUSED)]
    assert refused.refusal is not None and refused.refusal.describe() == (
        f"{fragment} (sourced by {PATH}) also configures eth1 inet and ifupdown would apply both: fix that file "
        "first")  # a confirm does not help: the file itself is wrong
    assert decide(Request((ETH1,), force=True), file, QUIET).objections[0].outcome == FORCED
    assert decide(Request((ETH1,), dry_run=True), file, QUIET).objections[0].outcome == DRY_RUN


def test_a_sourced_conflict_of_a_stanza_the_file_already_has_is_let_through() -> None:
    file = FileState(PATH, HAS_ETH1 + "source interfaces.d/*\n",
                     {Path("/etc/network/interfaces.d/x"): "iface eth1 inet dhcp\n"})
    assert decide(Request((ETH1,)), file, QUIET).objections == ()


@pytest.mark.parametrize(("links", "ssh", "connected", "reason"), [
    ((link("eth1", "10.0.0.4", default_route=("ipv4",)),), None, (), "eth1 carries the default route (ipv4)"),
    ((link("eth1", "10.0.0.4"),), "10.0.0.9 50000 10.0.0.4 22", (),
     "eth1 holds 10.0.0.4, the address of this SSH session (SSH_CONNECTION)"),
    ((link("eth1", "10.0.0.4"),), None, ("10.0.0.4",), "eth1 holds 10.0.0.4, the address Ansible connects to"),
])
def test_an_interface_at_risk_is_refused_unless_forced(links: tuple[LinkState, ...], ssh: str | None,
                                                       connected: tuple[str, ...], reason: str) -> None:
    state = live(*links, ssh=ssh, connected=connected)
    plan = decide(Request((ETH1,)), FileState(PATH, OLD_ETH1), state)
    assert [(o.kind, o.ifaces, o.reasons, o.outcome) for o in plan.objections] == [
        (LOCKOUT, ("eth1",), (reason,), REFUSED)]
    assert not plan.confirmed
    forced = decide(Request((ETH1,), apply=True, force=True, confirm_seconds=60), FileState(PATH, OLD_ETH1), state)
    assert (forced.objections[0].outcome, forced.confirmed) == (FORCED, False)  # forced: unconfirmed


def test_an_interface_not_touched_is_no_risk() -> None:
    at_risk = live(link("eth1", "10.0.0.5", default_route=("ipv4",)))
    assert decide(Request((ETH1,), apply=True), FileState(PATH, HAS_ETH1), at_risk).objections == ()


def test_a_dry_run_reports_the_risk_instead_of_refusing() -> None:
    state = live(link("eth1", "10.0.0.4", default_route=("ipv4",)))
    plan = decide(Request((ETH1,), dry_run=True), FileState(PATH, OLD_ETH1), state)
    assert [o.outcome for o in plan.objections] == [DRY_RUN] and plan.refusal is None


def test_the_module_confirms_only_an_applied_change_at_risk_with_a_timeout() -> None:
    at_risk = live(link("eth1", "10.0.0.4"), link("eth2"), ssh="10.0.0.9 50000 10.0.0.4 22")
    file = FileState(PATH, OLD_ETH1)
    plan = decide(Request((ETH1,), apply=True, confirm_seconds=120), file, at_risk)
    assert (plan.confirmed, plan.objections[0].outcome, plan.refusal) == (True, CONFIRMED, None)
    assert not decide(Request((ETH2,), apply=True, confirm_seconds=120), file, at_risk).confirmed  # no risk
    assert decide(Request((ETH1,), apply=True, confirm_seconds=0), file, at_risk).refusal is not None
    assert decide(Request((ETH1,), confirm_seconds=120), file, at_risk).refusal is not None  # no apply: no confirm


def test_the_cli_confirms_every_applied_change_it_is_asked_to() -> None:
    plan = decide(Request((ETH1,), apply=True, confirm_seconds=30, confirm_every_apply=True),
                  FileState(PATH, OLD_ETH1), QUIET)
    assert (plan.confirmed, plan.objections) == (True, ())
    assert not decide(Request((ETH1,), confirm_seconds=30, confirm_every_apply=True),  # nothing applied
                      FileState(PATH, OLD_ETH1), QUIET).confirmed


def test_a_confirmed_change_says_where_to_reconnect() -> None:
    """To the new address of the interface that holds the session's address now; else the protected address."""
    session = live(link("eth1", "10.0.0.4"), link("eth2", "10.0.1.4"), ssh="10.0.0.9 50000 10.0.0.4 22")
    plan = decide(Request((ETH2, ETH1), apply=True, confirm_seconds=60), FileState(PATH, ""), session)
    assert plan.reconnect is not None
    assert (plan.reconnect.address, str(plan.reconnect.previous), plan.reconnect.where) == (
        "10.0.0.5", "10.0.0.4", "eth1: 10.0.0.5")
    default_route = live(link("eth1", "10.0.0.4", default_route=("ipv4",)))
    plan = decide(Request((ETH1,), apply=True, confirm_seconds=60, protect_addresses=("host1",)),
                  FileState(PATH, ""), default_route)  # connected by a name that did not resolve
    assert plan.reconnect is not None
    assert (plan.reconnect.address, plan.reconnect.previous, plan.reconnect.where) == ("host1", None, "eth1: host1")


def test_the_dropped_options_of_a_rewritten_stanza_are_told() -> None:
    plan = decide(Request((ETH1,)), FileState(PATH, "iface eth1 inet dhcp\n    hostname box\n"), QUIET)
    assert plan.dropped == (("eth1", "hostname box"),)

