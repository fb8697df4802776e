"""The chat server under test, as a subprocess (optionally pinned to one CPU), and its own accounting:
CPU time from /proc/PID/task/*/schedstat (nanoseconds; /proc/PID/stat utime+stime kept as a cross-check)
and memory from /proc/PID/status (VmRSS, VmHWM)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
START_TIMEOUT = 10.0  # seconds for the server to start listening
STOP_TIMEOUT = 5.0  # seconds for the server to exit after SIGTERM


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Debian's ngircd as the peer the IRC dialect is compared with (make bench-peer): loopback, no DNS or ident
# lookups, no limits on connections or channels, no penalties, keepalive out of the way.
NGIRCD = "/usr/sbin/ngircd"
NGIRCD_CONF = """[Global]
Name = bench.peer
Info = chatlab benchmark peer
Listen = 127.0.0.1
Ports = {port}
MotdPhrase = bench
PidFile = {pidfile}
[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxJoins = 0
MaxNickLength = 31
MaxPenaltyTime = 0
PingTimeout = 3600
PongTimeout = 3600
[Options]
DNS = no
Ident = no
PAM = no
"""


class ServerProcess:
    """The chat server (line dialect on ``port``, IRC on ``irc_port``), or with ``peer``: ngircd on ``port``
    and ``irc_port`` alike."""

    def __init__(self, python: str, flags: list[str], cpu: int | None, log: Path, peer: bool = False) -> None:
        self.port = free_port()
        self.irc_port = self.port if peer else free_port()
        if peer:
            conf = log.with_suffix(".conf")
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text(NGIRCD_CONF.format(port=self.port, pidfile=log.with_suffix(".pid")))
            self.command = [NGIRCD, "--nodaemon", "--config", str(conf)]
        else:
            self.command = [python, "-m", "chat.server", "--host", "127.0.0.1", "--port", str(self.port),
                            "--irc-port", str(self.irc_port), "--server-name", "bench.chat", *flags]
        self.log = log
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as stderr:
            self.proc = subprocess.Popen(self.command, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=stderr, preexec_fn=pin)
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chat server exited with {self.proc.returncode}: {self.log_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"chat server not listening after {START_TIMEOUT} s") from None
                time.sleep(0.05)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of all the server's threads so far, from the scheduler's accounting."""
        total = 0
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread that just ended
                total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9

    def cpu_seconds_stat(self) -> float:
        """utime + stime from /proc/PID/stat (clock-tick resolution)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def memory_mib(self) -> dict[str, float]:
        """VmRSS and VmHWM (peak RSS) in MiB."""
        values = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
        return values

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> tuple[int | None, float]:
        """SIGTERM; return (exit code or None if it had to be killed, seconds it took)."""
        start = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None, time.monotonic() - start
        return self.proc.returncode, time.monotonic() - start
