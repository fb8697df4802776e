"""When a lab host is ready for Ansible: a real SSH login, a finished boot and a python3 that starts; a wait that
gives up names each host and what it last saw."""

from __future__ import annotations

import threading
import time

import pytest

from lab.errors import LabError
from lab.plumbing.ssh import (
    PYTHON_OK,
    Readiness,
    ReadyTarget,
    readiness_verdict,
    wait_until_ready,
    waiting_summary,
)


def test_a_booted_host_whose_python_starts_is_ready() -> None:
    assert readiness_verdict(0, f"running\n{PYTHON_OK}\n", "").ready
    assert readiness_verdict(1, f"degraded\n{PYTHON_OK}\n", "").ready  # a failed unit: booted all the same


def test_an_open_port_without_a_login_is_not_ready_and_says_what_ssh_said() -> None:
    verdict = readiness_verdict(255, "", "kex_exchange_identification: read: Connection reset by peer\n")
    assert not verdict.ready
    assert "Connection reset by peer" in verdict.seen


def test_a_host_still_booting_is_not_ready() -> None:
    verdict = readiness_verdict(1, f"starting\n{PYTHON_OK}\n", "")
    assert not verdict.ready
    assert "starting" in verdict.seen


def test_a_host_without_python_is_not_ready() -> None:
    verdict = readiness_verdict(127, "running\n", "python3: not found")
    assert not verdict.ready
    assert "python3" in verdict.seen


def test_the_wait_gives_up_naming_each_host_and_what_it_last_saw() -> None:
    def probe(target: ReadyTarget) -> Readiness:
        if target.host == "client2":
            return Readiness(False, "logged in, but its boot is not finished (systemd: starting)")
        return Readiness(True, "ready")

    targets = [ReadyTarget(name, f"10.0.0.{i}") for i, name in enumerate(("server", "client1", "client2"), 10)]
    with pytest.raises(LabError) as raised:
        wait_until_ready(None, targets, timeout=0.5, probe=probe)  # type: ignore[arg-type]
    message = str(raised.value)
    assert message.startswith("client2: not ready at 10.0.0.12:22")
    assert "systemd: starting" in message
    assert "server" not in message and "client1" not in message


def test_a_host_that_stopped_booting_fails_at_once() -> None:
    targets = [ReadyTarget("client1", "10.0.0.11", still_booting=lambda: False)]
    started = time.monotonic()
    with pytest.raises(LabError, match="client1: stopped while booting"):
        wait_until_ready(None, targets, timeout=30,  # type: ignore[arg-type]
                         probe=lambda target: Readiness(False, "port 22 not open (Connection refused)"))
    assert time.monotonic() - started < 5


def test_hosts_are_probed_at_once_not_one_after_another() -> None:
    """Twelve hosts that each take 0.3 s to answer are all ready in about 0.3 s, not 3.6 s."""
    lock = threading.Lock()
    in_flight, most = 0, 0

    def probe(target: ReadyTarget) -> Readiness:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        time.sleep(0.3)
        with lock:
            in_flight -= 1
        return Readiness(True, "ready")

    ready: list[str] = []
    targets = [ReadyTarget(f"client{i}", f"10.0.0.{i}") for i in range(12)]
    wait_until_ready(None, targets, timeout=30, probe=probe,  # type: ignore[arg-type]
                     on_ready=lambda target: ready.append(target.host))
    assert most == 12
    assert sorted(ready) == sorted(target.host for target in targets)


def test_the_heartbeat_names_the_first_hosts_waited_for_and_counts_the_rest() -> None:
    waiting = [(f"client{i}", "port 22 not open (Connection refused)") for i in range(1, 6)]
    summary = waiting_summary(waiting)
    assert summary.startswith("5 host(s) not ready yet (client1: port 22 not open")
    assert "client3" in summary and "client4" not in summary and "and 2 more" in summary
