"""One lab host's share of `lab bench`: many connections to the deployed chat server across the lab, timed on this
host's own clock. Copied to the chat client hosts with bench/loadgen.py next to it and run there with the host's
stock python3 (stdlib only): ``python3 lab_client.py --server ADDR --port P --tag h1 --clients N ...``.

It talks to the driver (lab's bench command) over stdin/stdout, one line each, so that every host's connections are
in their rooms before anyone sends, and each host knows how many deliveries to wait for:

    -> joined N SECONDS          every connection is in its room
    <- go                        send now
    -> sent ROOM=COUNT ...       this host's messages per room
    <- expect N                  deliveries this host should get (its rooms' messages from every host)
    -> {JSON result}             when they are in, or nothing arrived for STALL_TIMEOUT

Rooms are numbered across the lab (connection `offset + i` is in room `(offset + i) % rooms`), so a room has members
on several hosts: a delivery is counted wherever it arrives; only this host's own messages are timed (same clock).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import BUCKET_NS, LoadGen

WINDOW_S = 0.5  # the latency-over-time series: one point per window
STALL_TIMEOUT = 10.0  # seconds without a delivery before the wait for the expected ones gives up
ROOM_PREFIX = "#bench"


def room_name(number: int) -> str:
    return f"{ROOM_PREFIX}{number}"


class Windows:
    """Per-window latency (p50, p99, max, count) of this host's own deliveries, from the generator's histogram."""

    def __init__(self, gen: LoadGen) -> None:
        self.gen = gen
        self.start = time.monotonic()
        self.next = self.start + WINDOW_S
        self.seen: dict[int, int] = {}
        self.series: list[dict[str, float]] = []

    def tick(self) -> None:
        now = time.monotonic()
        if now < self.next:
            return
        self.next = now + WINDOW_S
        buckets = self.gen.latency.buckets
        fresh = {b: n - self.seen.get(b, 0) for b, n in buckets.items() if n != self.seen.get(b, 0)}
        self.seen = dict(buckets)
        count = sum(fresh.values())
        if not count:
            return
        ordered = sorted(fresh)
        self.series.append({"t": round(now - self.start, 3), "count": count,
                            "p50_ms": _rank(ordered, fresh, count * 0.5), "p99_ms": _rank(ordered, fresh, count * 0.99),
                            "max_ms": (ordered[-1] + 1) * BUCKET_NS / 1e6})


def _rank(ordered: list[int], buckets: dict[int, int], rank: float) -> float:
    seen = 0
    for bucket in ordered:
        seen += buckets[bucket]
        if seen >= rank:
            return (bucket + 1) * BUCKET_NS / 1e6
    return (ordered[-1] + 1) * BUCKET_NS / 1e6


def read_command(expected: str) -> str:
    line = sys.stdin.readline()
    if not line.startswith(expected):
        raise SystemExit(f"lab_client: expected {expected!r} from the driver, got {line.strip()!r}")
    return line[len(expected):].strip()


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tag", required=True, help="this host's tag in its messages (letters and digits)")
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--offset", type=int, default=0, help="number of this host's first connection in the lab")
    parser.add_argument("--rooms", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True, help="this host's messages per second")
    parser.add_argument("--duration", type=float, required=True)
    args = parser.parse_args(argv)
    wanted = args.clients + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(wanted, soft), hard), hard))
    gen = LoadGen(args.server, args.port, tag=args.tag)
    rooms_of = [(args.offset + i) % args.rooms for i in range(args.clients)]
    connect_s = gen.connect_and_join(args.clients, lambda i: room_name(rooms_of[i]))
    gen.drain(0.3)
    gen.reset_counters()  # before saying so: another host may send as soon as the driver says go
    say(f"joined {args.clients} {connect_s:.3f}")
    read_command("go")
    cpu0, t0 = os.times(), time.monotonic()
    windows = Windows(gen)
    sent_total = gen.steady(args.rate, args.duration, tick=windows.tick) if args.rate > 0 else 0
    send_s = time.monotonic() - t0
    # what really went out, per room: a connection the server closed (a slow reader over its send queue) sent no more
    number_of = {room_name(room): room for room in rooms_of}
    sent_per_room = {number_of[room]: count for room, count in gen.sent_by_room.items()}
    say("sent " + " ".join(f"{room}={count}" for room, count in sorted(sent_per_room.items())))
    expected = int(read_command("expect"))
    progress = time.monotonic()
    while gen.delivered + gen.foreign < expected:
        before = gen.delivered + gen.foreign
        gen.poll(0.2)
        windows.tick()
        if gen.delivered + gen.foreign > before:
            progress = time.monotonic()
        elif time.monotonic() - progress > STALL_TIMEOUT:
            break
    windows.tick()
    cpu1 = os.times()
    latency = gen.latency
    say(json.dumps({
        "connections": args.clients, "connect_join_s": connect_s, "held": len(gen.conns),
        "dropped_by_server": gen.dead, "sent": sent_total, "sent_per_room": sent_per_room, "send_s": send_s,
        "expected": expected, "received": gen.delivered + gen.foreign, "timed": gen.delivered,
        "buckets": {str(b): n for b, n in latency.buckets.items()}, "bucket_ns": BUCKET_NS,
        "max_ms": latency.max_ns / 1e6, "series": windows.series,
        "loadgen_cpu_s": cpu1.user + cpu1.system - cpu0.user - cpu0.system,
    }, separators=(",", ":")))
    gen.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
