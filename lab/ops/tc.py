"""Link conditions on a lab's hosts: applied by `lab up` (the topology's) and by `lab tc set|reset` (at runtime),
shown by `lab tc show`. What goes where is lab.links + lab.tc_script (pure); this module runs the scripts where
the provider's hosts are and keeps the conditions in force in .lab/NAME/tc.json. See docs/conditions.md.

- Containers share this machine's kernel: each host's script runs in its network namespace from the machine
  (`ip netns exec`, with the machine's tc and iptables), what a host receives is shaped on the machine-side end of
  its veth. netem where this kernel has it (probed for real, lab.netem).
- VMs: each host's script runs in the guest over SSH (as root), with the guest kernel's netem (probed there too):
  one round trip over the lab's shared SSH connection per host, all hosts at once, and in the guest one `sudo -n tc
  -batch -` (a shell first only for an ifb device); under TCG each process started in a guest costs.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lab import links
from lab.conditions import ConditionError, Port
from lab.conditions import to_json as conditions_json
from lab.errors import LabError
from lab.links import InForce
from lab.model import Connection, Host
from lab.ops.remote import as_root_command
from lab.outputs.tc_script import HostScript, clearing, host_script, machine_script, refusal, unshaped
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
def has_netem(config: LabConfig, connections: Mapping[str, Connection]) -> bool:
    """Whether the lab hosts' kernel has netem: this machine's for containers, a guest's for VMs (tried there)."""
    if config.provider == "nspawn":
        return machine_has_netem()
    first = next(h for h in config.topology.lab_hosts)
    return _runner(config, connections, first.name)(["sh", "-c", NETEM_PROBE], "").returncode == 0


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


Runner = Callable[[list[str], str], "subprocess.CompletedProcess[str]"]  # (argv, stdin) run where a kernel is


def failure(result: subprocess.CompletedProcess[str], script: HostScript) -> str:
    """Why a script failed, in one line: tc's error and the batch line it failed on."""
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    failed = next((line for line in lines if line.startswith("Command failed -:")), None)
    said = [line for line in lines if line != failed]
    reason = said[-1] if said else f"exit status {result.returncode}"
    number = failed.rpartition(":")[2] if failed else ""
    if number.isdigit() and 0 < int(number) <= len(script.batch):
        reason += f" (tc {script.batch[int(number) - 1]})"
    return reason


def run_script(run: Runner, script: HostScript, clear: HostScript) -> str | None:
    """Runs a host's script; after a failure clears what it set (never half applied) and says why."""
    result = run(script.argv(), script.stdin)
    if result.returncode == 0:
        return None
    run(clear.argv(force=True), clear.stdin)
    return failure(result, script)


def _runner(config: LabConfig, connections: Mapping[str, Connection], host: str | None) -> Runner:
    """Where a host's kernel is: its network namespace from this machine (containers), its guest over the lab's
    shared SSH connection (VMs), this machine itself (host None: containers' veth ends)."""
    def run(argv: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
        if host is None:
            where = argv
        elif config.provider == "nspawn":
            where = ["ip", "netns", "exec", f"{config.name}-{host}", *argv]
        else:
            connection = connections[host]
            where = [*connection_command(config, connection), as_root_command(argv, connection.user)]
        try:
            return subprocess.run(where, input=stdin, capture_output=True, text=True, timeout=APPLY_TIMEOUT_S,
                                  check=False)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(where, 124, "", f"no answer within {APPLY_TIMEOUT_S:.0f} s")
    return run


def _ports(config: LabConfig, connections: Mapping[str, Connection], conditions: InForce) -> dict[str, list[Port]]:
    try:
        ports = links.ports(config.topology, conditions, _peer_of(config))
    except ConditionError as error:
        raise LabError(str(error)) from None
    return ports if config.provider == "nspawn" else _guest_names(ports, config, connections)


def apply(config: LabConfig, connections: Mapping[str, Connection], conditions: InForce, netem: bool | None = None,
          source: str = "", before: InForce | None = None) -> float:
    """Applies `conditions` on every lab host at once (each host sets all of its interfaces in one go, or clears
    them and fails), records them, and returns the seconds it took. `before`: what the lab set until now (an ifb
    device it made goes when no longer wanted)."""
    started = time.monotonic()
    if netem is None:
        netem = has_netem(config, connections)
    check_supported(config, conditions, netem, source)
    ports = _ports(config, connections, conditions)
    earlier = _ports(config, connections, before) if before is not None else {}
    try:
        scripts = {host: host_script(host_ports, netem, had_ifb=[p.device for p in earlier.get(host, [])
                                                                 if p.peer is None and p.shaping.ingress])
                   for host, host_ports in ports.items()}
    except ConditionError as error:
        raise LabError(f"link conditions not applied: {error}") from None

    def one(host: str) -> str | None:
        problem = run_script(_runner(config, connections, host), scripts[host], clearing(ports[host], netem))
        return f"{host}: {problem}" if problem else None

    with ThreadPoolExecutor(max_workers=8) as pool:
        problems = [p for p in pool.map(one, list(ports)) if p]
    if config.provider == "nspawn":
        every = [port for host_ports in ports.values() for port in host_ports]
        problem = run_script(_runner(config, connections, None), machine_script(every, netem),
                             machine_script(unshaped(every), netem))
        if problem:
            problems.append(f"this machine: {problem}")
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
    seconds = apply(config, connections, after, netem=known if isinstance(known, bool) else None, before=before)
    return links.changes(before, after), seconds


def restore_planned(config: LabConfig, connections: Mapping[str, Connection]) -> tuple[list[str], float]:
    """`lab up`: the topology's conditions applied (put back where `lab tc` changed them); what it put back."""
    before = in_force(config) if config.tc_path.is_file() else links.from_topology(config.topology)
    planned = links.from_topology(config.topology)
    seconds = apply(config, connections, planned, source=f"{config.topology.source}: ", before=before)
    return links.changes(before, planned), seconds


def refuse_early(config: LabConfig) -> None:
    """Before a container lab is created: what this machine's kernel cannot do, refused while nothing exists yet.
    (A VM's kernel is probed once the guests are up.)"""
    if config.provider == "nspawn":
        check_supported(config, links.from_topology(config.topology), machine_has_netem(),
                        f"{config.topology.source}: ")
