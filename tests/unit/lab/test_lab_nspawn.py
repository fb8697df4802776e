"""The container provider: a recorded process told from a later one with its PID, and the limits it raises."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from lab.config import configure, up_request
from lab.providers.nspawn.provider import NspawnLab, _record_process, _recorded_process, ensure_inotify_instances


def test_a_recorded_process_is_found_while_it_lives(tmp_path: Path) -> None:
    record = tmp_path / "nspawn.pid"
    _record_process(record, os.getpid())
    assert _recorded_process(record) == os.getpid()


def test_a_process_that_ended_or_a_reused_pid_is_not_taken_for_it(tmp_path: Path) -> None:
    ended = subprocess.Popen(["true"])
    record = tmp_path / "ended.pid"
    _record_process(record, ended.pid)
    ended.wait()
    assert _recorded_process(record) is None
    reused = tmp_path / "reused.pid"
    reused.write_text(f"{os.getpid()} 1\n")  # our PID, but another start time: a different process
    assert _recorded_process(reused) is None
    assert _recorded_process(tmp_path / "missing.pid") is None


def test_inotify_limit_is_raised_for_many_hosts_and_never_lowered(tmp_path: Path) -> None:
    limit = tmp_path / "max_user_instances"
    limit.write_text("128\n")
    said: list[str] = []
    ensure_inotify_instances(1000, said.append, limit)
    assert limit.read_text() == "1000\n" and "from 128 to 1000" in said[0]
    ensure_inotify_instances(500, said.append, limit)
    assert limit.read_text() == "1000\n" and len(said) == 1


def test_the_leftovers_of_a_host_no_longer_in_the_lab_are_removed_and_nothing_else(tmp_path: Path) -> None:
    """A state directory with a host the topology no longer has (client9): its nspawn (a stand-in process of the
    test's own), its orphaned init (another), its veth link (a pair the test made) and its directory go; a
    recorded PID that is now another process, a wanted host's directory and a link it does not list stay."""
    if os.geteuid() != 0:
        pytest.skip("needs root (a veth pair)")
    config = configure(up_request({"LAB_NAME": "lt"}, root=tmp_path), "nspawn")
    tag = uuid.uuid4().hex[:6]
    ours, other = f"mendl{tag}", f"mendo{tag}"
    for name in (ours, other):
        subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}p"], check=True)
    nspawn, init, stranger, wanted = (subprocess.Popen(["sleep", "300"]) for _ in range(4))
    try:
        gone, reused = config.hosts_dir / "client9", config.hosts_dir / "client8"
        kept = config.hosts_dir / config.hosts[0].name
        for directory in (gone, reused, kept):
            directory.mkdir(parents=True)
        _record_process(gone / "nspawn.pid", nspawn.pid)
        _record_process(gone / "init", init.pid)
        (gone / "links").write_text(f"{ours} eth0\n")
        (reused / "nspawn.pid").write_text(f"{stranger.pid} 1\n")  # its PID, another start time: not that host
        _record_process(kept / "nspawn.pid", wanted.pid)  # a wanted host is not touched
        lines: list[str] = []
        NspawnLab(config, log=lines.append)._remove_surplus_hosts()
        assert nspawn.wait(30) == -signal.SIGTERM  # an orderly poweroff first
        assert init.wait(30) == -signal.SIGKILL
        assert not gone.exists() and not reused.exists() and stranger.poll() is None
        assert kept.is_dir() and (kept / "nspawn.pid").is_file() and wanted.poll() is None
        assert not Path("/sys/class/net", ours).exists() and Path("/sys/class/net", other).exists()
        assert sorted(lines) == ["client8: removed (not part of this lab any more)",
                                 "client9: removed (not part of this lab any more)"]
    finally:
        for process in (nspawn, init, stranger, wanted):
            process.kill()
            process.wait()
        for name in (ours, other):
            subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)
