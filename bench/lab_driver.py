"""Drives bench/lab_client.py on several hosts at once over their stdin/stdout (see its docstring for the lines):
the split of connections and rate over the hosts, the go once every host has joined, and each host's due
deliveries. The processes are whatever runs the client there (`ssh HOST python3 ...`, or a local process in tests)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.lab_report import expected_deliveries, rooms_of

CLIENT_FILES = ("lab_client.py", "loadgen.py")  # what is copied to a host (bench/, stdlib only)
JOIN_TIMEOUT_S = 120.0  # every connection of a host in its room (1,000 connections under TCG take a while)
RESULT_TIMEOUT_S = 60.0  # after the sending: the expected deliveries in, or the client's own stall timeout


class BenchError(RuntimeError):
    """One line: which host, and what went wrong."""


@dataclass(frozen=True)
class Share:
    """One host's part of the load: its connections (the lab's `offset` ... `offset + clients - 1`) and its rate."""

    host: str
    clients: int
    offset: int
    rate: float


def split(hosts: list[str], clients: int, rate: float) -> list[Share]:
    """`clients` connections and `rate` messages/s spread evenly over `hosts` (the first ones get the remainder)."""
    if not hosts:
        raise BenchError("no chat client hosts to run the load from")
    shares, offset = [], 0
    for i, host in enumerate(hosts):
        mine = clients // len(hosts) + (1 if i < clients % len(hosts) else 0)
        if mine:
            shares.append(Share(host, mine, offset, rate * mine / clients))
        offset += mine
    return shares


def client_args(share: Share, tag: str, server: str, port: int, rooms: int, duration: float) -> list[str]:
    return ["--server", server, "--port", str(port), "--tag", tag, "--clients", str(share.clients),
            "--offset", str(share.offset), "--rooms", str(rooms), "--rate", f"{share.rate:.3f}",
            "--duration", f"{duration:g}"]


class _Lines:
    """Whole lines from a process's stdout, with a deadline (select on the raw pipe, no blocking readline)."""

    def __init__(self, host: str, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None and proc.stdin is not None
        self.host, self.proc, self.buffer = host, proc, b""

    def read(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        stdout = self.proc.stdout
        assert stdout is not None
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"{self.host}: no answer from the load generator within {timeout:.0f} s")
            ready, _, _ = select.select([stdout], [], [], left)
            if ready:
                chunk = os.read(stdout.fileno(), 65536)
                if not chunk:
                    raise BenchError(f"{self.host}: the load generator ended: {self._stderr()}")
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()

    def write(self, text: str) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        stdin.write(text.encode() + b"\n")
        stdin.flush()

    def _stderr(self) -> str:
        try:
            _, err = self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            return "(still running)"
        lines = (err or b"").decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit status {self.proc.returncode}"


def drive(procs: Mapping[str, subprocess.Popen[bytes]], shares: list[Share], rooms: int, duration: float
          ) -> dict[str, dict[str, Any]]:
    """Runs the clients' conversation to its end; every host's JSON result."""
    lines = {host: _Lines(host, proc) for host, proc in procs.items()}
    for host, line in lines.items():
        answer = line.read(JOIN_TIMEOUT_S)
        if not answer.startswith("joined "):
            raise BenchError(f"{host}: expected 'joined', got {answer!r}")
    for line in lines.values():
        line.write("go")
    sent: dict[str, dict[int, int]] = {}
    for host, line in lines.items():
        answer = line.read(duration + JOIN_TIMEOUT_S)
        if not answer.startswith("sent"):
            raise BenchError(f"{host}: expected 'sent', got {answer!r}")
        sent[host] = {int(room): int(count) for room, count in
                      (word.split("=") for word in answer.split()[1:])}
    members = {share.host: rooms_of(share.offset, share.clients, rooms) for share in shares}
    due = expected_deliveries(members, sent)
    for host, line in lines.items():
        line.write(f"expect {due[host]}")
    results = {}
    for host, line in lines.items():
        results[host] = json.loads(line.read(RESULT_TIMEOUT_S))
    return results
