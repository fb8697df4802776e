"""netconfig set --apply for real: ifupdown inside a network namespace of the test's own.

Each test gets a namespace ``ncfgtest-XXXXXX`` and a veth pair ``ncfgXXXXXXh``/``ncfgXXXXXXi`` with the
``i`` end moved in; ifupdown's state lives in the test's temporary directory (``--state-dir``) and the
interfaces file is a temporary file (``--file``). Everything is deleted in teardown. Nothing touches the
machine's /etc/network/interfaces or its real interfaces.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from netns_helpers import Netns

from netconfig.interfaces import parse_static_address, set_static

OLD = "10.77.0.4/24"
NEW = "10.77.0.5/24"


def stanza_file(ns: Netns, address: str | None = OLD, extra: str = "") -> str:
    text = "# test file\nauto lo\niface lo inet loopback\n"
    if address:
        text += f"\nauto {ns.iface}\niface {ns.iface} inet static\n    address {address}\n"
    return text + extra


def test_apply_replaces_the_live_address(netns: Netns) -> None:
    original = stanza_file(netns, extra=f"\niface {netns.iface} inet6 manual\n")
    netns.file.write_text(original)
    netns.ifup()
    assert netns.ipv4() == {OLD}

    result = netns.set("--address", NEW, "--apply")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"applied: {netns.iface} holds {NEW}" in result.stdout
    # the old address is gone (ifdown ran with the previous file), the new one is there
    assert netns.ipv4() == {NEW}
    assert netns.ifupdown_has_it_up()
    assert netns.file.read_text() == original.replace(OLD, NEW)
    assert (netns.file.parent / ".interfaces.netconfig.bak").read_text() == original

    check = netns.netconfig("check", netns.iface, "--address", NEW, "--file", str(netns.file))
    assert (check.returncode, check.stdout) == (0, f"ok: {netns.iface} has {NEW} (no gateway) in "
                                                   f"{netns.file} and live\n")
    again = netns.set("--address", NEW, "--apply")
    assert again.returncode == 0
    assert again.stdout == (f"unchanged: {netns.file} already has {NEW} (no gateway) for {netns.iface}\n"
                            f"unchanged: {netns.iface} already holds {NEW} (no gateway)\n")
    mismatch = netns.netconfig("check", netns.iface, "--address", OLD, "--file", str(netns.file))
    assert mismatch.returncode == 1
    assert f"MISMATCH live: {netns.iface} does not hold {OLD} (it has {NEW})" in mismatch.stdout


def test_failed_ifup_rolls_back_file_and_address(netns: Netns) -> None:
    original = stanza_file(netns)
    netns.file.write_text(original)
    netns.ifup()
    netns.other_default_route()
    route_before = netns.default_route()

    result = netns.set("--address", NEW, "--gateway", "10.77.0.1", "--apply")
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"netconfig: error: apply failed: ifup {netns.iface} failed: "
                                    "RTNETLINK answers: File exists; rolled back")
    assert f"rolled back: {netns.file} left as it was and the previous configuration re-applied" in result.stderr
    assert netns.file.read_text() == original
    assert netns.ipv4() == {OLD}
    assert netns.ifupdown_has_it_up()
    assert netns.default_route() == route_before


def test_address_set_by_hand_is_replaced_and_restored(netns: Netns) -> None:
    """ifupdown never had the interface up: no ifdown; the hand-set address goes, and comes back on
    rollback (with `ip addr add`, since the old file has no stanza to re-apply)."""
    original = stanza_file(netns, address=None)
    netns.file.write_text(original)
    netns.run("ip", "addr", "add", "10.77.0.9/24", "dev", netns.iface)
    netns.run("ip", "link", "set", netns.iface, "up")
    netns.other_default_route()

    failed = netns.set("--address", NEW, "--gateway", "10.77.0.1", "--apply")
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert netns.file.read_text() == original
    assert netns.ipv4() == {"10.77.0.9/24"}
    assert not netns.ifupdown_has_it_up()

    done = netns.set("--address", NEW, "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert netns.ipv4() == {NEW}
    assert netns.file.read_text() == original + "\n" + (
        f"auto {netns.iface}\niface {netns.iface} inet static\n    address {NEW}\n")


def test_address_missing_after_ifup_rolls_back(netns: Netns) -> None:
    """ifup succeeds but a hook takes the new address away: the check after ifup catches it."""
    hook = f"\niface {netns.iface} inet6 manual\n    up ip addr del {NEW} dev {netns.iface} || true\n"
    original = stanza_file(netns, extra=hook)
    netns.file.write_text(original)
    netns.ifup()
    assert netns.ipv4() == {OLD}

    result = netns.set("--address", NEW, "--apply")
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"apply failed: {netns.iface} does not hold {NEW} (it has no IPv4 address)" in result.stderr
    assert netns.file.read_text() == original
    assert netns.ipv4() == {OLD}
    assert netns.ifupdown_has_it_up()


def test_unchanged_file_but_wrong_live_address_is_applied(netns: Netns) -> None:
    netns.file.write_text(stanza_file(netns, address=NEW))
    netns.run("ip", "addr", "add", OLD, "dev", netns.iface)
    result = netns.set("--address", NEW, "--apply")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"unchanged: {netns.file} already has {NEW}")
    assert f"applying {netns.file} to {netns.iface}" in result.stdout
    assert netns.ipv4() == {NEW}


def test_the_default_route_interface_is_refused_for_real(netns: Netns) -> None:
    """No fakes: inside the namespace the interface really carries the default route."""
    original = stanza_file(netns)
    netns.file.write_text(original)
    netns.ifup()
    netns.run("ip", "route", "add", "default", "via", "10.77.0.1", "dev", netns.iface)
    refused = netns.set("--address", NEW, "--apply")
    assert refused.returncode == 1
    assert refused.stderr == (f"netconfig: error: refusing to change {netns.iface}: {netns.iface} carries "
                              "the default route (ipv4) (--apply --confirm SECONDS for a change rolled back unless "
                              "confirmed, or --force)\n")
    assert netns.file.read_text() == original
    assert netns.ipv4() == {OLD}

    forced = netns.set("--address", NEW, "--gateway", "10.77.0.1", "--apply", "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert netns.ipv4() == {NEW}
    assert str(ipaddress.IPv4Address("10.77.0.1")) in netns.default_route()


# --------------------------------------------------------------------------------------------------
# Confirmed changes: here without systemd (PID 1 is not systemd), so the rollback is armed as a detached
# process; tests/infra/test_confirmed_apply.py runs the systemd timer inside the lab's hosts.

ROLLBACK_WAIT = 20.0


def _wait_for(what: str, condition: Callable[[], bool], timeout: float = ROLLBACK_WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.2)


def _confirm_log(ns: Netns) -> str:
    log = ns.state_dir / "netconfig" / "netconfig.log"
    return log.read_text() if log.exists() else ""


def _sleepers(ns: Netns) -> list[int]:
    """The detached rollback processes armed for this test's state directory."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"netconfig-rollback" in cmdline and str(ns.state_dir).encode() in cmdline:
            found.append(int(proc.name))
    return found


