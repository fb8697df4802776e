"""Link conditions on a lab's hosts: applied by `lab up` (the topology's) and by `lab tc set|reset` (at runtime),
shown by `lab tc show`. What goes where is lab.links + lab.tc_script (pure); this module runs the scripts where
the provider's hosts are and keeps the conditions in force in .lab/NAME/tc.json. See docs/conditions.md.

- Containers share this machine's kernel: each host's script runs in its network namespace from the machine
  (`ip netns exec`, with the machine's tc and iptables), what a host receives is shaped on the machine-side end of
  its veth. netem where this kernel has it (probed for real, lab.netem).
- VMs: each host's script runs in the guest over SSH (as root), with the guest kernel's netem (probed there too).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lab import links
from lab.conditions import ConditionError, Port
from lab.conditions import to_json as conditions_json
from lab.errors import LabError
from lab.links import InForce
from lab.model import Connection, Host
from lab.ops.remote import as_root
from lab.outputs.tc_script import host_commands, machine_commands, refusal, script
from lab.plumbing.netem import NETEM_PROBE, machine_has_netem
from lab.plumbing.ssh import connection_command
from lab.state import LabConfig

APPLY_TIMEOUT_S = 60.0


def in_force(config: LabConfig) -> InForce:
    """The conditions in force: the record's, or the topology's when nothing was set at runtime."""
    path = config.tc_path
    if path.is_file():
        return links.from_record(json.loads(path.read_text()), config.topology)
    return links.from_topology(config.topology)


def save(config: LabConfig, conditions: InForce, netem: bool, seconds: float) -> None:
    data = {**links.to_json(conditions), "netem": netem, "applied_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                     time.gmtime()),
            "apply_seconds": round(seconds, 3)}
    path = config.tc_path
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=1) + "\n")
    temporary.replace(path)


def recorded(config: LabConfig) -> dict[str, Any]:
    path = config.tc_path
    return json.loads(path.read_text()) if path.is_file() else {}


# ---- where the hosts' kernel is ----------------------------------------------------------------------------------
def _ssh_script(config: LabConfig, connection: Connection, text: str, timeout: float
                ) -> subprocess.CompletedProcess[str]:
    args = [*connection_command(config, connection), as_root(f"sh -c {shlex.quote(text)}", connection.user)]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


def has_netem(config: LabConfig, connections: Mapping[str, Connection]) -> bool:
    """Whether the lab hosts' kernel has netem: this machine's for containers, a guest's for VMs (tried there)."""
    if config.provider == "nspawn":
        return machine_has_netem()
    first = next(h for h in config.topology.lab_hosts)
    return _ssh_script(config, connections[first.name], NETEM_PROBE, timeout=APPLY_TIMEOUT_S).returncode == 0


def _peer_of(config: LabConfig):
    """Containers: the machine-side end of a host's veth on a lab network (lab.nspawn's link names)."""
    def peer(host: Host, position: int) -> str | None:
        if config.provider != "nspawn":
            return None
        interface = host.interfaces[position - 1]
        if interface.network == config.topology.mgmt_network:
            return f"{config.name}-{host.index}m"
        return f"{config.name}-{host.index}n{position}"
    return peer


def _guest_names(ports: dict[str, list[Port]], config: LabConfig, connections: Mapping[str, Connection]
                 ) -> dict[str, list[Port]]:
    """A VM's interfaces may have other names in the guest (the inventory's connection says which)."""
    renamed = {}
    for host, host_ports in ports.items():
        names = connections[host].interface_names if host in connections else {}
        by_device = {i.name: names.get(i.network, i.name) for i in config.topology.host(host).interfaces}
        renamed[host] = [Port(by_device.get(p.device, p.device), p.shaping, p.peer) for p in host_ports]
    return renamed


def check_supported(config: LabConfig, conditions: InForce, netem: bool, source: str) -> None:
    """Without netem: the one-line refusal of what only netem does, before anything is applied."""
    if netem:
        return
    where = [(f"{source}networks.{name}.tc" if source else name, given) for name, given in conditions.networks.items()]
    where += [(f"{source}hosts.{host}.networks.{network}.tc" if source else f"{host}:{network}", given)
              for (host, network), given in conditions.own.items()]
    error = refusal(where)
    if error is not None:
        raise LabError(str(error))


