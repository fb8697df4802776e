"""Chat server benchmark: ``python -m bench [--scenario NAME ...] [--quick]`` (``make bench``).

Each scenario starts a fresh server process (pinned to CPU 0) and drives it over loopback from this
process (pinned to CPU 1), then prints one table row; all rows also go to bench/results/latest.json.

  burst   CLIENTS clients in one room each send MESSAGES messages as fast as they can
  steady  CLIENTS clients in ROOMS rooms, RATE messages/s in total for DURATION s
  idle    CLIENTS clients connect and join ROOMS rooms, then hold their connections
  flood   CLIENTS bystanders in one room, RATE messages/s in total for DURATION s, while FLOODERS
          connections from one other address flood 64 KiB of blank lines at a time and never read
          (bench/flood.py); the server runs with its default limits, and is stopped during the flood

The primary figure is the server's own CPU time per delivery (one line written to one recipient):
one Python load generator saturates long before the server does on a 2-core machine.

``--dialect irc`` runs burst, steady and idle over the server's IRC port (the generator speaks IRC);
``--peer`` (``make bench-peer``) runs them for the line dialect, the IRC dialect and Debian's ngircd
(penalties off, pinned the same way) and prints them side by side.

Reference: docs/benchmark.md
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from bench import floor
from bench.loadgen import DIALECTS, IRC, LINE, LoadGen
from bench.serverproc import NGIRCD, REPO, ServerProcess
from chat.cli import raise_open_files_limit

RESULTS = REPO / "bench" / "results" / "latest.json"
SERVER_CPU, LOAD_CPU = 0, 1

# The server's limits relaxed for the load: no rate limit (the generator sends as fast as it can), no
# idle timeout, room for every generated client from the one loopback address, warnings only in the log.
SERVER_FLAGS = ["--rate", "0", "--idle-timeout", "0", "--ping-interval", "0", "--max-clients", "12000",
                "--max-clients-per-address", "20000", "--log-level", "warning"]

# The flood scenario keeps the server's default limits (the rate limit above all); its bystanders come
# from addresses of their own (127.0.1.x), the flooders from FLOOD_SOURCE.
FLOOD_FLAGS = ["--log-level", "warning"]
FLOOD_SOURCE = "127.0.0.1"

TARGETS = {
    "burst": "<= 0.5 us server CPU per delivery, zero loss",
    "steady": "p99 latency < 20 ms, zero loss",
    "idle": "peak RSS < 150 MiB, connect-and-join < 5 s",
    "flood": "bystanders' p99 < 20 ms, zero loss, peak RSS < 64 MiB, SIGTERM < 2 s",
}


@dataclass
class Scenario:
    name: str
    clients: int
    rooms: int
    messages: int = 0  # per client (burst)
    rate: float = 0.0  # messages/s in total (steady)
    duration: float = 0.0  # seconds (steady)
    hold: float = 2.0  # seconds the connections are held before memory is read (idle)
    flooders: int = 0  # connections flooding from one address (flood)


FULL = {
    "burst": Scenario("burst", clients=100, rooms=1, messages=100),
    "steady": Scenario("steady", clients=10_000, rooms=100, rate=1000, duration=30),
    "idle": Scenario("idle", clients=10_000, rooms=100),
    "flood": Scenario("flood", clients=100, rooms=1, rate=100, duration=10, flooders=50),
}
QUICK = {
    "burst": Scenario("burst", clients=50, rooms=1, messages=20),
    "steady": Scenario("steady", clients=1_000, rooms=10, rate=500, duration=3),
    "idle": Scenario("idle", clients=1_000, rooms=10, hold=0.5),
    "flood": Scenario("flood", clients=50, rooms=1, rate=50, duration=3, flooders=50),
}


PEER_SCENARIOS = ("burst", "steady", "idle")  # what --peer and --dialect irc run (flood speaks the line protocol)
PEERS = (("chat line", LINE, False), ("chat IRC", IRC, False), ("ngircd", IRC, True))  # (name, dialect, peer)
# ngircd listens with a backlog of 10 (ss -ltn shows it) and accepts one connection per loop iteration: more
# connects in flight overflow its accept queue, the kernel drops their SYNs, and the clients' retransmissions
# back off (1, 3, 7, 15 s...) past the generator's stall timeout. It is given them 8 at a time (the chat
# server, whose backlog is the kernel's somaxconn, 1,000).
PEER_CONNECT_WINDOW = 8


def run(scenario: Scenario, python: str, pin: bool, dialect: str = LINE, peer: bool = False) -> dict[str, object]:
    server_name = "ngircd" if peer else f"chat {'IRC' if dialect == IRC else 'line'}"
    log = RESULTS.parent / f"server-{scenario.name}{'-ngircd' if peer else '-irc' if dialect == IRC else ''}.log"
    flood = scenario.name == "flood"
    server = ServerProcess(python, FLOOD_FLAGS if flood else SERVER_FLAGS, SERVER_CPU if pin else None, log,
                           peer=peer)
    gen = LoadGen("127.0.0.1", server.irc_port if dialect == IRC else server.port, dialect)
    flooders: subprocess.Popen[str] | None = None
    row: dict[str, object] = {"scenario": scenario.name, "server": server_name, "clients": scenario.clients,
                              "rooms": scenario.rooms}
    try:
        connect_s = gen.connect_and_join(scenario.clients, lambda i: f"#{scenario.name}{i % scenario.rooms}",
                                         window=PEER_CONNECT_WINDOW if peer else 1000,
                                         source_of=(lambda i: f"127.0.1.{i % 250 + 1}") if flood else None)
        row["connect_join_s"] = connect_s
        gen.drain()  # join notices
        gen.reset_counters()
        members = scenario.clients // scenario.rooms
        row["loadavg_at_start"] = Path("/proc/loadavg").read_text().split()[0]
        cpu0, stat0, t0 = server.cpu_seconds(), server.cpu_seconds_stat(), time.perf_counter_ns()
        gen0 = os.times()
        if flood:
            flooders = subprocess.Popen([sys.executable, "-m", "bench.flood", "--port", str(server.port),
                                         "--source", FLOOD_SOURCE, "--connections", str(scenario.flooders)],
                                        cwd=REPO, stdout=subprocess.PIPE, text=True)
            time.sleep(0.5)  # the flood under way before the bystanders talk
        if scenario.name == "burst":
            sent = scenario.clients * scenario.messages
            gen.burst(scenario.messages)
        elif scenario.name in ("steady", "flood"):
            sent = gen.steady(scenario.rate, scenario.duration)
        else:
            sent = 0
            time.sleep(scenario.hold)
        expected = sent * (members - 1)
        gen.wait_deliveries(expected)
        end = gen.last_delivery_ns if gen.delivered else time.perf_counter_ns()
        cpu = server.cpu_seconds() - cpu0
        gen1 = os.times()
        stat_cpu = server.cpu_seconds_stat() - stat0
        seconds = max(1e-9, (end - t0) / 1e9)
        gen.drain(0.2)
        memory = server.memory_mib()
        row.update(
            messages=sent,
            deliveries=gen.delivered,
            expected=expected,
            loss=expected - gen.delivered,
            seconds=seconds,
            deliveries_per_s=gen.delivered / seconds if sent else 0.0,
            messages_per_s=sent / seconds if sent else 0.0,
            p50_ms=gen.latency.percentile_ms(0.50),
            p99_ms=gen.latency.percentile_ms(0.99),
            max_ms=gen.latency.max_ns / 1e6 if gen.latency.count else float("nan"),
            server_cpu_s=cpu,
            server_cpu_stat_s=stat_cpu,
            loadgen_cpu_s=gen1.user + gen1.system - gen0.user - gen0.system,
            cpu_us_per_delivery=cpu / gen.delivered * 1e6 if gen.delivered else float("nan"),
            rss_mib=memory.get("VmRSS", float("nan")),
            peak_rss_mib=memory.get("VmHWM", float("nan")),
            held=len(gen.conns),
            dropped_by_server=gen.dead,
        )
    finally:
        code, stop_s = server.stop()  # during the flood, in the flood scenario
        gen.close()
        if flooders is not None:
            flooders.terminate()
            out, _ = flooders.communicate(timeout=10)
            row.update(json.loads(out.strip().splitlines()[-1]) if out.strip() else {})
    row.update(server_exit=code, server_stop_s=stop_s)
    warnings = [line for line in server.log_text().splitlines() if " WARNING " in line or " ERROR " in line]
    row["server_warnings"] = len(warnings)
    if warnings:
        row["server_warning_sample"] = warnings[:3]
    row["verdict"] = verdict(scenario.name, row)
    return row


def send_floor(scenario: Scenario, pin: bool) -> dict[str, object]:
    """What the steady deliveries cost in bare send() calls alone on this machine (see bench/floor.py)."""
    print("  steady: the machine's send() floor in the same pattern ...", flush=True)
    open_files, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    sockets = min(scenario.clients, (open_files - 100) // 2)  # two ends per connection, both in this process
    result = floor.measure(sockets, scenario.rate, scenario.clients // scenario.rooms, SERVER_CPU if pin else None)
    return {"send_floor_sockets": result.sockets, "send_floor_sends": result.sends,
            "send_floor_us": result.us_per_send, "send_floor_core_share": result.core_share}


def verdict(name: str, row: dict[str, object]) -> str:
    def number(key: str) -> float:
        value = row.get(key)
        return float(value) if isinstance(value, int | float) else math.nan

    if name == "burst":
        ok = number("cpu_us_per_delivery") <= 0.5 and number("loss") == 0
    elif name == "steady":
        ok = number("p99_ms") < 20 and number("loss") == 0
    elif name == "flood":
        ok = (number("p99_ms") < 20 and number("loss") == 0 and number("peak_rss_mib") < 64
              and number("server_stop_s") < 2 and number("held") == row["clients"])
    else:
        ok = (number("peak_rss_mib") < 150 and number("connect_join_s") < 5
              and number("held") == row["clients"])
    return "ok" if ok else "MISSED"


COLUMNS = [  # (heading, key, format)
    ("scenario", "scenario", "{}"),
    ("clients", "clients", "{:,}"),
    ("rooms", "rooms", "{:,}"),
    ("msgs", "messages", "{:,}"),
    ("deliveries", "deliveries", "{:,}"),
    ("loss", "loss", "{:,}"),
    ("deliv/s", "deliveries_per_s", "{:,.0f}"),
    ("msgs/s", "messages_per_s", "{:,.0f}"),
    ("p50 ms", "p50_ms", "{:.2f}"),
    ("p99 ms", "p99_ms", "{:.2f}"),
    ("max ms", "max_ms", "{:.1f}"),
    ("srv CPU s", "server_cpu_s", "{:.3f}"),
    ("us/deliv", "cpu_us_per_delivery", "{:.3f}"),
    ("gen CPU s", "loadgen_cpu_s", "{:.2f}"),
    ("peak RSS MiB", "peak_rss_mib", "{:.1f}"),
    ("held", "held", "{:,}"),
    ("conn+join s", "connect_join_s", "{:.2f}"),
    ("server", "server", "{}"),
    ("target", "verdict", "{}"),
]


def table(rows: list[dict[str, object]]) -> str:
    cells = [[heading for heading, _, _ in COLUMNS]]
    for row in rows:
        cells.append([fmt.format(row[key]) if key in row else "-" for _, key, fmt in COLUMNS])
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = [" | ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
             for line in cells]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


SIDE_BY_SIDE = [  # (scenario, heading, key, format): make bench-peer's table
    ("burst", "CPU us/delivery", "cpu_us_per_delivery", "{:.3f}"),
    ("burst", "p99 ms", "p99_ms", "{:.2f}"),
    ("burst", "loss", "loss", "{:,}"),
    ("steady", "CPU us/delivery", "cpu_us_per_delivery", "{:.3f}"),
    ("steady", "p99 ms", "p99_ms", "{:.2f}"),
    ("steady", "loss", "loss", "{:,}"),
    ("idle", "peak RSS MiB", "peak_rss_mib", "{:.1f}"),
    ("idle", "held", "held", "{:,}"),
]


def side_by_side(rows: list[dict[str, object]]) -> str:
    """One line per figure, one column per server."""
    names = [name for name, _, _ in PEERS]
    found = {(row["scenario"], row["server"]): row for row in rows}
    cells = [["scenario", "figure", *names]]
    for scenario, heading, key, fmt in SIDE_BY_SIDE:
        values = []
        for name in names:
            row = found.get((scenario, name))
            values.append(fmt.format(row[key]) if row and key in row else "-")
        cells.append([scenario, heading, *values])
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    lines = [" | ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", action="append", choices=sorted(FULL),
                        help="scenario to run (repeatable; default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds in all")
    parser.add_argument("--rate", type=float, help="steady: messages/s in total instead of the scenario's")
    parser.add_argument("--duration", type=float, help="steady: seconds instead of the scenario's")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter running the server (default: this one), e.g. /usr/bin/python3")
    parser.add_argument("--dialect", choices=DIALECTS, default=LINE,
                        help="the protocol the load speaks: the line protocol or IRC (the server's IRC port)")
    parser.add_argument("--peer", action="store_true",
                        help=f"burst, steady and idle for the line dialect, the IRC dialect and ngircd "
                             f"({NGIRCD}), side by side")
    parser.add_argument("--json", type=Path, default=RESULTS,
                        help="where to save the results (default %(default)s)")
    args = parser.parse_args(argv)

    sizes = dict(QUICK if args.quick else FULL)
    if args.rate or args.duration:
        steady = sizes["steady"]
        sizes["steady"] = replace(steady, rate=args.rate or steady.rate, duration=args.duration or steady.duration)
    names = args.scenario or (list(PEER_SCENARIOS) if args.peer or args.dialect == IRC else list(FULL))
    if (args.peer or args.dialect == IRC) and "flood" in names:
        parser.error("the flood scenario speaks the line protocol only (not with --dialect irc or --peer)")
    if args.peer and not os.access(NGIRCD, os.X_OK):
        print(f"bench: --peer needs ngircd ({NGIRCD}): apt-get install ngircd (tools/install-deps)", file=sys.stderr)
        return 1
    targets = list(PEERS) if args.peer else [(None, args.dialect, False)]
    limit = raise_open_files_limit()
    largest = max(sizes[name].clients for name in names)
    if limit < largest + 100:
        print(f"bench: open-files limit {limit} is too low for {largest} clients (ulimit -n)",
              file=sys.stderr)
        return 1
    pin = len(os.sched_getaffinity(0)) >= 2 and {SERVER_CPU, LOAD_CPU} <= os.sched_getaffinity(0)
    if pin:
        os.sched_setaffinity(0, {LOAD_CPU})
    print(f"chat server benchmark{' (quick)' if args.quick else ''}: server {args.python} "
          f"{'pinned to CPU 0, load generator on CPU 1' if pin else 'unpinned (fewer than 2 CPUs)'}")
    print(f"server flags: {' '.join(SERVER_FLAGS)} (flood: {' '.join(FLOOD_FLAGS)})")

    rows = []
    for name in names:
        scenario = sizes[name]
        for _, dialect, peer in targets:
            print(f"  {name}: {scenario.clients:,} clients in {scenario.rooms:,} rooms "
                  f"({'ngircd' if peer else 'chat server'}, {dialect}) ...", flush=True)
            try:
                rows.append(run(scenario, args.python, pin, dialect, peer))
                if name == "steady" and not args.peer:
                    rows[-1].update(send_floor(scenario, pin))
            except (RuntimeError, OSError) as error:
                print(f"bench: {name} failed: {error} (server logs: {RESULTS.parent}/server-{name}*.log)",
                      file=sys.stderr)
                if not args.peer:
                    return 1
                server = "ngircd" if peer else f"chat {'IRC' if dialect == IRC else 'line'}"
                # the side-by-side table goes on
                rows.append({"scenario": name, "server": server, "error": str(error), "verdict": "FAILED"})
    print()
    print(table(rows))
    if args.peer:
        print()
        print(side_by_side(rows))
    print()
    for row in rows:
        name = str(row["scenario"])
        if "error" in row:
            print(f"{name} ({row['server']}): failed: {row['error']}")
            continue
        print(f"{name}: target {TARGETS[name]}: {row['verdict']}; server exit {row['server_exit']} "
              f"after SIGTERM in {row['server_stop_s']:.2f} s; {row['server_warnings']} server warnings; "
              f"load average {row.get('loadavg_at_start', '?')} at its start")
        if "flood_bytes" in row:
            print(f"{name}: {row['flood_connections']:,} flooding connections from {FLOOD_SOURCE} sent "
                  f"{int(row['flood_bytes']) / 2**20:,.0f} MiB; the server cut {row['flood_cut']:,} of them")
        if "send_floor_us" in row:
            print(f"{name}: the machine's floor: a bare send() loop in the same pattern ({row['send_floor_sockets']:,} "
                  f"sockets, one room's fan-out at a time) costs {row['send_floor_us']:.2f} us per send on the "
                  f"server's CPU, {row['send_floor_core_share']:.0%} of one core at this rate before any chat logic")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": args.quick,
        "python": args.python,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "pinned": pin,
        "server_flags": SERVER_FLAGS,
        "dialect": "all" if args.peer else args.dialect,
        "scenarios": {name: asdict(sizes[name]) for name in names},
        "results": [{key: None if isinstance(value, float) and math.isnan(value) else value  # JSON has no NaN
                     for key, value in row.items()} for row in rows],
    }, indent=2) + "\n")
    print(f"saved {args.json.relative_to(REPO) if args.json.is_relative_to(REPO) else args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
