"""What the cross-host checks read from command output, parsed for its meaning: pure functions of captured text.

A check asks what the output means (which host's task failed and why, which addresses an interface holds, how many
routers a reply crossed), never whether it is worded or ordered exactly as one machine printed it: a correct machine
may add a reason, a warning, a line or reorder a list. Each reader is unit-tested on captured text
(tests/unit/checks/).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import yaml

from netconfig.interfaces import InterfacesError, StaticAddress, current_static

_TASK_BANNER = re.compile(r"^TASK \[(?P<name>.*)\] \**$")
_PLAY_BANNER = re.compile(r"^(PLAY|PLAY RECAP|RUNNING HANDLER) .*\**$")
_HOST_RESULT = re.compile(r"^(?P<status>ok|changed|fatal|failed|skipping|unreachable): \[(?P<host>[^\]]+)\]")
_FAILED_RESULT = re.compile(r"^(fatal|failed): \[(?P<host>[^\]]+)\]: FAILED! => ?(?P<inline>.*)$")
_PING_TTL = re.compile(r"\bttl=(\d+)\b")
_LOG_EVENT = re.compile(r"^\S+ \S+ netconfig: (?P<event>.*)$")
_NUMBERED = re.compile(r"^\* (?P<head>[^:(]+?) \((?P<k>\d+)/(?P<n>\d+)\): (?P<items>.*)$")


def task_results(output: str) -> dict[str, dict[str, str]]:
    """ansible-playbook's output as {task name: {host: status}} (status ok, changed, fatal...): whatever lines
    (warnings, diffs, results) come between a task's banner and its hosts' results. A task run twice (a handler,
    a second play) keeps its last results."""
    results: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in output.splitlines():
        if banner := _TASK_BANNER.match(line):
            current = results.setdefault(banner["name"], {})
        elif _PLAY_BANNER.match(line):
            current = None
        elif current is not None and (result := _HOST_RESULT.match(line)):
            current[result["host"]] = result["status"]
    return results


def task_result(output: str, task_prefix: str, host: str) -> str | None:
    """The status `host` got in the task whose name (role prefix included) starts with `task_prefix`, or None."""
    found = [hosts[host] for name, hosts in task_results(output).items()
             if name.startswith(task_prefix) and host in hosts]
    return found[-1] if found else None


def failure_messages(output: str) -> dict[str, str]:
    """{host: msg} of every failed task result in ansible-playbook's output, the result read as YAML (the yaml
    result format folds a long msg over several lines) or JSON (the default format, on one line)."""
    messages: dict[str, str] = {}
    lines = output.splitlines()
    for index, line in enumerate(lines):
        failed = _FAILED_RESULT.match(line)
        if not failed:
            continue
        block = [failed["inline"]] if failed["inline"].strip() else []
        for following in lines[index + 1:]:
            if not following.strip() or not following.startswith((" ", "\t")):
                break
            block.append(following)
        try:
            result = yaml.safe_load("\n".join(block)) if block else None
        except yaml.YAMLError:
            result = None
        if isinstance(result, dict) and isinstance(result.get("msg"), str):
            messages[failed["host"]] = " ".join(result["msg"].split())
    return messages


@dataclass(frozen=True)
class Refusal:
    """The static_ip role's refusal: the interfaces it would not change and its reasons (netconfig.guard's)."""

    interfaces: tuple[str, ...]
    reasons: tuple[str, ...]

    def names_address(self, iface: str, address: str) -> bool:
        """Whether a reason says that `iface` holds `address` (whatever that address is to the refusal: the SSH
        session's, or the one Ansible connects to)."""
        return any(reason.startswith(f"{iface} holds {address},") for reason in self.reasons)


def refusal(message: str) -> Refusal | None:
    """A ``refusing to change IFACE[, IFACE]: REASON; REASON (HINT)`` message parsed, or None if it is not one."""
    found = re.match(r"refusing to change (?P<ifaces>[^:]+): (?P<reasons>.*)$", message)
    if not found:
        return None
    interfaces = tuple(name.strip() for name in found["ifaces"].split(","))
    return Refusal(interfaces, tuple(reason.strip() for reason in found["reasons"].split(";")))


def stanza_address(interfaces_text: str, iface: str) -> ipaddress.IPv4Interface | None:
    """The address the file's ``inet static`` stanza gives `iface`, by netconfig's own parser: ``address A/P`` and
    ``address A`` + ``netmask M`` are the same address. None when there is no such stanza or it is incomplete."""
    static = stanza_static(interfaces_text, iface)
    return static.interface if static is not None else None


def stanza_gateway(interfaces_text: str, iface: str) -> ipaddress.IPv4Address | None:
    """The gateway the file's ``inet static`` stanza gives `iface` (its ``gateway`` line), by netconfig's parser."""
    static = stanza_static(interfaces_text, iface)
    return static.gateway if static is not None else None


def stanza_static(interfaces_text: str, iface: str) -> StaticAddress | None:
    """The file's ``inet static`` stanza of `iface` as netconfig reads it; None when there is none or it is
    incomplete."""
    try:
        return current_static(interfaces_text, iface)
    except InterfacesError:
        return None


def addresses(ip_addr_output: str) -> frozenset[tuple[str, ipaddress.IPv4Interface]]:
    """``ip -o -4 addr show`` as a set of (interface, address): which interface holds which address, whatever the
    order the kernel lists them in (it changes when a rollback removes and adds them again) and their lifetimes."""
    held: set[tuple[str, ipaddress.IPv4Interface]] = set()
    for line in ip_addr_output.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "inet":
            held.add((fields[1].split("@", 1)[0], ipaddress.IPv4Interface(fields[3])))
    return frozenset(held)


def routes(ip_route_output: str) -> frozenset[str]:
    """``ip -4 route show`` as a set of routes (each line with its spacing normalised), whatever their order."""
    return frozenset(" ".join(line.split()) for line in ip_route_output.splitlines() if line.strip())


def rollback_ended_with(log_text: str, iface: str, address: str, why: str | None = None) -> bool:
    """Whether the last rollback in netconfig's log put `iface` back to `address` and ended with ``rolled back``:
    its first event ``rollback (WHY): putting back IFACE ADDRESS…`` and its last ``rolled back: IFACE ADDRESS…``,
    whatever came between (an ``ifup … failed`` line, a note about the file). `why` (timer, requested…), when
    given, is the one the rollback names."""
    events = [found["event"] for line in log_text.splitlines() if (found := _LOG_EVENT.match(line))]
    starts = [index for index, event in enumerate(events) if re.match(r"rollback \([^)]*\): putting back ", event)]
    if not starts:
        return False
    episode = events[starts[-1]:]
    said = f"{iface} {address}"
    if why is not None and not episode[0].startswith(f"rollback ({why}): "):
        return False
    return (episode[0].split(": putting back ", 1)[1].startswith(said)
            and episode[-1].startswith(f"rolled back: {said}")
            and not any(event.startswith("ROLLBACK FAILED") for event in episode))


def listed(output: str, head: str) -> list[list[str]]:
    """The chat server's answers ``* HEAD: a, b`` in a session's output, in order, each as its list of items; an
    answer split over numbered lines ``* HEAD (1/3): …`` to ``(3/3)`` is one answer. ``none`` is the empty list."""
    answers: list[list[str]] = []
    pending: list[str] = []
    for line in output.splitlines():
        if line.startswith(f"* {head}: "):
            items = line[len(f"* {head}: "):]
            answers.append([] if items == "none" else items.split(", "))
        elif (part := _NUMBERED.match(line)) and part["head"] == head:
            if part["k"] == "1":
                pending = []
            pending += part["items"].split(", ")
            if part["k"] == part["n"]:
                answers.append(pending)
                pending = []
    return answers


def room_names(answer: list[str]) -> list[str]:
    """The rooms of one ``/rooms`` answer: ``#a (2)`` is room ``#a``."""
    return [item.rsplit(" (", 1)[0] for item in answer]


def routers_crossed(ping_output: str, initial_ttl: int) -> int | None:
    """How many routers the echo reply crossed: the replying host's initial TTL (its net.ipv4.ip_default_ttl)
    less the reply's ``ttl=``; None when there is no reply."""
    found = _PING_TTL.search(ping_output)
    return initial_ttl - int(found.group(1)) if found else None
