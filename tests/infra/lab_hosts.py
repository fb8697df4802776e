"""The lab hosts the cross-host checks act on and observe."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LabHost:
    """One inventory host: its testinfra handle and the facts the checks need."""

    name: str
    host: Any  # testinfra.host.Host
    interface: str
    address: ipaddress.IPv4Interface
    chat_port: int
