"""`lab bench`: the project's load generator (bench/lab_client.py + bench/loadgen.py, stdlib only) copied to the
chat client hosts and run there against the deployed chat server, every connection crossing the lab's networks;
the server's CPU time and peak RSS read from its /proc; the report (bench/lab_report.py) printed and saved as
.lab/NAME/bench/TIME.json and TIME.png. See docs/conditions.md (the load under link conditions)."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.lab_driver import CLIENT_FILES, BenchError, client_args, drive, split
from bench.lab_report import plot, report, table
from lab.errors import LabError
from lab.model import Connection
from lab.ops.remote import as_root
from lab.plumbing.ssh import connection_command
from lab.state import REPO, LabConfig

REMOTE_DIR = "/tmp/chatlab-bench"
CHAT_SERVICE = "chatlab-chat"
COPY_TIMEOUT_S = 60


@dataclass(frozen=True)
class BenchSettings:
    clients: int = 1000
    rooms: int = 10
    rate: float = 500.0  # messages/s in total
    duration: float = 30.0  # seconds of sending


QUICK = BenchSettings(clients=60, rooms=3, rate=60.0, duration=3.0)  # what CI runs: seconds, not minutes

# Read on the server host before and after: the server's PID, its CPU ticks (utime + stime), the tick rate and
# its peak RSS (VmHWM, reset before the run through clear_refs so that the peak is the run's).
SERVER_STATS = (
    f"pid=$(systemctl show -p MainPID --value {CHAT_SERVICE}); [ \"$pid\" -gt 0 ] || exit 3; "
    "[ \"$1\" = reset ] && echo 5 > /proc/$pid/clear_refs; "
    "set -- $(cut -d' ' -f14,15 /proc/$pid/stat); "
    "echo $pid $(($1 + $2)) $(getconf CLK_TCK) $(awk '/^VmHWM/ {print $2}' /proc/$pid/status)"
)


def _ssh(config: LabConfig, connection: Connection, script: str, stdin: bytes | None = None,
         timeout: float = COPY_TIMEOUT_S) -> str:
    args = [*connection_command(config, connection), script]
    result = subprocess.run(args, input=stdin, capture_output=True, timeout=timeout, check=False)
    if result.returncode != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        raise LabError(f"{connection.host}: {lines[-1] if lines else f'exit status {result.returncode}'}")
    return result.stdout.decode()


def copy_client(config: LabConfig, connection: Connection) -> None:
    """bench/'s client files to the host, as one shell archive on stdin (no scp, no new packages)."""
    parts = [f"mkdir -p {REMOTE_DIR}"]
    for name in CLIENT_FILES:
        text = (REPO / "bench" / name).read_text()
        parts.append(f"cat > {REMOTE_DIR}/{name} <<'CHATLAB_BENCH_EOF'\n{text}\nCHATLAB_BENCH_EOF")
    _ssh(config, connection, "sh -s", stdin="\n".join(parts).encode() + b"\n")


def server_stats(config: LabConfig, connection: Connection, reset: bool) -> dict[str, float]:
    script = as_root(f"sh -c {shlex.quote(SERVER_STATS)} stats {'reset' if reset else 'read'}", connection.user)
    try:
        pid, ticks, hz, hwm_kib = _ssh(config, connection, script).split()
    except (LabError, ValueError) as error:
        raise LabError(f"bench: cannot read the chat server's /proc on {connection.host} ({error}): is "
                       f"{CHAT_SERVICE} running? (make lab-status)") from None
    return {"pid": int(pid), "cpu_s": int(ticks) / int(hz), "peak_rss_mib": int(hwm_kib) / 1024}


def run_bench(config: LabConfig, connections: Mapping[str, Connection], hosts: list[str], settings: BenchSettings,
              conditions: Mapping[str, str], json_file: Path | None = None,
              log=print) -> dict[str, object]:
    topology = config.topology
    server_host = topology.chat_server
    address, port = str(server_host.lab_address.ip), config.chat_port
    shares = split(hosts, settings.clients, settings.rate)
    for share in shares:
        copy_client(config, connections[share.host])
    server = connections[server_host.name]
    before = server_stats(config, server, reset=True)
    log(f"bench: {settings.clients} connections from {', '.join(s.host for s in shares)} to {address}:{port}, "
        f"{settings.rooms} rooms, {settings.rate:g} msg/s for {settings.duration:g} s; conditions: "
        + ("; ".join(f"{k}: {v}" for k, v in conditions.items()) or "none"))
    procs = {}
    try:
        for index, share in enumerate(shares):
            remote = shlex.join(["python3", f"{REMOTE_DIR}/lab_client.py",
                                 *client_args(share, f"h{index}", address, port, settings.rooms, settings.duration)])
            procs[share.host] = subprocess.Popen([*connection_command(config, connections[share.host]), remote],
                                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                 stderr=subprocess.PIPE)
        started = time.monotonic()
        results = drive(procs, shares, settings.rooms, settings.duration)
        elapsed = time.monotonic() - started
    except BenchError as error:
        raise LabError(f"bench: {error}") from None
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    after = server_stats(config, server, reset=False)
    if after["pid"] != before["pid"]:
        raise LabError(f"bench: the chat server restarted during the run (PID {before['pid']} -> {after['pid']})")
    data = report(results, {"cpu_s": after["cpu_s"] - before["cpu_s"], "peak_rss_mib": after["peak_rss_mib"]},
                  conditions, {**asdict(settings), "hosts": [s.host for s in shares], "server": f"{address}:{port}",
                               "provider": config.provider, "lab": config.name, "seconds": round(elapsed, 1)})
    print(table(data))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = json_file or config.bench_dir / f"{stamp}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=1) + "\n")
    picture = plot(data, target.with_suffix(".png"))
    log(f"bench: wrote {target} and {picture}")
    return data
