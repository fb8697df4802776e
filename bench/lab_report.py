"""`lab bench`'s arithmetic and report (pure but for the picture): who should get how many deliveries, the table per
host and in total, the JSON saved as .lab/NAME/bench/TIME.json, and its PNG (latency over time, and its CDF).

Loss is counted across hosts: a message sent in a room is due once to every other member of that room, wherever that
member's connection is; latency is what each host measured of its own messages (one clock per host).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

PERCENTILES = (("p50_ms", 0.50), ("p95_ms", 0.95), ("p99_ms", 0.99))


def rooms_of(offset: int, clients: int, rooms: int) -> dict[int, int]:
    """Room number -> how many of a host's connections are in it (connection offset+i is in room (offset+i) % rooms)."""
    members: dict[int, int] = {}
    for i in range(clients):
        room = (offset + i) % rooms
        members[room] = members.get(room, 0) + 1
    return members


def expected_deliveries(members: Mapping[str, Mapping[int, int]], sent: Mapping[str, Mapping[int, int]]
                        ) -> dict[str, int]:
    """Per host: the deliveries due to its connections. Each message in room r reaches every member of r but its
    sender: a host with m members in r gets sent_total(r) x m, less the messages its own connections sent there."""
    totals: dict[int, int] = {}
    for per_room in sent.values():
        for room, count in per_room.items():
            totals[room] = totals.get(room, 0) + count
    return {host: sum(totals.get(room, 0) * m for room, m in per_room.items()) - sum(sent.get(host, {}).values())
            for host, per_room in members.items()}


def merged(results: Mapping[str, Mapping[str, Any]]) -> dict[int, int]:
    buckets: dict[int, int] = {}
    for result in results.values():
        for bucket, count in result["buckets"].items():
            buckets[int(bucket)] = buckets.get(int(bucket), 0) + count
    return buckets


def percentile_ms(buckets: Mapping[int, int], fraction: float, bucket_ns: int) -> float | None:
    """Upper edge of the bucket holding `fraction` of the timed deliveries (None when none was timed)."""
    count = sum(buckets.values())
    if not count:
        return None
    seen = 0
    for bucket in sorted(buckets):
        seen += buckets[bucket]
        if seen >= fraction * count:
            return (bucket + 1) * bucket_ns / 1e6
    return None


