"""A long wait says which step, what it waits for and the seconds so far once it has been silent for a while."""

from __future__ import annotations

from lab.plumbing.progress import Heartbeat, VagrantSteps
from lab.providers.libvirt.vagrant import QUIET_LINE


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_silent_step_says_where_it_is_once_per_quiet_period() -> None:
    clock, lines = Clock(), []
    beat = Heartbeat("boot", lambda: "server: waiting for SSH on 10.0.0.10:22", quiet_s=15, log=lines.append,
                     clock=clock)
    clock.now += 14
    beat.tick()
    assert lines == []
    clock.now += 1
    beat.tick()
    beat.tick()
    assert lines == ["boot: server: waiting for SSH on 10.0.0.10:22, 15 s so far"]
    clock.now += 15
    beat.tick()
    assert lines[-1] == "boot: server: waiting for SSH on 10.0.0.10:22, 30 s so far"


def test_output_restarts_the_quiet_period() -> None:
    clock, lines = Clock(), []
    beat = Heartbeat("provision", quiet_s=15, log=lines.append, clock=clock)
    clock.now += 10
    beat.output()
    clock.now += 10
    beat.tick()
    assert lines == []
    clock.now += 5
    beat.tick()
    assert lines == ["provision: 25 s so far"]


def test_vagrant_steps_keep_each_machines_latest_step() -> None:
    steps = VagrantSteps(["server", "client1"])
    for line in ("==> server: Starting domain.", "==> client1: Starting domain.",
                 "==> server: Waiting for domain to get an IP address...",
                 "    server: SSH address: 10.199.57.10:22",
                 "==> other: Starting domain."):
        steps.note(line)
    assert steps.summary() == "server: Waiting for domain to get an IP address; client1: Starting domain"


def test_vagrants_domain_settings_table_is_quiet_so_never_a_step() -> None:
    """libvirt's vagrant up hands VagrantSteps only the lines QUIET_LINE lets through."""
    assert QUIET_LINE.search("==> server:  -- Memory:            768M")
    assert not QUIET_LINE.search("==> server: Waiting for domain to get an IP address...")