def apply(config: LabConfig, connections: Mapping[str, Connection], conditions: InForce, netem: bool | None = None,
          source: str = "") -> float:
    """Applies `conditions` on every lab host (each host's script clears and applies all of its interfaces, or
    clears them and fails), records them, and returns the seconds it took."""
    started = time.monotonic()
    if netem is None:
        netem = has_netem(config, connections)
    check_supported(config, conditions, netem, source)
    try:
        ports = links.ports(config.topology, conditions, _peer_of(config))
    except ConditionError as error:
        raise LabError(str(error)) from None
    if config.provider != "nspawn":
        ports = _guest_names(ports, config, connections)

    def one(host: str) -> str | None:
        text = script(*host_commands(ports[host], netem), where=host)
        if config.provider == "nspawn":
            args = ["ip", "netns", "exec", f"{config.name}-{host}", "sh", "-c", text]
            result = subprocess.run(args, capture_output=True, text=True, timeout=APPLY_TIMEOUT_S, check=False)
        else:
            result = _ssh_script(config, connections[host], text, APPLY_TIMEOUT_S)
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines()
            return f"{host}: {lines[-1] if lines else f'exit status {result.returncode}'}"
        return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        problems = [p for p in pool.map(one, list(ports)) if p]
    if config.provider == "nspawn":
        every = [port for host_ports in ports.values() for port in host_ports]
        done = subprocess.run(["sh", "-c", script(*machine_commands(every, netem), where="this machine")],
                              capture_output=True, text=True, timeout=APPLY_TIMEOUT_S, check=False)
        if done.returncode != 0:
            problems.append(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "this machine failed")
    if problems:
        raise LabError(f"link conditions not applied: {problems[0]}")
    seconds = time.monotonic() - started
    save(config, conditions, netem, seconds)
    return seconds


def show_rows(config: LabConfig, conditions: InForce) -> list[dict[str, Any]]:
    """Every link (a network, and each host's interface on it) with its conditions in force."""
    rows = []
    for network in config.topology.networks:
        rows.append({"target": network.name, "conditions": conditions_json(conditions.network(network.name)),
                     "said": conditions.network(network.name).describe(),
                     "planned": conditions_json(network.tc)})
        for host in config.topology.hosts:
            interface = host.interface_on(network.name)
            if interface is None:
                continue
            own = conditions.own_on(host.name, network.name)
            rows.append({"target": f"{host.name}:{network.name}", "interface": interface.name,
                         "conditions": conditions_json(own), "said": own.describe(),
                         "planned": conditions_json(interface.tc)})
    return rows


def change(config: LabConfig, connections: Mapping[str, Connection], target: str | None, words: list[str] | None
           ) -> tuple[list[str], float]:
    """`lab tc set TARGET KEY=VALUE ...` (words) or `lab tc reset [TARGET]` (words None): the new conditions applied
    everywhere; what changed, and the seconds it took."""
    before = in_force(config)
    try:
        if words is None:
            after = links.reset_target(before, config.topology, target)
        else:
            after = links.set_target(before, config.topology, target or "", words)
    except ConditionError as error:
        raise LabError(f"tc {'set' if words is not None else 'reset'}: {error}") from None
    known = recorded(config).get("netem")  # probed when lab up applied the topology's: not again (a VM's costs 1 s)
    seconds = apply(config, connections, after, netem=known if isinstance(known, bool) else None)
    return links.changes(before, after), seconds


def restore_planned(config: LabConfig, connections: Mapping[str, Connection]) -> tuple[list[str], float]:
    """`lab up`: the topology's conditions applied (put back where `lab tc` changed them); what it put back."""
    before = in_force(config) if config.tc_path.is_file() else links.from_topology(config.topology)
    planned = links.from_topology(config.topology)
    seconds = apply(config, connections, planned, source=f"{config.topology.source}: ")
    return links.changes(before, planned), seconds


def refuse_early(config: LabConfig) -> None:
    """Before a container lab is created: what this machine's kernel cannot do, refused while nothing exists yet.
    (A VM's kernel is probed once the guests are up.)"""
    if config.provider == "nspawn":
        check_supported(config, links.from_topology(config.topology), machine_has_netem(),
                        f"{config.topology.source}: ")
