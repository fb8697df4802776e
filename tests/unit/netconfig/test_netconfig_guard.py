"""The lock-out guard: refuse to change the interface of the default route or of this SSH session.

Only what cannot exist here is faked: the SSH_CONNECTION variable and the default routes the guard sees
(netconfig.apply.link_states). The interfaces are this machine's real ones (``lo`` is everywhere); the file
written is a temporary file.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from repo_paths import REPO

from netconfig import apply, cli, session
from netconfig.discovery import InterfaceInfo, discover
from netconfig.guard import lockout_reasons, ssh_local_address

ADDRESS = "10.254.0.5/24"


@pytest.mark.parametrize(("value", "expected"), [
    ("203.0.113.9 50022 192.0.2.2 22", "192.0.2.2"),
    ("2001:db8::9 50022 2001:db8::2 22", "2001:db8::2"),
    ("::ffff:203.0.113.9 50022 ::ffff:192.0.2.2 22", "192.0.2.2"),
    ("fe80::1%eth0 50022 fe80::2%eth0 22", "fe80::2"),
    (None, None), ("", None), ("203.0.113.9 50022 192.0.2.2", None), ("a b c d", None),
])
def test_ssh_local_address(value: str | None, expected: str | None) -> None:
    got = ssh_local_address(value)
    assert (str(got) if got else None) == expected


def _info(name: str, default_route: tuple[str, ...] = (), ipv4: str = "192.0.2.2/24") -> InterfaceInfo:
    return InterfaceInfo(name, None, (ipaddress.IPv4Interface(ipv4),), (), "up", default_route)


def test_connected_addresses_are_protected_too() -> None:
    """The static_ip module passes the addresses Ansible connects to (ansible_host)."""
    infos = [_info("eth0", ipv4="10.0.0.20/24")]
    assert lockout_reasons("eth0", infos, None, [ipaddress.ip_address("10.0.0.20")]) == [
        "eth0 holds 10.0.0.20, the address Ansible connects to"]
    assert lockout_reasons("eth0", infos, "10.0.0.9 5000 10.0.0.20 22", [ipaddress.ip_address("10.0.0.20")]) == [
        "eth0 holds 10.0.0.20, the address of this SSH session (SSH_CONNECTION)"]  # said once


def test_link_states_see_the_real_loopback() -> None:
    lo = next(s for s in apply.link_states() if s.name == "lo")
    assert lo.holds(ipaddress.ip_address("127.0.0.1"))
    assert lo.default_route == ()


def test_lockout_reasons() -> None:
    infos = [_info("eth0", ("ipv4",)), _info("eth1", ipv4="198.51.100.2/24")]
    ssh = "203.0.113.9 50022 198.51.100.2 22"
    assert lockout_reasons("eth0", infos, None) == ["eth0 carries the default route (ipv4)"]
    assert lockout_reasons("eth1", infos, ssh) == [
        "eth1 holds 198.51.100.2, the address of this SSH session (SSH_CONNECTION)"]
    assert lockout_reasons("eth1", infos, None) == []
    assert lockout_reasons("eth0", infos[1:], ssh) == []  # not here: nothing to lose


@pytest.fixture
def no_ssh_no_route(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    monkeypatch.setattr(session, "ancestor_ssh_connection", lambda: None)  # the session running the tests
    real = apply.link_states()
    monkeypatch.setattr(apply, "link_states", lambda: [replace(s, default_route=()) for s in real])
    return monkeypatch


def _with_default_route(monkeypatch: pytest.MonkeyPatch, iface: str) -> None:
    real = apply.link_states()
    monkeypatch.setattr(apply, "link_states", lambda: [
        replace(s, default_route=("ipv4",) if s.name == iface else ()) for s in real])


def _set_lo(tmp_path: Path, *extra: str) -> int:
    return cli.main(["set", "lo", "--address", ADDRESS, "--file", str(tmp_path / "interfaces"), *extra])


def test_default_route_interface_is_refused(tmp_path: Path, no_ssh_no_route: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _with_default_route(no_ssh_no_route, "lo")
    assert _set_lo(tmp_path) == 1
    err = capsys.readouterr().err
    assert err == ("netconfig: error: refusing to change lo: lo carries the default route (ipv4) "
                   "(--apply --confirm SECONDS for a change rolled back unless confirmed, or --force)\n")
    assert not (tmp_path / "interfaces").exists()


def test_ssh_session_interface_is_refused(tmp_path: Path, no_ssh_no_route: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    no_ssh_no_route.setenv("SSH_CONNECTION", "127.0.0.9 40000 127.0.0.1 22")
    (tmp_path / "interfaces").write_text("auto lo\niface lo inet loopback\n")
    assert _set_lo(tmp_path) == 1
    assert "lo holds 127.0.0.1, the address of this SSH session" in capsys.readouterr().err
    assert (tmp_path / "interfaces").read_text() == "auto lo\niface lo inet loopback\n"
    # --dry-run shows what would happen and says it would be refused
    assert _set_lo(tmp_path, "--dry-run", "--diff") == 0
    captured = capsys.readouterr()
    assert "this would be refused" in captured.err
    assert f"+    address {ADDRESS}\n" in captured.out
    assert (tmp_path / "interfaces").read_text() == "auto lo\niface lo inet loopback\n"
    # --force does it (this is only a temporary file) and warns
    assert _set_lo(tmp_path, "--force") == 0
    assert "warning: --force" in capsys.readouterr().err
    assert f"    address {ADDRESS}\n" in (tmp_path / "interfaces").read_text()
    # a rerun with the same values changes nothing: no --force needed
    assert _set_lo(tmp_path) == 0
    assert "unchanged" in capsys.readouterr().out


def test_other_interfaces_pass(tmp_path: Path, no_ssh_no_route: pytest.MonkeyPatch) -> None:
    no_ssh_no_route.setenv("SSH_CONNECTION", "192.0.2.99 40000 192.0.2.98 22")  # held by no interface here
    _with_default_route(no_ssh_no_route, "ncfg-x")
    assert _set_lo(tmp_path) == 0


def test_the_real_default_route_interface_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing faked: the interface of this machine's default route."""
    holders = [i for i in discover() if "ipv4" in i.default_route]
    if not holders:
        pytest.skip("this machine has no IPv4 default route to protect")
    iface = holders[0].name
    path = tmp_path / "interfaces"
    assert cli.main(["set", iface, "--address", ADDRESS, "--file", str(path)]) == 1
    assert f"refusing to change {iface}: {iface} carries the default route" in capsys.readouterr().err
    assert not path.exists()


