"""lab bench's own parts on this machine: bench/lab_client.py as two "hosts" (two processes with stdlib only) against
a real chat server on loopback, driven by bench/lab_driver.py, and the report's arithmetic, table and picture."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from repo_paths import REPO

from bench.lab_driver import CLIENT_FILES, Share, client_args, drive, split
from bench.lab_report import expected_deliveries, plot, report, rooms_of, row, table
from bench.serverproc import ServerProcess

SERVER_FLAGS = ["--rate", "0", "--idle-timeout", "0", "--max-clients-per-address", "1000", "--log-level", "warning"]


def test_the_load_is_split_evenly_and_rooms_are_numbered_across_hosts() -> None:
    shares = split(["client1", "client2", "client3"], 10, 100.0)
    assert [(s.clients, s.offset) for s in shares] == [(4, 0), (3, 4), (3, 7)]
    assert sum(s.rate for s in shares) == pytest.approx(100.0)
    assert rooms_of(4, 3, 2) == {0: 2, 1: 1}  # connections 4, 5, 6 in rooms 0, 1, 0


def test_a_message_is_due_to_every_other_member_of_its_room_on_every_host() -> None:
    members = {"a": {0: 2}, "b": {0: 3}}  # room 0: five members, two on a, three on b
    sent = {"a": {0: 10}, "b": {0: 1}}
    # a's two get b's 1 message twice and each other's: 11 x 2 - 10; b's three: 11 x 3 - 1
    assert expected_deliveries(members, sent) == {"a": 12, "b": 32}


def _result(expected: int, received: int) -> dict[str, object]:
    return {"connections": 10, "held": 10, "sent": 100, "send_s": 1.0, "expected": expected, "received": received,
            "timed": 2, "buckets": {"100": 1, "300": 1}, "bucket_ns": 10_000, "max_ms": 3.0, "series": []}


def test_a_lost_delivery_anywhere_shows_in_the_total() -> None:
    total = row("total", {"a": _result(500, 500), "b": _result(500, 499)})
    assert total["lost"] == 1 and total["loss_pct"] == pytest.approx(0.1)
    assert total["p50_ms"] == pytest.approx(1.01) and total["max_ms"] == 3.0


@pytest.fixture
def server(tmp_path: Path):
    proc = ServerProcess(sys.executable, SERVER_FLAGS, None, tmp_path / "server.log")
    yield proc
    proc.stop()


def test_two_hosts_clients_count_every_delivery_and_time_their_own(server: ServerProcess, tmp_path: Path) -> None:
    host_dir = tmp_path / "host"  # what is copied to a lab host: these files alone, run with stdlib only (-I)
    host_dir.mkdir()
    for name in CLIENT_FILES:
        shutil.copy(REPO / "bench" / name, host_dir / name)
    shares = split(["h0", "h1"], 40, 200.0)
    procs = {
        share.host: subprocess.Popen(
            [sys.executable, "-I", str(host_dir / "lab_client.py"),
             *client_args(share, share.host, "127.0.0.1", server.port, rooms=4, duration=1.0)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for share in shares
    }
    try:
        results = drive(procs, shares, rooms=4, duration=1.0)
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()
    # 200 messages in 4 rooms of 10 members (5 on each host): each due to 9 others
    assert sum(r["sent"] for r in results.values()) == 200
    assert sum(r["expected"] for r in results.values()) == 200 * 9
    assert all(r["received"] == r["expected"] for r in results.values())
    # a host times only its own messages: 100 sent, each seen by its 4 room-mates on the same host
    assert all(r["timed"] == 100 * 4 for r in results.values())
    data = report(results, {"cpu_s": 0.1, "peak_rss_mib": 20.0}, {"lan": "loss 1 %"}, {"clients": 40})
    assert data["total"]["lost"] == 0
    text = table(data)
    assert text.splitlines()[0].split()[:4] == ["host", "conns", "dropped", "expected"]
    assert "conditions: lan: loss 1 %" in text
    picture = plot(data, tmp_path / "bench.png")
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_shares_name_their_arguments() -> None:
    args = client_args(Share("client1", 5, 10, 2.5), "h1", "10.0.0.10", 5000, 3, 30)
    assert args[args.index("--offset") + 1] == "10" and args[args.index("--rate") + 1] == "2.500"


def test_a_generator_that_dies_is_one_line_naming_its_host() -> None:
    from bench.lab_driver import BenchError

    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit('cannot connect: refused')"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with pytest.raises(BenchError) as raised:
        drive({"client1": proc}, [Share("client1", 1, 0, 1.0)], rooms=1, duration=1.0)
    assert str(raised.value) == "client1: the load generator ended: cannot connect: refused"


def test_connections_the_server_closes_mid_run_are_skipped_and_counted_not_a_crash(tmp_path: Path) -> None:
    """A server that drops connections during the run (here: its idle timeout; in a lab, a slow reader over its send
    queue behind `rate: 10000`) must not end the generator: the dropped ones send no more and are counted."""
    from bench.loadgen import LoadGen

    flags = ["--rate", "0", "--idle-timeout", "1", "--max-clients-per-address", "1000", "--log-level", "warning"]
    proc = ServerProcess(sys.executable, flags, None, tmp_path / "server.log")
    gen = LoadGen("127.0.0.1", proc.port, tag="h0")
    try:
        gen.connect_and_join(20, lambda i: "#r")
        gen.reset_counters()
        # 20 connections in turn at 8 messages/s: each speaks every 2.5 s, so most sit idle past 1 s and are dropped
        sent = gen.steady(8.0, 3.0)
        gen.drain(0.3)
    finally:
        gen.close()
        proc.stop()
    assert gen.dead > 0
    assert 0 < sent < 24 and sum(gen.sent_by_room.values()) == sent
