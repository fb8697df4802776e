"""Progress of the lab driver's long waits: when a step has printed nothing for a while, one line says which step,
what it waits for, and how many seconds so far — no silent minute.

Reference: docs/lab.md
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lab.plumbing.shell import log as lab_log

QUIET_S = 15  # a step silent this long says where it is
TICK_S = 1


class Heartbeat:
    """Counts a step's seconds; `tick()` logs one line after QUIET_S seconds without output (`output()`)."""

    def __init__(self, step: str, detail: Callable[[], str] = lambda: "", quiet_s: float = QUIET_S,
                 log: Callable[[str], None] = lab_log, clock: Callable[[], float] = time.monotonic) -> None:
        self.step, self.detail, self.quiet_s, self.log, self.clock = step, detail, quiet_s, log, clock
        self.started = self.last_output = clock()

    def output(self) -> None:
        self.last_output = self.clock()

    def tick(self) -> None:
        now = self.clock()
        if now - self.last_output >= self.quiet_s:
            detail = self.detail()
            self.log(f"{self.step}: {detail + ', ' if detail else ''}{now - self.started:.0f} s so far")
            self.last_output = now


@contextmanager
def heartbeat(step: str, detail: Callable[[], str] = lambda: "") -> Iterator[Heartbeat]:
    """A Heartbeat ticked by a background thread while the block runs."""
    beat = Heartbeat(step, detail)
    done = threading.Event()

    def ticker() -> None:
        while not done.wait(TICK_S):
            beat.tick()

    thread = threading.Thread(target=ticker, daemon=True)
    thread.start()
    try:
        yield beat
    finally:
        done.set()
        thread.join()


VAGRANT_STEP = re.compile(r"^==> ([\w.-]+):\s+(.+?)\.*$")


class VagrantSteps:
    """The latest step of each machine, from `vagrant up`'s `==> NAME: Step...` lines (those
    lab.providers.libvirt.vagrant's QUIET_LINE lets through: not its `==> NAME:  -- Setting: value` table)."""

    def __init__(self, names: list[str]) -> None:
        self.steps = dict.fromkeys(names, "starting")

    def note(self, line: str) -> None:
        match = VAGRANT_STEP.match(line.strip())
        if match and match.group(1) in self.steps:
            self.steps[match.group(1)] = match.group(2)

    def summary(self) -> str:
        return "; ".join(f"{name}: {step}" for name, step in self.steps.items())
