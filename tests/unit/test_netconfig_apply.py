"""netconfig.apply's sequence and its rollback, against a simulated host.

The real thing runs in test_netconfig_apply_netns.py; this file covers what cannot be arranged for real
without breaking a host: a rollback that fails too (exit status 4).
"""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

import pytest

from netconfig import apply, cli, routes, session
from netconfig.interfaces import current_static, parse_static_address

IFACE = "ncfgsim0"
OLD = f"auto {IFACE}\niface {IFACE} inet static\n    address 10.0.0.4/24\n"
NEW = f"auto {IFACE}\niface {IFACE} inet static\n    address 10.0.0.5/24\n"


class SimulatedHost:
    """ifupdown and ip on one interface: ifup assigns the file's address unless told to fail."""

    def __init__(self, live: set[str], up: bool, ifup_fails_for: set[str], add_fails: bool = False) -> None:
        self.live = {ipaddress.IPv4Interface(a) for a in live}
        self.up = up
        self.ifup_fails_for = ifup_fails_for  # addresses whose ifup fails
        self.add_fails = add_fails
        self.calls: list[str] = []

    def log(self, line: str) -> None:
        pass

    def is_up(self, iface: str) -> bool:
        return self.up

    def ifdown(self, iface: str, file: Path | None = None, force: bool = False) -> None:
        self.calls.append(f"ifdown {file.name if file else '-'}" + (" --force" if force else ""))
        self.up = False

    def flush(self, iface: str) -> None:
        self.calls.append("flush")
        self.live.clear()

    def ifup(self, iface: str, file: Path | None = None) -> subprocess.CompletedProcess[str]:
        assert file is not None
        self.calls.append(f"ifup {file.name}")
        static = current_static(file.read_text(), iface)
        assert static is not None
        if static.cidr in self.ifup_fails_for:
            return subprocess.CompletedProcess([], 1, "", "RTNETLINK answers: File exists\n"
                                               f"ifup: failed to bring up {iface}\n")
        self.live.add(static.interface)
        self.up = True
        return subprocess.CompletedProcess([], 0, "", "")

    def add_address(self, iface: str, address: ipaddress.IPv4Interface) -> None:
        self.calls.append(f"add {address}")
        if not self.add_fails:
            self.live.add(address)


@pytest.fixture
def files_written(tmp_path: Path) -> tuple[Path, Path]:
    path, backup = tmp_path / "interfaces", tmp_path / ".interfaces.netconfig.bak"
    path.write_text(NEW)
    backup.write_text(OLD)
    return path, backup


def _apply(host: SimulatedHost, path: Path, backup: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apply, "ipv4_addresses", lambda iface: set(host.live))
    monkeypatch.setattr(routes, "read_default_routes", lambda: [])
    apply.apply_change(IFACE, path, parse_static_address("10.0.0.5/24"), OLD, backup, host)  # type: ignore[arg-type]


def test_success_downs_with_the_previous_file(files_written: tuple[Path, Path],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    host = SimulatedHost({"10.0.0.4/24"}, up=True, ifup_fails_for=set())
    _apply(host, *files_written, monkeypatch)
    assert host.calls == ["ifdown .interfaces.netconfig.bak", "flush", "ifup interfaces"]
    assert host.live == {ipaddress.IPv4Interface("10.0.0.5/24")}


def test_rollback(files_written: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    path, backup = files_written
    host = SimulatedHost({"10.0.0.4/24", "10.0.0.44/24"}, up=True, ifup_fails_for={"10.0.0.5/24"})
    with pytest.raises(apply.ApplyError) as raised:
        _apply(host, path, backup, monkeypatch)
    assert raised.value.rolled_back
    assert str(raised.value) == (
        f"apply failed: ifup {IFACE} failed: RTNETLINK answers: File exists; rolled back: restored {path} "
        f"and re-applied the old configuration ({IFACE}: 10.0.0.4/24, 10.0.0.44/24)")
    assert path.read_text() == OLD
    # the old file brings back 10.0.0.4; 10.0.0.44 (set by hand before) is added back
    assert host.calls == ["ifdown .interfaces.netconfig.bak", "flush", "ifup interfaces",
                          "ifdown interfaces --force", "flush", "ifup interfaces", "add 10.0.0.44/24"]
    assert host.live == {ipaddress.IPv4Interface("10.0.0.4/24"), ipaddress.IPv4Interface("10.0.0.44/24")}


def test_failed_rollback_says_so(files_written: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    path, backup = files_written
    host = SimulatedHost({"10.0.0.4/24"}, up=True, ifup_fails_for={"10.0.0.4/24", "10.0.0.5/24"},
                         add_fails=True)
    with pytest.raises(apply.ApplyError) as raised:
        _apply(host, path, backup, monkeypatch)
    assert not raised.value.rolled_back
    assert str(raised.value) == (f"apply failed: ifup {IFACE} failed: RTNETLINK answers: File exists; "
                                 f"ROLLBACK FAILED too: {IFACE} is missing 10.0.0.4/24")
    assert path.read_text() == OLD  # the file is back even so


@pytest.mark.parametrize(("rolled_back", "status"), [(True, 3), (False, 4)])
def test_cli_exit_status_of_a_failed_apply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str], rolled_back: bool,
                                           status: int) -> None:
    def failing(*args: object) -> None:
        raise apply.ApplyError("apply failed: because", rolled_back)

    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    monkeypatch.setattr(session, "ancestor_ssh_connection", lambda: None)
    monkeypatch.setattr(routes, "read_default_routes", lambda: [])
    monkeypatch.setattr(apply, "preflight", lambda: None)
    monkeypatch.setattr(apply, "apply_change", failing)
    path = tmp_path / "interfaces"
    assert cli.main(["set", "lo", "--address", "10.254.0.5/24", "--file", str(path), "--apply"]) == status
    assert capsys.readouterr().err == "netconfig: error: apply failed: because\n"
