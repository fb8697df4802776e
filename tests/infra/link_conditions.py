"""The link conditions in force on the lab the inventory belongs to, and what a path between two of its hosts adds up
to (lab.links): what the checks of test_link_conditions.py measure against. An inventory of real machines has none."""

from __future__ import annotations

import ipaddress
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from repo_paths import REPO

from lab import links
from lab.conditions import NONE, Conditions, total
from lab.model import Topology, from_json

Z = 5.0  # the loss checks' band: 5 standard deviations (a false alarm about once in 1.7 million runs)


@dataclass(frozen=True)
class LabLinks:
    name: str
    provider: str
    topology: Topology
    in_force: links.InForce
    netem: bool | None  # whether the hosts' kernel has netem (None: not probed yet: no conditions applied)

    def path(self, source: str, target: ipaddress.IPv4Address) -> Conditions:
        return total(links.path(self.topology, self.in_force, source, target))

    def round_trip(self, source: str, target_host: str, target: ipaddress.IPv4Address) -> tuple[Conditions,
                                                                                                 Conditions]:
        back_to = self.topology.host(source).lab_address.ip
        back = total(links.path(self.topology, self.in_force, target_host, back_to))
        return self.path(source, target), back

    def no_delay_reason(self) -> str:
        if self.netem is False:
            return "no netem on this kernel (delay cannot be configured here; LAB_PROVIDER=libvirt has it)"
        return "no delay configured on this path"


def load(inventory_data: dict[str, Any]) -> LabLinks | None:
    """The lab's conditions when the inventory is a lab's (chatlab_lab_name, and its record under .lab/), else None."""
    hostvars = inventory_data.get("_meta", {}).get("hostvars", {})
    name = next((v["chatlab_lab_name"] for v in hostvars.values() if v.get("chatlab_lab_name")), None)
    state = REPO / ".lab" / str(name)
    record = state / "topology.json"
    if not name or not record.is_file():
        return None
    data = json.loads(record.read_text())
    topology = from_json(data.get("topology", data))
    conditions_file = state / "tc.json"
    applied = json.loads(conditions_file.read_text()) if conditions_file.is_file() else {}
    in_force = links.from_record(applied, topology) if applied else links.from_topology(topology)
    return LabLinks(str(name), data.get("provider", ""), topology, in_force, applied.get("netem"))


def round_trip_loss(forward: Conditions, back: Conditions) -> float:
    """The chance that a ping or its answer is lost, as a fraction."""
    return 1.0 - (1.0 - forward.loss / 100.0) * (1.0 - back.loss / 100.0)


def loss_band(probes: int, chance: float) -> tuple[int, int]:
    """How many of `probes` may be lost, at chance `chance` each: the binomial mean +/- Z standard deviations."""
    mean, sd = probes * chance, math.sqrt(probes * chance * (1.0 - chance))
    return max(0, math.floor(mean - Z * sd)), min(probes, math.ceil(mean + Z * sd))


def lab_tc(lab: LabLinks, *words: str) -> None:
    """`python -m lab tc WORDS` on this lab (a drill changes the conditions and puts them back)."""
    env = {**os.environ, "LAB_NAME": lab.name}
    env.pop("LAB_TOPOLOGY", None)
    done = subprocess.run([sys.executable, "-m", "lab", "tc", *words], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, f"lab tc {' '.join(words)}: {done.stderr.strip()}"


__all__ = ["NONE", "LabLinks", "Z", "lab_tc", "load", "loss_band", "round_trip_loss"]
