"""Arming and disarming the rollback of a confirmed change (netconfig.apply._arm, _disarm).

On a host that systemd runs (every real host) the rollback is a transient timer: ``systemd-run --on-active``,
stopped with ``systemctl stop``. PID 1 here is not systemd, so that path runs against fake ``systemd-run`` and
``systemctl`` executables first on PATH (they log their arguments and fail when told to), and sd_booted() is
told yes; the commands, their order and the reactions to their failures are the real code's. The detached
process path (hosts without systemd) runs for real. tests/infra/test_confirmed_apply.py runs the real timer
inside the lab's hosts."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netconfig import apply

FAKE = """#!/bin/sh
printf '%s' "$(basename "$0")" >>"$FAKE_LOG"
for word in "$@"; do printf '\\t%s' "$word" >>"$FAKE_LOG"; done
printf '\\n' >>"$FAKE_LOG"
name=$(basename "$0" | tr - _)
eval "status=\\${FAKE_${name}_STATUS:-0}"
eval "message=\\${FAKE_${name}_MESSAGE:-}"
[ -n "$message" ] && echo "$message" >&2
exit "$status"
"""


class Systemd:
    """The fake systemd tools' log, and a way to make one fail."""

    def __init__(self, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.log = log
        self.monkeypatch = monkeypatch

    def fail(self, tool: str, message: str) -> None:
        name = tool.replace("-", "_")
        self.monkeypatch.setenv(f"FAKE_{name}_STATUS", "1")
        self.monkeypatch.setenv(f"FAKE_{name}_MESSAGE", message)

    def commands(self) -> list[list[str]]:
        return [line.split("\t") for line in self.log.read_text().splitlines()] if self.log.exists() else []


@pytest.fixture
def systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Systemd:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("systemd-run", "systemctl"):
        (bin_dir / tool).write_text(FAKE)
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "commands.log"))
    monkeypatch.setattr(apply, "systemd_runs_this_host", lambda: True)  # sd_booted(): not here
    return Systemd(tmp_path / "commands.log", monkeypatch)


@pytest.fixture
def tools(tmp_path: Path) -> Iterator[apply.Ifupdown]:
    lines: list[str] = []
    ifupdown = apply.Ifupdown(tmp_path / "interfaces", tmp_path / "ifstate", log=lines.append)
    ifupdown.confirm_dir.mkdir(parents=True)
    yield ifupdown


def unit_of(tools: apply.Ifupdown) -> str:
    return f"netconfig-rollback-{hashlib.sha256(str(tools.confirm_dir).encode()).hexdigest()[:8]}"


def test_the_unit_is_netconfig_rollback_and_one_of_its_own_for_another_state_dir(tools: apply.Ifupdown) -> None:
    assert apply.unit_name(apply.Ifupdown()) == "netconfig-rollback"
    assert apply.unit_name(tools) == unit_of(tools)


def test_arming_stops_a_leftover_unit_then_starts_the_timer(systemd: Systemd, tools: apply.Ifupdown) -> None:
    unit, script = unit_of(tools), str(tools.confirm_dir / apply.SCRIPT)
    before = time.time()
    armed = apply._arm(30, tools, "roll back eth1 10.0.0.5/24 unless confirmed")
    assert systemd.commands() == [
        ["systemctl", "stop", f"{unit}.timer", f"{unit}.service"],
        ["systemctl", "reset-failed", f"{unit}.timer", f"{unit}.service"],
        ["systemd-run", "--quiet", f"--unit={unit}", "--on-active=30s", "--timer-property=AccuracySec=1s",
         "--description=netconfig: roll back eth1 10.0.0.5/24 unless confirmed", "/bin/sh", script, "timer"],
    ]
    assert (armed.unit, armed.pid) == (unit, None)
    assert before + 30 <= armed.deadline <= time.time() + 30
    line = f"armed: {unit}.timer rolls back at {armed.at} unless confirmed"
    assert line in (tools.confirm_dir / apply.LOG).read_text()


