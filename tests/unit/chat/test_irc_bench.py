"""The benchmark's IRC machinery on a small load: the generator speaks IRC to the chat server's IRC port (and
to ngircd with --peer), every delivery counted. (Speed is the benchmark's business, never asserted here.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from repo_paths import REPO

from bench.serverproc import NGIRCD


def quick(tmp_path: Path, *flags: str) -> list[dict[str, object]]:
    results = tmp_path / "bench.json"
    command = [sys.executable, "-m", "bench", "--quick", "--scenario", "burst", *flags, "--json", str(results)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(results.read_text())["results"]


def test_quick_irc_burst_counts_every_delivery(tmp_path: Path) -> None:
    (burst,) = quick(tmp_path, "--dialect", "irc")
    assert burst["server"] == "chat IRC"
    assert burst["deliveries"] == burst["expected"] == 50 * 20 * 49 and burst["loss"] == 0
    assert burst["server_exit"] == 0 and burst["server_warnings"] == 0


@pytest.mark.skipif(not os.access(NGIRCD, os.X_OK), reason=f"ngircd is not installed ({NGIRCD}): tools/install-deps")
def test_quick_peer_burst_runs_line_irc_and_ngircd_side_by_side(tmp_path: Path) -> None:
    rows = quick(tmp_path, "--peer")
    assert [row["server"] for row in rows] == ["chat line", "chat IRC", "ngircd"]
    for row in rows:
        assert row["deliveries"] == row["expected"] == 50 * 20 * 49, row["server"]