def row(name: str, results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One line of the table from one host's result (or several, for the total)."""
    buckets = merged(results)
    bucket_ns = next(iter(results.values()))["bucket_ns"] if results else 10_000
    expected = sum(r["expected"] for r in results.values())
    received = sum(r["received"] for r in results.values())
    sent = sum(r["sent"] for r in results.values())
    send_s = max((r["send_s"] for r in results.values()), default=0.0)
    line: dict[str, Any] = {
        "host": name, "connections": sum(r["connections"] for r in results.values()),
        "held": sum(r["held"] for r in results.values()),
        "dropped": sum(r.get("dropped_by_server", 0) for r in results.values()), "sent": sent,
        "expected": expected, "received": received, "lost": max(0, expected - received),
        "loss_pct": 100.0 * max(0, expected - received) / expected if expected else 0.0,
        "timed": sum(buckets.values()),
    }
    line.update({key: percentile_ms(buckets, fraction, bucket_ns) for key, fraction in PERCENTILES})
    line["max_ms"] = max((r["max_ms"] for r in results.values() if r["timed"]), default=None)
    line["msgs_per_s"] = sent / send_s if send_s else 0.0
    return line


def report(results: Mapping[str, Mapping[str, Any]], server: Mapping[str, float], conditions: Mapping[str, Any],
           settings: Mapping[str, Any]) -> dict[str, Any]:
    """The whole report: settings, conditions in force, a row per host, the total, the server's cost."""
    rows = [row(host, {host: result}) for host, result in results.items()]
    whole = row("total", results)
    cpu_s = server.get("cpu_s")
    return {
        "settings": dict(settings), "conditions": dict(conditions), "hosts": rows, "total": whole,
        "server": {**server, "cpu_us_per_delivery": (cpu_s / whole["received"] * 1e6
                                                     if cpu_s is not None and whole["received"] else None)},
        "series": {host: result.get("series", []) for host, result in results.items()},
        "buckets": {host: result["buckets"] for host, result in results.items()},
        "bucket_ns": next(iter(results.values()))["bucket_ns"] if results else 10_000,
    }


COLUMNS = (("host", "host", "{}"), ("connections", "conns", "{}"), ("dropped", "dropped", "{}"),
           ("expected", "expected", "{}"),
           ("received", "received", "{}"), ("loss_pct", "loss %", "{:.2f}"), ("p50_ms", "p50 ms", "{:.2f}"),
           ("p95_ms", "p95 ms", "{:.2f}"), ("p99_ms", "p99 ms", "{:.2f}"), ("max_ms", "max ms", "{:.2f}"),
           ("msgs_per_s", "msgs/s", "{:.0f}"))


def table(data: Mapping[str, Any]) -> str:
    """The report as text: the table, the server's cost, the conditions in force."""
    lines = [[title for _, title, _ in COLUMNS]]
    for line in [*data["hosts"], data["total"]]:
        lines.append(["-" if line[key] is None else form.format(line[key]) for key, _, form in COLUMNS])
    widths = [max(len(cells[i]) for cells in lines) for i in range(len(COLUMNS))]
    text = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(cells, widths,
                                                                                                 strict=True)))
            for cells in lines]
    server = data["server"]
    cost = server.get("cpu_us_per_delivery")
    text.append(f"server: {server.get('cpu_s', float('nan')):.2f} s CPU"
                + (f", {cost:.1f} us per delivery" if cost is not None else "")
                + (f", peak RSS {server['peak_rss_mib']:.1f} MiB" if server.get("peak_rss_mib") is not None else ""))
    conditions = data["conditions"]
    text.append("conditions: " + ("; ".join(f"{link}: {said}" for link, said in conditions.items())
                                  if conditions else "none"))
    return "\n".join(text)


def plot(data: Mapping[str, Any], path: Path) -> Path:
    """Latency over time (p50 and p99 per window, per host) and the CDF of every timed delivery, as a PNG.
    matplotlib is a dev dependency of the machine that draws it, never of the lab hosts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (over_time, cdf) = plt.subplots(1, 2, figsize=(12, 4.5))
    for host, series in data["series"].items():
        if series:
            times = [point["t"] for point in series]
            over_time.plot(times, [point["p50_ms"] for point in series], label=f"{host} p50")
            over_time.plot(times, [point["p99_ms"] for point in series], linestyle="--", label=f"{host} p99")
    over_time.set(xlabel="seconds since the first message", ylabel="delivery latency (ms)",
                  title="latency over time", yscale="log")
    over_time.grid(True, which="both", alpha=0.3)
    over_time.legend(fontsize="small")
    bucket_ns = data["bucket_ns"]
    for host, buckets in data["buckets"].items():
        ordered = sorted((int(b), n) for b, n in buckets.items())
        count = sum(n for _, n in ordered)
        if not count:
            continue
        xs, ys, seen = [], [], 0
        for bucket, n in ordered:
            seen += n
            xs.append((bucket + 1) * bucket_ns / 1e6)
            ys.append(seen / count)
        cdf.step(xs, ys, where="post", label=host)
    cdf.set(xlabel="delivery latency (ms)", ylabel="fraction of deliveries", title="CDF", xscale="log")
    cdf.grid(True, which="both", alpha=0.3)
    cdf.legend(fontsize="small")
    said = data["conditions"]
    figure.suptitle("lab bench: " + ("; ".join(f"{k}: {v}" for k, v in said.items()) if said else "no conditions"))
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
