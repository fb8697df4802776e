"""The container provider: a recorded process told from a later one with its PID, and the limits it raises."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from lab.providers.nspawn.provider import _record_process, _recorded_process, ensure_inotify_instances


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