ROOT = REPO


def _under_sudo_like_parent(ssh_connection: str, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run python in a child of a shell that has SSH_CONNECTION, without it itself (as sudo does)."""
    env = dict(os.environ, SSH_CONNECTION=ssh_connection, PYTHONPATH=str(ROOT))
    script = 'code=$1; shift; env -u SSH_CONNECTION "$0" -c "$code" "$@"; exit $?'  # no exec: not last
    return subprocess.run(["sh", "-c", script, sys.executable, code, *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_ssh_connection_is_found_in_a_parent_process() -> None:
    code = ("import os\nfrom netconfig.session import ssh_connection\n"
            "print(os.environ.get('SSH_CONNECTION'), ssh_connection())")
    result = _under_sudo_like_parent("198.51.100.7 40000 198.51.100.1 22", code)
    assert result.stdout == "None 198.51.100.7 40000 198.51.100.1 22\n", result.stderr


def test_session_of_a_parent_is_protected(tmp_path: Path) -> None:
    """sudo drops SSH_CONNECTION: the guard still sees the session (here one on lo's 127.0.0.1)."""
    code = "import sys\nfrom netconfig.cli import main\nsys.exit(main(sys.argv[1:]))"
    path = tmp_path / "interfaces"
    result = _under_sudo_like_parent("127.0.0.9 40000 127.0.0.1 22", code,
                                     "set", "lo", "--address", ADDRESS, "--file", str(path))
    assert result.returncode == 1
    assert "refusing to change lo: " in result.stderr
    assert "lo holds 127.0.0.1, the address of this SSH session (SSH_CONNECTION)" in result.stderr
    assert not path.exists()
