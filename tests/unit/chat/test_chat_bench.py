"""The benchmark's machinery on a small load: every delivery counted, no loss, a clean server exit.
(Speed is the benchmark's business, never asserted here.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from repo_paths import REPO

from bench import floor


def test_quick_bench_counts_every_delivery(tmp_path: Path) -> None:
    results = tmp_path / "bench.json"
    command = [sys.executable, "-m", "bench", "--quick", "--scenario", "burst", "--scenario", "idle",
               "--json", str(results)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "scenario | clients" in done.stdout
    burst, idle = json.loads(results.read_text())["results"]
    assert burst["scenario"] == "burst"
    assert burst["messages"] == 50 * 20
    assert burst["deliveries"] == burst["expected"] == 50 * 20 * 49
    assert burst["loss"] == 0 and burst["held"] == 50 and burst["dropped_by_server"] == 0
    assert burst["server_cpu_s"] > 0 and burst["peak_rss_mib"] > 0
    assert idle["held"] == 1000 and idle["connect_join_s"] > 0
    for row in (burst, idle):
        assert row["server_exit"] == 0 and row["server_warnings"] == 0


def test_send_floor_makes_one_send_per_member_of_each_fanout() -> None:
    result = floor.measure(sockets=20, rate=200, members=5, sender_cpu=None, seconds=0.1)
    assert result.sockets == 20
    assert result.sends == 20 * 4  # 20 lines (200/s for 0.1 s), each to the 4 other members
    assert result.us_per_send > 0
    assert 0 < result.core_share < 1  # 800 sends/s are a small share of one core on any machine


def test_quick_flood_scenario_cuts_flooders_and_keeps_every_bystander_delivery(tmp_path: Path) -> None:
    results = tmp_path / "bench.json"
    command = [sys.executable, "-m", "bench", "--quick", "--scenario", "flood", "--json", str(results)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (flood,) = json.loads(results.read_text())["results"]
    assert flood["deliveries"] == flood["expected"] == 150 * 49 and flood["loss"] == 0
    assert flood["held"] == 50 and flood["dropped_by_server"] == 0  # no bystander was cut
    assert flood["flood_connections"] >= 50 and flood["flood_cut"] > 0 and flood["flood_bytes"] > 0
    assert flood["server_exit"] == 0 and flood["peak_rss_mib"] > 0
