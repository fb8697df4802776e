"""netconfig.apply's rollback script (pure text) and the CLI's exit status of a failed apply.

The real thing runs in test_netconfig_apply_netns.py (and on the lab's hosts, tests/infra/test_confirmed_apply.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from netconfig import apply, cli, session
from netconfig.interfaces import parse_static_address

IFACE = "ncfgsim0"
OLD = f"auto {IFACE}\niface {IFACE} inet static\n    address 10.0.0.4/24\n"
NEW = f"auto {IFACE}\niface {IFACE} inet static\n    address 10.0.0.5/24\n"


def _change(tmp_path: Path, old: str | None = OLD) -> apply.Change:
    return apply.Change(tmp_path / "interfaces", old, NEW,
                        (apply.Target(IFACE, parse_static_address("10.0.0.5/24")),))


def test_the_rollback_script_puts_back_what_the_snapshot_saw(tmp_path: Path) -> None:
    """The script (pure text from the change and the snapshot) is what the timer, 'netconfig rollback' and a
    failed apply all run; test_netconfig_apply_netns.py runs it for real."""
    before = apply.Before(IFACE, True, ("10.0.0.4/24", "10.0.0.44/24"),
                          (apply.LiveRoute("10.9.0.0/16", "10.0.0.254", "boot", metric=5, onlink=True),))
    tools = apply.Ifupdown(tmp_path / "interfaces", tmp_path / "ifstate")
    script = apply.rollback_script(_change(tmp_path), [before], tools)
    lines = script.splitlines()
    pending, backup = tmp_path / ".interfaces.netconfig.pending", tmp_path / ".interfaces.netconfig.bak"
    assert 'mv "$dir/armed" "$dir/rolling-back" 2>/dev/null ||' in script  # at most once, as confirm
    assert f"if ! cmp -s {tmp_path}/interfaces {backup}; then" in lines
    order = [next(i for i, line in enumerate(lines) if line.startswith(prefix)) for prefix in (
        f"ifdown --force -i {pending} --state-dir {tmp_path}/ifstate {IFACE}",
        f"ip -4 addr flush dev {IFACE}",
        f'ifup -i "$previous" --state-dir {tmp_path}/ifstate {IFACE}',
        f"ip addr add 10.0.0.4/24 dev {IFACE}", f"ip addr add 10.0.0.44/24 dev {IFACE}",
        f"ip route add 10.9.0.0/16 via 10.0.0.254 dev {IFACE} proto boot metric 5 onlink")]
    assert order == sorted(order)
    assert subprocess.run(["sh", "-n"], input=script, text=True, check=False).returncode == 0


def test_without_a_previous_file_the_rollback_only_restores_addresses(tmp_path: Path) -> None:
    before = apply.Before(IFACE, False, ("10.0.0.9/24",), ())
    script = apply.rollback_script(_change(tmp_path, old=None), [before], apply.Ifupdown(tmp_path / "interfaces"))
    assert "ifup" not in script and "cmp" not in script
    assert "was created since the change was applied: not touching it" in script
    assert f"ip addr add 10.0.0.9/24 dev {IFACE} 2>/dev/null" in script


@pytest.mark.parametrize(("rolled_back", "status"), [(True, 3), (False, 4)])
def test_cli_exit_status_of_a_failed_apply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str], rolled_back: bool,
                                           status: int) -> None:
    def failing(*args: object) -> None:
        raise apply.ApplyError("apply failed: because", rolled_back)

    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    monkeypatch.setattr(session, "ancestor_ssh_connection", lambda: None)
    monkeypatch.setattr(apply, "preflight", lambda: None)
    monkeypatch.setattr(apply, "apply_change", failing)
    path = tmp_path / "interfaces"
    assert cli.main(["set", "lo", "--address", "10.254.0.5/24", "--file", str(path), "--apply"]) == status
    assert capsys.readouterr().err == "netconfig: error: apply failed: because\n"


def test_preflight_names_the_action(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's message says --apply, the module's (chatlab_static_ip) says applying."""
    monkeypatch.setattr(apply.os, "geteuid", lambda: 1000)
    assert apply.preflight() == "--apply needs root (ifup/ifdown change the live interface)"
    assert apply.preflight("applying") == "applying needs root (ifup/ifdown change the live interface)"