def test_arming_goes_on_when_there_is_no_leftover_unit_to_stop(systemd: Systemd, tools: apply.Ifupdown) -> None:
    systemd.fail("systemctl", "Failed to stop netconfig-rollback.timer: Unit netconfig-rollback.timer not loaded.")
    armed = apply._arm(30, tools, "x")
    assert armed.unit == unit_of(tools)
    assert [c[0] for c in systemd.commands()] == ["systemctl", "systemctl", "systemd-run"]


def test_a_timer_that_cannot_be_armed_is_one_line_and_nothing_armed(systemd: Systemd, tools: apply.Ifupdown) -> None:
    systemd.fail("systemd-run", "Failed to start transient timer unit: Unit netconfig-rollback.timer already exists.")
    with pytest.raises(apply.ConfirmError) as raised:
        apply._arm(30, tools, "x")
    assert str(raised.value) == ("cannot arm the rollback timer (nothing changed): systemd-run: Failed to start "
                                 "transient timer unit: Unit netconfig-rollback.timer already exists.")
    assert not (tools.confirm_dir / apply.LOG).exists()  # no "armed:" line


def test_disarming_a_unit_stops_its_timer_and_service(systemd: Systemd, tools: apply.Ifupdown) -> None:
    apply._disarm("netconfig-rollback-0123abcd", None, tools)
    assert systemd.commands() == [
        ["systemctl", "stop", "netconfig-rollback-0123abcd.timer", "netconfig-rollback-0123abcd.service"],
        ["systemctl", "reset-failed", "netconfig-rollback-0123abcd.timer", "netconfig-rollback-0123abcd.service"]]


def test_a_timer_left_armed_by_a_failed_disarm_rolls_nothing_back(systemd: Systemd, tools: apply.Ifupdown,
                                                                   tmp_path: Path) -> None:
    """systemctl stop fails: _disarm does not raise (confirm has written the file by then), and the timer that
    fires later finds no armed mark (confirm took it): the script's at-most-once guard."""
    systemd.fail("systemctl", "Failed to stop: Connection timed out")
    apply._disarm("netconfig-rollback", None, tools)
    assert len(systemd.commands()) == 2
    change = apply.Change(tmp_path / "interfaces", "old\n", "new\n", ())
    (tools.confirm_dir / apply.SCRIPT).write_text(apply.rollback_script(change, [], tools))
    fired = subprocess.run(["/bin/sh", str(tools.confirm_dir / apply.SCRIPT), "timer"], capture_output=True,
                           text=True, timeout=30, check=False)
    assert (fired.returncode, fired.stdout) == (
        0, "netconfig: rollback: nothing to roll back (confirmed or rolled back already)\n")


def _alive(pid: int) -> bool:
    """Whether our child `pid` still runs (reaps it when it has exited)."""
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return False


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 30
    while _alive(pid):
        assert time.monotonic() < deadline, f"process {pid} still runs"
        time.sleep(0.05)


def test_without_systemd_a_detached_sleeper_is_armed_and_only_it_is_disarmed(tools: apply.Ifupdown,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apply, "systemd_runs_this_host", lambda: False)
    script = str(tools.confirm_dir / apply.SCRIPT)
    armed = apply._arm(300, tools, "x")
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        assert armed.unit is None and armed.pid is not None
        cmdline = Path(f"/proc/{armed.pid}/cmdline").read_bytes().split(b"\0")[:-1]
        assert cmdline == [b"/bin/sh", b"-c", b'sleep "$1"; exec /bin/sh "$2" timer', b"netconfig-rollback",
                           b"300", script.encode()]
        assert os.getpgid(armed.pid) == armed.pid  # its own session: the SSH session that armed it may end
        apply._disarm(None, stranger.pid, tools)  # a pid that is not the sleeper (reused, or change.json edited)
        apply._disarm(None, str(armed.pid), tools)  # not a pid
        assert stranger.poll() is None and _alive(armed.pid)
        apply._disarm(None, armed.pid, tools)
        _wait_gone(armed.pid)
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()
        if _alive(armed.pid):
            os.killpg(armed.pid, signal.SIGKILL)
            _wait_gone(armed.pid)