@pytest.fixture
def armed(netns: Netns) -> Iterator[tuple[Netns, bytes]]:
    """OLD live and in the file (CRLF and a byte that is not UTF-8 in it) with a default route and a static
    route set by hand; then `set NEW --apply --confirm 30` on it. Yields the namespace and the original bytes."""
    original = (f"# caf\xe9\r\nauto lo\r\niface lo inet loopback\r\n\r\nauto {netns.iface}\r\n"
                f"iface {netns.iface} inet static\r\n    address {OLD}\r\n    gateway 10.77.0.1\r\n").encode("latin-1")
    netns.file.write_bytes(original)
    netns.ifup()
    netns.run("ip", "route", "add", "10.99.0.0/16", "via", "10.77.0.254", "dev", netns.iface)
    result = netns.set("--address", NEW, "--gateway", "10.77.0.1", "--apply", "--confirm", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "waiting for confirmation" in result.stdout and "rolls back by itself at" in result.stdout
    assert netns.ipv4() == {NEW}
    assert netns.file.read_bytes() == original  # the file stays the previous one until confirmed
    yield netns, original
    for pid in _sleepers(netns):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def test_confirm_in_time_writes_the_file_and_disarms(armed: tuple[Netns, bytes]) -> None:
    netns, original = armed
    assert len(_sleepers(netns)) == 1
    second = netns.set("--address", "10.77.0.6/24", "--apply", "--confirm", "30")
    assert second.returncode == 1
    assert second.stderr.splitlines()[-1].startswith(
        f"netconfig: error: a change is waiting for confirmation ({netns.iface} {NEW} via 10.77.0.1, rolls back at ")
    assert netns.set("--address", "10.77.0.6/24", "--apply").returncode == 1  # an unconfirmed one neither
    assert netns.ipv4() == {NEW}
    other = netns.netconfig("confirm", "lo", "--state-dir", str(netns.state_dir))
    assert (other.returncode, other.stderr) == (1, "netconfig: error: nothing to confirm for lo: the change waiting "
                                                   f"for confirmation is {netns.iface} {NEW} via 10.77.0.1\n")
    done = netns.netconfig("confirm", netns.iface, "--state-dir", str(netns.state_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"confirmed: {netns.iface} {NEW} via 10.77.0.1; wrote {netns.file}")
    expected = set_static(original.decode("utf-8", "surrogateescape"), netns.iface,
                          parse_static_address(NEW, gateway="10.77.0.1"))
    assert netns.file.read_bytes() == expected.encode("utf-8", "surrogateescape")
    assert netns.file.read_bytes().startswith(original.split(b"\r\n\r\n")[0])  # CRLF and the byte 0xe9 kept
    assert (netns.file.parent / ".interfaces.netconfig.bak").read_bytes() == original
    assert not (netns.file.parent / ".interfaces.netconfig.pending").exists()
    _wait_for("the rollback process is gone", lambda: not _sleepers(netns), 5)
    assert netns.ipv4() == {NEW}
    again = netns.netconfig("confirm", "--state-dir", str(netns.state_dir))
    assert (again.returncode, again.stderr.split(" (last:")[0]) == (
        1, "netconfig: error: nothing to confirm: no change is waiting for confirmation")
    assert "confirmed:" in again.stderr  # the last thing the log says


def test_without_confirm_the_host_rolls_back_by_itself(netns: Netns) -> None:
    original = (f"auto lo\niface lo inet loopback\n\nauto {netns.iface}\niface {netns.iface} inet static\n"
                f"    address {OLD}\n    gateway 10.77.0.1\n").encode()
    netns.file.write_bytes(original)
    netns.ifup()
    netns.run("ip", "route", "add", "10.99.0.0/16", "via", "10.77.0.254", "dev", netns.iface)
    routes_before = netns.run("ip", "-4", "route", "show").stdout
    result = netns.set("--address", NEW, "--gateway", "10.77.0.1", "--route", "10.98.0.0/16", "via",
                       "10.77.0.253", "--apply", "--confirm", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    # live before the timer fired: netconfig's own check said so (reading it here would race the 5 s timer)
    assert f"applied: {netns.iface} holds {NEW} via 10.77.0.1, route 10.98.0.0/16 via 10.77.0.253" in result.stdout
    _wait_for("the rollback ran", lambda: "rolled back:" in _confirm_log(netns))
    log = _confirm_log(netns)
    assert log.index("armed: process") < log.index("rollback (timer): putting back"), log
    assert netns.ipv4() == {OLD}
    assert netns.run("ip", "-4", "route", "show").stdout == routes_before  # hand-set route and default back
    assert netns.file.read_bytes() == original
    assert netns.ifupdown_has_it_up()
    assert "rollback (timer): putting back" in _confirm_log(netns)
    assert not (netns.file.parent / ".interfaces.netconfig.pending").exists()
    late = netns.netconfig("confirm", "--state-dir", str(netns.state_dir))
    assert late.returncode == 1 and "nothing to confirm" in late.stderr and "rolled back:" in late.stderr


def test_a_file_edited_meanwhile_is_neither_confirmed_over_nor_rolled_back_over(armed: tuple[Netns, bytes]) -> None:
    netns, original = armed
    edited = original + b"# someone else's line\n"
    netns.file.write_bytes(edited)
    refused = netns.netconfig("confirm", "--state-dir", str(netns.state_dir))
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"netconfig: error: refusing to confirm: {netns.file} was changed since the "
                                     "change was applied: not overwriting it; the rollback stays armed")
    assert len(_sleepers(netns)) == 1
    back = netns.netconfig("rollback", "--state-dir", str(netns.state_dir))
    assert back.returncode == 0, back.stdout + back.stderr
    assert f"{netns.file} was changed since the change was applied: not touching it" in back.stdout
    assert netns.file.read_bytes() == edited
    assert netns.ipv4() == {OLD}
    assert "10.99.0.0/16 via 10.77.0.254" in netns.run("ip", "-4", "route", "show").stdout
    assert not _sleepers(netns)


def _disk(top: Path, state_dir: Path) -> dict[Path, bytes]:
    """Every file under `top` but the state directory: what a reboot keeps (/run is a tmpfs)."""
    return {p: p.read_bytes() for p in top.rglob("*") if p.is_file() and state_dir not in p.parents}


def test_a_reboot_before_confirm_comes_back_with_the_previous_configuration(netns: Netns) -> None:
    """What survives a reboot is the disk, not /run. While a change waits for confirmation, the disk says the
    previous configuration, also for a file in a sourced directory: netconfig's pending copy and backup beside it
    are hidden names, which ``source`` globs skip (``source-directory`` too); and all that waits (the armed mark,
    the rollback) lives in the state directory (/run/network at boot). No boot is run: ``ifquery`` reads what
    ``ifup -a`` at boot would apply."""
    sourced = netns.file.parent / "interfaces.d"
    sourced.mkdir()
    netns.file.write_text(f"auto lo\niface lo inet loopback\n\nsource {sourced}/*\n")
    fragment = sourced / "veth"
    fragment.write_text(f"auto {netns.iface}\niface {netns.iface} inet static\n    address {OLD}\n")
    netns.ifup()
    disk_before = _disk(netns.file.parent, netns.state_dir)
    boot_config = ["ifquery", "-i", str(netns.file), netns.iface]
    old_ip, new_ip = OLD.split("/")[0], NEW.split("/")[0]
    assert f"address: {old_ip}\n" in netns.run(*boot_config).stdout

    armed = netns.netconfig("set", netns.iface, "--address", NEW, "--file", str(fragment), "--state-dir",
                            str(netns.state_dir), "--apply", "--confirm", "30")
    assert armed.returncode == 0, armed.stdout + armed.stderr
    assert netns.ipv4() == {NEW}
    disk = _disk(netns.file.parent, netns.state_dir)
    assert {p: disk[p] for p in disk_before} == disk_before  # the files as they were
    assert sorted(p.name for p in disk.keys() - disk_before.keys()) == [
        ".veth.netconfig.bak", ".veth.netconfig.pending"]  # and beside them only hidden names
    booted = netns.run(*boot_config).stdout
    assert f"address: {old_ip}\n" in booted and new_ip not in booted, booted

    for pid in _sleepers(netns):  # the reboot: the armed process dies, /run is emptied
        os.killpg(pid, signal.SIGKILL)
    shutil.rmtree(netns.state_dir)
    netns.state_dir.mkdir()
    for command in ("confirm", "rollback"):
        nothing = netns.netconfig(command, "--state-dir", str(netns.state_dir))
        assert (nothing.returncode, nothing.stderr) == (
            1, f"netconfig: error: nothing to {command.replace('rollback', 'roll back')}: no change is waiting for "
               "confirmation\n")
    netns.run("ip", "-4", "addr", "flush", "dev", netns.iface)  # the boot brought up OLD (ifquery said so)
    netns.run("ip", "addr", "add", OLD, "dev", netns.iface)
    again = netns.netconfig("set", netns.iface, "--address", NEW, "--file", str(fragment), "--state-dir",
                            str(netns.state_dir), "--apply")  # the leftover pending copy stands in no one's way
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"address {NEW}" in fragment.read_text() and netns.ipv4() == {NEW}


def test_routes_are_written_applied_and_kept_across_ifdown_ifup(netns: Netns) -> None:
    netns.file.write_text(stanza_file(netns))
    netns.ifup()
    route = ("--route", "10.98.0.0/16", "via", "10.77.0.253")
    done = netns.set("--address", NEW, *route, "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (f"    address {NEW}\n    up ip route replace 10.98.0.0/16 via 10.77.0.253\n"
            "    down ip route del 10.98.0.0/16 via 10.77.0.253\n") in netns.file.read_text()
    assert "10.98.0.0/16 via 10.77.0.253" in netns.run("ip", "-4", "route", "show").stdout
    again = netns.set("--address", NEW, *route, "--apply")
    assert again.returncode == 0 and again.stdout.count("unchanged") == 2, again.stdout
    netns.run("ifdown", "-i", str(netns.file), "--state-dir", str(netns.state_dir), netns.iface)
    assert "10.98.0.0" not in netns.run("ip", "-4", "route", "show").stdout
    netns.ifup()
    assert "10.98.0.0/16 via 10.77.0.253" in netns.run("ip", "-4", "route", "show").stdout
    check = netns.netconfig("check", netns.iface, "--address", NEW, *route, "--file", str(netns.file))
    assert check.returncode == 0, check.stdout


def test_a_rollback_that_cannot_restore_says_so_with_status_4(armed: tuple[Netns, bytes]) -> None:
    """For real: the interface is gone (its veth pair deleted) when the rollback runs."""
    netns, original = armed
    netns.run("ip", "link", "del", netns.iface)
    failed = netns.netconfig("rollback", "--state-dir", str(netns.state_dir))
    assert failed.returncode == 4, failed.stdout + failed.stderr
    assert failed.stderr == f"netconfig: error: ROLLBACK FAILED: missing {netns.iface}:{OLD}\n"
    assert netns.file.read_bytes() == original
