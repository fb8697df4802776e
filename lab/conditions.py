"""Link conditions (delay, loss, rate, ...) as data: checked, combined, and what a path through the lab adds up to.

Pure: no I/O. The keys and units are netlab's `tc` attributes, so that its users feel at home (docs/conditions.md):

    delay      ms       each crossing packet waits this long
    jitter     ms       +/- this much around delay (needs delay)
    loss       %        a crossing packet is dropped with this probability
    corrupt    %        ... gets a bit flipped
    duplicate  %        ... arrives twice
    reorder    %        ... is sent at once, ahead of the delayed ones (needs delay)
    rate       kbit/s   the interface sends at most this fast

Numbers; 0 or absent means none. The meaning (what lab/tc_script.py makes true on every provider): a packet that
crosses a network is subject to the network's conditions once, whichever way it goes, so a ping between two of its
hosts shows an RTT of 2 x delay; a host's own `tc` on its entry for that network adds to every packet that host sends
or receives there; through routers, the networks crossed add up.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

UNITS = {"delay": "ms", "jitter": "ms", "loss": "%", "corrupt": "%", "duplicate": "%", "reorder": "%",
         "rate": "kbit/s"}
KEYS = tuple(UNITS)
PERCENT_KEYS = frozenset({"loss", "corrupt", "duplicate", "reorder"})
NEEDS_DELAY = ("jitter", "reorder")
# What only netem (the kernel's sch_netem) can do; loss and rate have other means (iptables statistic, tbf).
NETEM_ONLY = ("delay", "jitter", "reorder", "duplicate", "corrupt")
MAX_DELAY_MS = 60_000.0  # a minute: beyond that no TCP connection or check survives
MAX_RATE_KBIT = 100_000_000.0  # 100 Gbit/s
PARTITION = 100.0  # loss=100: nothing crosses (a silent drop)


class ConditionError(ValueError):
    """A bad condition: `path` is the key path (e.g. 'networks.lanb.tc.loss'), `problem` what is wrong with it."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class Conditions:
    delay: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0
    corrupt: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    rate: float = 0.0

    def __bool__(self) -> bool:
        return any(self.values().values())

    def values(self) -> dict[str, float]:
        """Every key with its value (0 for none), in KEYS order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def given(self) -> dict[str, float]:
        """Only the keys in force (non-zero)."""
        return {key: value for key, value in self.values().items() if value}

    def netem_only(self) -> tuple[str, ...]:
        """The keys in force that only netem can apply."""
        return tuple(key for key in NETEM_ONLY if getattr(self, key))

    def describe(self) -> str:
        """'delay 80 ms, loss 2 %' (or 'none')."""
        return ", ".join(f"{key} {_number(value)} {UNITS[key]}" for key, value in self.given().items()) or "none"


NONE = Conditions()


def _number(value: float) -> str:
    return f"{value:g}"


def to_json(conditions: Conditions) -> dict[str, float]:
    """The keys in force: {} for none (what topology.json, `tc show --json` and the bench report hold)."""
    return conditions.given()


def from_json(data: Mapping[str, Any] | None) -> Conditions:
    return Conditions(**{key: float(value) for key, value in (data or {}).items() if key in UNITS})


# ---- checking -------------------------------------------------------------------------------------------------
def check_value(key: str, value: Any, path: str) -> float:
    """One key's value as a number, or ConditionError naming `path` (the key's own path)."""
    if key not in UNITS:
        raise ConditionError(path, f"unknown condition {key!r} (known: {', '.join(KEYS)})")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConditionError(path, f"must be a number ({UNITS[key]}), not {_kind(value)}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ConditionError(path, f"{_number(number)} is negative or not finite: give 0 or more ({UNITS[key]})")
    if key in PERCENT_KEYS and number > 100:
        raise ConditionError(path, f"{_number(number)} % is over 100 %")
    if key in ("delay", "jitter") and number > MAX_DELAY_MS:
        raise ConditionError(path, f"{_number(number)} ms is over {_number(MAX_DELAY_MS)} ms")
    if key == "rate" and number > MAX_RATE_KBIT:
        raise ConditionError(path, f"{_number(number)} kbit/s is over {_number(MAX_RATE_KBIT)} kbit/s")
    return number


def check_combination(conditions: Conditions, path: str) -> Conditions:
    for key in NEEDS_DELAY:
        if getattr(conditions, key) and not conditions.delay:
            raise ConditionError(f"{path}.{key}" if path else key, f"{key} needs delay (give delay too)")
    return conditions


def parse(value: Any, path: str) -> Conditions:
    """A `tc:` mapping from a topology file (`path` is its key path, e.g. 'networks.lanb.tc')."""
    if value is None:
        return NONE
    if not isinstance(value, dict):
        raise ConditionError(path, f"must be a mapping of conditions ({', '.join(KEYS)}), not {_kind(value)}")
    numbers = {}
    for key, raw in value.items():
        if not isinstance(key, str) or key not in UNITS:
            raise ConditionError(path, f"unknown condition {key!r} (known: {', '.join(KEYS)})")
        numbers[key] = check_value(key, raw, f"{path}.{key}")
    return check_combination(Conditions(**numbers), path)


def parse_assignments(words: Iterable[str], path: str) -> dict[str, float]:
    """`KEY=VALUE` words of `lab tc set` as {key: number}; `path` names the target in errors."""
    changes: dict[str, float] = {}
    for word in words:
        key, equals, text = word.partition("=")
        if not equals or not key:
            raise ConditionError(path, f"{word!r} is not KEY=VALUE (keys: {', '.join(KEYS)})")
        try:
            value: Any = float(text)
        except ValueError:
            value = text
        changes[key] = check_value(key, value, f"{path}.{key}" if path else key)
    if not changes:
        raise ConditionError(path, f"give at least one KEY=VALUE (keys: {', '.join(KEYS)})")
    return changes


def override(base: Conditions, changes: Mapping[str, float], path: str) -> Conditions:
    """`base` with the keys in `changes` replaced (`lab tc set`), checked as a whole (jitter still needs delay)."""
    return check_combination(replace(base, **dict(changes)), path)


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "true/false",
            type(None): "empty"}.get(type(value), type(value).__name__)


# ---- combining -------------------------------------------------------------------------------------------------
def either(a: float, b: float) -> float:
    """Two independent chances in percent: the chance that at least one happens."""
    if not a or not b:
        return a or b
    return 100.0 * (1.0 - (1.0 - a / 100.0) * (1.0 - b / 100.0))


def add(first: Conditions, second: Conditions) -> Conditions:
    """What a packet meets passing through `first`, then `second`: delays (and jitter bounds) add up, independent
    chances combine (two 10 % losses drop 19 %), the slower rate wins."""
    rates = [r for r in (first.rate, second.rate) if r]
    return Conditions(
        delay=first.delay + second.delay,
        jitter=first.jitter + second.jitter,
        loss=either(first.loss, second.loss),
        corrupt=either(first.corrupt, second.corrupt),
        duplicate=either(first.duplicate, second.duplicate),
        reorder=either(first.reorder, second.reorder),
        rate=min(rates) if rates else 0.0,
    )


def total(parts: Iterable[Conditions]) -> Conditions:
    result = NONE
    for part in parts:
        result = add(result, part)
    return result


@dataclass(frozen=True)
class Shaping:
    """One host interface's share: its `network`'s conditions and the host's `own` there.

    Every packet crossing a network leaves exactly one interface on it (its sender's, a host's or a router's) and
    enters exactly one (its receiver's). So the network's conditions apply once per crossing when every attached
    interface applies them to what it sends (`egress`), or to what it receives (`network_ingress`: the same meaning,
    for drops the sender must not see); the host's own apply both ways (`egress` and `ingress`)."""

    network: Conditions = NONE
    own: Conditions = NONE

    def __bool__(self) -> bool:
        return bool(self.network) or bool(self.own)

    @property
    def egress(self) -> Conditions:
        """What it sends meets: the network's and its own."""
        return add(self.network, self.own)

    @property
    def ingress(self) -> Conditions:
        """What it receives meets: its own (the network's were met on the way out of the sender)."""
        return self.own


@dataclass(frozen=True)
class Port:
    """One host interface to shape: `device` inside the host; `peer` the machine-side end of its veth (containers),
    None when what it receives is shaped inside the host too (VMs: an ifb device)."""

    device: str
    shaping: Shaping
    peer: str | None = None


def shaping(network: Conditions, host: Conditions) -> Shaping:
    """A host interface's shaping from its network's conditions and the host's own on that network."""
    return Shaping(network, host)


def crossing(network: Conditions, sender: Conditions = NONE, receiver: Conditions = NONE) -> Conditions:
    """What one packet meets crossing one network from `sender`'s interface to `receiver`'s (each with its host's
    own conditions there): the sender's egress, then the receiver's ingress."""
    return add(shaping(network, sender).egress, shaping(network, receiver).ingress)


def round_trip_delay(forward: Iterable[Conditions], back: Iterable[Conditions]) -> float:
    """The configured delay a ping adds up to, in ms: every crossing there and back (see `crossing`)."""
    return sum(c.delay for c in forward) + sum(c.delay for c in back)
