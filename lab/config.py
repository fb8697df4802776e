"""Which lab to work on: the topology file and the LAB_* settings on top of it, resolved into what `lab up` is
asked for (an UpRequest) and, once the provider is known, the lab's LabConfig (lab.state keeps it as the lab's
record, .lab/NAME/topology.json; lab.topology reads the file and plans it).

Reference: docs/lab.md#settings (the LAB_* settings), docs/topology.md (the file)
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import topology as topo
from lab.errors import LabError, TopologyError
from lab.model import Topology
from lab.state import REPO, LabConfig, load_state, state_dir_for

DEFAULT_TOPOLOGY = REPO / "labs" / "seed.yml"
# The management network between this machine and the hosts, per provider: two labs of different kinds may be up
# at once. (LAB_MGMT_SUBNET or the topology's management.subnet overrides it.)
DEFAULT_MGMT_SUBNETS = {"nspawn": "10.199.56.0/24", "libvirt": "10.199.57.0/24"}
# LAB_* settings that change the topology; the others (LAB_BOX, LAB_VM_MEMORY, ...) are the provider's.
OVERRIDES = ("LAB_NAME", "LAB_PROVIDER", "LAB_CLIENTS", "LAB_SUBNET", "LAB_CHAT_PORT", "LAB_MGMT_SUBNET")
PROVIDER_SETTINGS = ("LAB_BOX", "LAB_VM_MEMORY", "LAB_LIBVIRT_DRIVER")


# ---- the topology asked for -------------------------------------------------------------------------------------
def _source_path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() or path.exists() else REPO / path


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def apply_overrides(data: dict[str, Any], overrides: Mapping[str, str], source: str) -> dict[str, Any]:
    """The topology's data with LAB_* settings on top; LAB_CLIENTS and LAB_SUBNET need a topology with one
    chat_client entry with a count, and one network."""
    data = json.loads(json.dumps(data))  # a deep copy of plain YAML data
    if "LAB_NAME" in overrides:
        data["name"] = overrides["LAB_NAME"]
    if "LAB_PROVIDER" in overrides:
        data["provider"] = overrides["LAB_PROVIDER"]
    if "LAB_CHAT_PORT" in overrides:
        data["chat"] = {**(data.get("chat") or {}), "port": _whole_number(overrides["LAB_CHAT_PORT"], "LAB_CHAT_PORT")}
    if "LAB_MGMT_SUBNET" in overrides:
        data["management"] = {**(data.get("management") or {}), "subnet": _subnet_text(overrides["LAB_MGMT_SUBNET"])}
    if "LAB_CLIENTS" in overrides:
        hosts = data.get("hosts") if isinstance(data.get("hosts"), dict) else {}
        counted = [n for n, h in hosts.items() if isinstance(h, dict) and h.get("role") == "chat_client"
                   and "count" in h]
        if len(counted) != 1:
            raise LabError(f"LAB_CLIENTS works with a topology that has one chat_client entry with a 'count' "
                           f"(like labs/seed.yml); edit {source}'s hosts instead")
        hosts[counted[0]]["count"] = _whole_number(overrides["LAB_CLIENTS"], "LAB_CLIENTS")
    if "LAB_SUBNET" in overrides:
        networks = data.get("networks") if isinstance(data.get("networks"), dict) else {}
        if len(networks) != 1:
            raise LabError(f"LAB_SUBNET works with a topology of one network (like labs/seed.yml); "
                           f"edit {source}'s networks instead")
        only = next(iter(networks))
        settings = dict(networks[only] or {})
        subnet = _subnet_text(overrides["LAB_SUBNET"])
        if "gateway" in settings:  # the gateway keeps its host number (labs/single-nic.yml's .1 stays the .1)
            settings["gateway"] = _same_host_number(settings["gateway"], settings.get("subnet"), subnet)
        networks[only] = {**settings, "subnet": subnet}
    return data


def _same_host_number(address: Any, old_subnet: Any, new_subnet: str) -> Any:
    """`address`'s host number in `old_subnet`, in `new_subnet`; `address` as it is when either does not parse
    (the topology's own check then names the key)."""
    try:
        old = ipaddress.IPv4Network(str(old_subnet))
        number = int(ipaddress.IPv4Address(str(address))) - int(old.network_address)
        return str(ipaddress.IPv4Network(new_subnet).network_address + number) if 0 < number < old.num_addresses \
            else address
    except ValueError:
        return address


def _whole_number(value: str, variable: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise LabError(f"{variable}={value!r} is not a whole number") from None


def _subnet_text(value: str) -> str:
    try:
        return str(ipaddress.IPv4Network(value, strict=False))
    except ValueError as error:
        raise LabError(f"{value!r} is not an IPv4 subnet like 192.168.56.0/24 ({error})") from None


def requested_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    return {key: environ[key] for key in OVERRIDES if environ.get(key)}


def requested_topology(source: Path, overrides: Mapping[str, str]) -> Topology:
    """The topology file with the overrides applied, resolved (management addresses not planned yet)."""
    shown = _display(source)
    data = apply_overrides(topo.read_file(source), overrides, shown)
    try:
        return topo.resolve(data, shown, dict(overrides))
    except TopologyError as error:
        raise LabError(_name_override(str(error), overrides)) from None


def _name_override(message: str, overrides: Mapping[str, str]) -> str:
    """Says which LAB_* setting a topology error comes from, when it comes from one."""
    hints = {"LAB_CLIENTS": ".count:", "LAB_CHAT_PORT": "chat.port:", "LAB_NAME": ": name:",
             "LAB_MGMT_SUBNET": "management", "LAB_SUBNET": ".subnet:", "LAB_PROVIDER": ": provider:"}
    for variable, hint in hints.items():
        if variable in overrides and hint in message:
            return f"{message} (from {variable}={overrides[variable]})"
    return message


def lab_name(environ: Mapping[str, str]) -> tuple[str, Path]:
    """The lab a command is about: LAB_NAME, else the name in LAB_TOPOLOGY's file, else the default topology's;
    and the topology file asked for (LAB_TOPOLOGY or the default)."""
    source = _source_path(environ["LAB_TOPOLOGY"]) if environ.get("LAB_TOPOLOGY") else DEFAULT_TOPOLOGY
    given = environ.get("LAB_NAME")
    name = given or topo.read_file(source).get("name")
    if not isinstance(name, str) or not topo.LAB_NAME_PATTERN.match(name):
        raise LabError(f"{_display(source)}: name: {name!r} is not {topo.LAB_NAME_RULE}"
                       + (f" (from LAB_NAME={given})" if given else ""))
    return name, source


# ---- the lab a command is about ------------------------------------------------------------------------------
def existing_lab(environ: Mapping[str, str] | None = None, root: Path | None = None) -> tuple[str, LabConfig | None]:
    """For every command but `up`: the lab's name and its record (None when it is not up)."""
    env = os.environ if environ is None else environ
    try:
        name, _ = lab_name(env)
    except TopologyError as error:
        raise LabError(str(error)) from None
    return name, load_state(state_dir_for(name, root))


@dataclass(frozen=True)
class UpRequest:
    """What `lab up` is asked to build, before the provider is chosen."""

    topology: Topology  # management addresses not planned yet
    state_dir: Path
    existing: LabConfig | None
    kept: dict[str, str]  # settings kept from the running lab, not from the command line
    provider_settings: dict[str, str]


def up_request(environ: Mapping[str, str] | None = None, root: Path | None = None) -> UpRequest:
    """The topology for `lab up`: the file and settings given; else those the running lab was made with (a plain
    `make lab-up` keeps a lab as it is, and says which settings it kept)."""
    env = os.environ if environ is None else environ
    try:
        name, source = lab_name(env)
        state_dir = state_dir_for(name, root)
        existing = load_state(state_dir)
        given = requested_overrides(env)
        kept: dict[str, str] = {}
        if existing is not None and not env.get("LAB_TOPOLOGY") and existing.topology.source:
            source = _source_path(existing.topology.source)
            kept = {k: v for k, v in existing.topology.overrides.items() if k not in given and k != "LAB_NAME"}
        overrides = {**kept, **given}
        topology = requested_topology(source, overrides)
    except TopologyError as error:
        raise LabError(str(error)) from None
    settings = {key: env[key] for key in PROVIDER_SETTINGS if env.get(key)}
    return UpRequest(topology, state_dir, existing, kept, settings)


def configure(request: UpRequest, provider: str) -> LabConfig:
    """The lab's config once its provider is known: management addresses planned in LAB_MGMT_SUBNET, the
    topology's management.subnet, the subnet the running lab already uses, or the provider's default."""
    existing = request.existing if request.existing and request.existing.provider == provider else None
    mgmt_text = (request.topology.mgmt_subnet and str(request.topology.mgmt_subnet)) \
        or (existing and str(existing.mgmt_subnet)) or DEFAULT_MGMT_SUBNETS[provider]
    try:
        # VMs get their management addresses from libvirt's DHCP: none is planned for them, but on a shared
        # management network (the one-NIC case) the lab reserves each VM's planned temporary address there
        topology = topo.with_management(request.topology, ipaddress.IPv4Network(mgmt_text),
                                        plan_hosts=provider != "libvirt" or request.topology.mgmt_network is not None)
    except TopologyError as error:
        raise LabError(str(error)) from None
    settings = {**(existing.provider_settings if existing else {}), **request.provider_settings}
    return LabConfig(topology, provider, request.state_dir, settings)

