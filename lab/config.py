"""Lab settings from the environment, validated, and the address plan derived from them (pure)."""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

PROVIDERS = ("auto", "nspawn", "libvirt")
MAX_CLIENTS = 20
SERVER_HOST_NUMBER = 10  # the server is .10 of each subnet, clients .11, .12, ...
LAB_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,7}$")
DEFAULT_MGMT_SUBNET = "10.199.56.0/24"
LAB_INTERFACE = "eth1"
MGMT_INTERFACE = "eth0"


class LabError(Exception):
    """A problem the user can fix; its text is one line."""


@dataclass(frozen=True)
class HostPlan:
    name: str
    role: str  # "server" or "client"
    index: int  # 0 for the server, 1.. for clients
    lab_address: ipaddress.IPv4Interface
    mgmt_address: ipaddress.IPv4Interface


@dataclass(frozen=True)
class LabConfig:
    name: str
    provider: str
    clients: int
    subnet: ipaddress.IPv4Network
    mgmt_subnet: ipaddress.IPv4Network
    chat_port: int
    state_dir: Path

    @property
    def hosts(self) -> list[HostPlan]:
        return plan_hosts(self.clients, self.subnet, self.mgmt_subnet)

    @property
    def inventory_path(self) -> Path:
        return self.state_dir / "inventory.yml"

    @property
    def mgmt_gateway(self) -> ipaddress.IPv4Interface:
        return ipaddress.IPv4Interface(f"{self.mgmt_subnet.network_address + 1}/{self.mgmt_subnet.prefixlen}")


def _host_address(subnet: ipaddress.IPv4Network, number: int, what: str) -> ipaddress.IPv4Interface:
    address = subnet.network_address + number
    if address not in subnet or address in (subnet.network_address, subnet.broadcast_address):
        raise LabError(f"{what} {subnet} is too small for host number {number}")
    return ipaddress.IPv4Interface(f"{address}/{subnet.prefixlen}")


def plan_hosts(
    clients: int, subnet: ipaddress.IPv4Network, mgmt_subnet: ipaddress.IPv4Network
) -> list[HostPlan]:
    """The server and `clients` clients, each with its LAN and management address."""
    names = ["server"] + [f"client{i}" for i in range(1, clients + 1)]
    return [
        HostPlan(
            name=name,
            role="server" if index == 0 else "client",
            index=index,
            lab_address=_host_address(subnet, SERVER_HOST_NUMBER + index, "LAB_SUBNET"),
            mgmt_address=_host_address(mgmt_subnet, SERVER_HOST_NUMBER + index, "LAB_MGMT_SUBNET"),
        )
        for index, name in enumerate(names)
    ]


def _parse_subnet(value: str, variable: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value, strict=False)
    except ValueError as error:
        raise LabError(f"{variable}={value!r} is not an IPv4 subnet like 192.168.56.0/24 ({error})") from None


def _parse_int(value: str, variable: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise LabError(f"{variable}={value!r} is not a whole number") from None
    if not low <= number <= high:
        raise LabError(f"{variable}={number} is out of range ({low}..{high})")
    return number


def load_config(environ: dict[str, str] | None = None, root: Path | None = None) -> LabConfig:
    """Reads LAB_* variables; every mistake becomes a one-line LabError."""
    env = os.environ if environ is None else environ
    name = env.get("LAB_NAME", "chatlab")
    if not LAB_NAME_PATTERN.match(name):
        raise LabError(f"LAB_NAME={name!r} must be 1-8 lowercase letters/digits starting with a letter")
    provider = env.get("LAB_PROVIDER", "auto") or "auto"
    if provider not in PROVIDERS:
        raise LabError(f"LAB_PROVIDER={provider!r} is not one of {', '.join(PROVIDERS)}")
    clients = _parse_int(env.get("LAB_CLIENTS", "1"), "LAB_CLIENTS", 1, MAX_CLIENTS)
    subnet = _parse_subnet(env.get("LAB_SUBNET", "192.168.56.0/24"), "LAB_SUBNET")
    mgmt_subnet = _parse_subnet(env.get("LAB_MGMT_SUBNET", DEFAULT_MGMT_SUBNET), "LAB_MGMT_SUBNET")
    if subnet.overlaps(mgmt_subnet):
        raise LabError(f"LAB_SUBNET {subnet} overlaps the management subnet {mgmt_subnet} (set LAB_MGMT_SUBNET)")
    chat_port = _parse_int(env.get("LAB_CHAT_PORT", "5000"), "LAB_CHAT_PORT", 1, 65535)
    base = root if root is not None else Path(__file__).resolve().parent.parent
    config = LabConfig(name, provider, clients, subnet, mgmt_subnet, chat_port, base / ".lab" / name)
    config.hosts  # noqa: B018 - validates that every host fits its subnets
    return config


SETTINGS = ("LAB_PROVIDER", "LAB_CLIENTS", "LAB_SUBNET", "LAB_MGMT_SUBNET", "LAB_CHAT_PORT")


def save_settings(config: LabConfig) -> None:
    """Remembers what the lab was made with, so later commands (ssh, chat, status, down) need no LAB_* again."""
    settings = {
        "LAB_NAME": config.name, "LAB_PROVIDER": config.provider, "LAB_CLIENTS": str(config.clients),
        "LAB_SUBNET": str(config.subnet), "LAB_MGMT_SUBNET": str(config.mgmt_subnet),
        "LAB_CHAT_PORT": str(config.chat_port),
    }
    config.state_dir.mkdir(parents=True, exist_ok=True)
    (config.state_dir / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")


def load_config_of_existing_lab(environ: dict[str, str] | None = None, root: Path | None = None,
                                *, environment_wins: bool = False) -> LabConfig:
    """The settings the lab (picked by LAB_NAME) was made with, merged with the environment's.

    For `up`, what the environment sets wins (`make lab-up LAB_CLIENTS=5` grows the lab; a plain `make lab-up`
    keeps it as it is); for every other command the saved settings win, since they describe the lab that exists.
    """
    env = dict(os.environ if environ is None else environ)
    config = load_config(env, root)
    saved_path = config.state_dir / "settings.json"
    if not saved_path.is_file():
        return config
    saved = {key: value for key, value in json.loads(saved_path.read_text()).items() if key in SETTINGS}
    given = {key: value for key, value in env.items() if key in SETTINGS}
    merged = {**env, **saved, **given} if environment_wins else {**env, **saved}
    return load_config(merged, root)
