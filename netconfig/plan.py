"""The decision of a ``set``: given the interfaces file, the targets, the live state and the SSH session, what
to write, what to touch live, what to refuse, and whether the change must be confirmed.

PURE: values in (:class:`Request`, :class:`FileState`, :class:`LiveState`), a :class:`Plan` out; no I/O. The
``netconfig set`` command and the static_ip role's module gather the values (``files.read_file``,
``apply.observe``) and only translate the plan: the CLI into messages and exit statuses, the module into its
result, check mode and diff. Stdlib only (with netconfig's ``interfaces`` and ``guard``): also the role's
module_utils (``chatlab_plan``).

The rules, in the order :func:`decide` applies them:

1. Every target's interface exists on this machine, unless the request is *offline* (a file for another
   host): otherwise refused (MISSING), whatever else is asked.
2. The file gets each target's stanza (``interfaces.set_static``); a target whose stanza changes is
   *rewritten*. A change *touches* the rewritten targets and, when applying, those whose interface does not
   hold its address live yet.
3. A rewritten target that a file sourced by the interfaces file configures too is refused (CONFLICT:
   ifupdown would apply both stanzas), unless forced. A confirm does not help: the file itself is wrong.
4. A touched interface at risk (it carries the default route, holds the SSH session's address or one Ansible
   connects to: ``guard.lockout_reasons``) is refused (LOCKOUT) unless forced or the change is confirmed.
5. A dry run refuses nothing but a missing interface: it reports what would be refused.
6. An applied change is *confirmed* (rolled back by the host unless confirmed in time) when the request
   confirms every applied change (the CLI's ``--confirm``), or when an interface is at risk, the request gives
   a confirm timeout and does not force (the module's ``confirm_timeout``).
7. A confirmed change tells the caller where to reconnect: the new address of the interface that holds the
   session's (or a connected) address now, else the first protected address.

Reference: docs/netconfig.md
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

if __name__.startswith("ansible."):  # shipped as the static_ip role's module_utils (chatlab_plan)
    from ansible.module_utils.chatlab_guard import Link, lockout_reasons, ssh_local_address
    from ansible.module_utils.chatlab_interfaces import (
        StaticAddress,
        dropped_options,
        inet_stanza_count,
        mismatch,
        set_static,
    )
else:
    from netconfig.guard import Link, lockout_reasons, ssh_local_address
    from netconfig.interfaces import StaticAddress, dropped_options, inet_stanza_count, mismatch, set_static

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MISSING, CONFLICT, LOCKOUT = "missing", "conflict", "lockout"  # Objection.kind
REFUSED, FORCED, DRY_RUN, CONFIRMED = "refused", "forced", "dry run", "confirmed"  # Objection.outcome


@dataclass(frozen=True)
class Target:
    """One interface and the static configuration it is to get."""

    iface: str
    static: StaticAddress


@dataclass(frozen=True)
class Request:
    """What is asked. `confirm_seconds`: a confirmed change may be made, rolled back after that many seconds
    unless confirmed (None or 0: no confirmed change); `confirm_every_apply`: every applied change is confirmed
    (the CLI's ``--confirm``), not only one at risk (the module)."""

    targets: tuple[Target, ...]
    apply: bool = False
    force: bool = False
    offline: bool = False
    dry_run: bool = False
    confirm_seconds: int | None = None
    confirm_every_apply: bool = False
    protect_addresses: tuple[str, ...] = ()  # as the module was given them (names or addresses)


@dataclass(frozen=True)
class FileState:
    """The interfaces file: its text (None: there is none yet) and the texts of the files it sources."""

    path: Path
    text: str | None
    sourced: Mapping[Path, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveState:
    """This machine now: which target interfaces exist, every link (addresses, default routes), the SSH session
    we run in (``SSH_CONNECTION``), the addresses Ansible connects to, and for each target interface why it does
    not hold its address live (None: it does)."""

    present: frozenset[str]
    links: tuple[Link, ...] = ()
    ssh_connection: str | None = None
    connected: tuple[IPAddress, ...] = ()
    not_live: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Objection:
    """A reason not to go ahead, and what became of it (`outcome`: REFUSED, or let through as FORCED, DRY_RUN
    or CONFIRMED)."""

    kind: str  # MISSING, CONFLICT, LOCKOUT
    ifaces: tuple[str, ...]
    reasons: tuple[str, ...]
    outcome: str

    @property
    def refused(self) -> bool:
        return self.outcome == REFUSED

    def describe(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True)
class Reconnect:
    """Where a caller connected through a changed interface reaches the host once a confirmed change is live."""

    address: str
    previous: IPAddress | None  # the address it is connected to now
    where: str  # "eth1: 10.0.0.5"


@dataclass(frozen=True)
class Plan:
    """The verdict. `rewritten`: targets whose stanza changes in the file; `touched`: what the change touches
    (rewritten, and with apply the targets not live yet) - these are applied when `apply`; `objections` in the
    order found (the first refused one is `refusal`); `dropped`: (iface, option) lines the old stanzas lose."""

    request: Request
    file: FileState
    new_text: str
    rewritten: tuple[Target, ...]
    touched: tuple[Target, ...]
    objections: tuple[Objection, ...]
    confirmed: bool
    dropped: tuple[tuple[str, str], ...] = ()
    reconnect: Reconnect | None = None

    @property
    def refusal(self) -> Objection | None:
        return next((o for o in self.objections if o.refused), None)

    @property
    def old_text(self) -> str:
        return self.file.text if self.file.text is not None else ""

    @property
    def changed(self) -> bool:
        """Something would change: the file, or (when applying) a live interface."""
        return bool(self.touched) or self.new_text != self.old_text

    @property
    def writes_file(self) -> bool:
        return bool(self.rewritten)

    @property
    def applies(self) -> bool:
        """Interfaces are brought down and up (with the file, or as a confirmed change)."""
        return self.request.apply and bool(self.touched)


def missing_interface(request: Request, live: LiveState) -> str | None:
    """Rule 1 alone: the first target interface that is not on this machine (None when all are, or offline). The
    front ends ask it before they read the file: a missing interface is the first thing to say."""
    if request.offline:
        return None
    return next((t.iface for t in request.targets if t.iface not in live.present), None)


def decide(request: Request, file: FileState, live: LiveState) -> Plan:
    """The plan for `request` (see the module docstring for the rules). Raises ``InterfacesError`` for a target
    whose interface name is invalid (``set_static`` checks it)."""
    missing = missing_interface(request, live)
    if missing is not None:
        return Plan(request, file, file.text or "", (), (), (Objection(MISSING, (missing,), (
            f"there is no interface {missing} on this machine",), REFUSED),), confirmed=False)

    before = file.text if file.text is not None else ""
    after = before
    for t in request.targets:
        after = set_static(after, t.iface, t.static)
    rewritten = tuple(t for t in request.targets if mismatch(before, t.iface, t.static) is not None)
    touched = tuple(t for t in request.targets if t in rewritten
                    or (request.apply and live.not_live.get(t.iface) is not None))

    objections = [_conflict(file, t, request) for t in rewritten if _sourced_conflicts(file, t.iface)]
    risks = [r for t in touched for r in lockout_reasons(t.iface, live.links, live.ssh_connection, live.connected)]
    may_confirm = request.apply and bool(touched) and bool(request.confirm_seconds)
    confirmed = may_confirm and (request.confirm_every_apply or (bool(risks) and not request.force))
    if risks:
        outcome = (FORCED if request.force else DRY_RUN if request.dry_run else CONFIRMED if confirmed
                   else REFUSED)
        objections.append(Objection(LOCKOUT, tuple(t.iface for t in touched), tuple(risks), outcome))
    dropped = tuple((t.iface, option) for t in rewritten for option in dropped_options(before, t.iface))
    return Plan(request, file, after, rewritten, touched, tuple(objections), confirmed, dropped,
                _reconnect(request, live, touched) if confirmed else None)


def _sourced_conflicts(file: FileState, iface: str) -> list[Path]:
    return [path for path, text in file.sourced.items() if inet_stanza_count(text, iface)]


def _conflict(file: FileState, target: Target, request: Request) -> Objection:
    conflicts = ", ".join(map(str, _sourced_conflicts(file, target.iface)))
    reason = (f"{conflicts} (sourced by {file.path}) also configures {target.iface} inet and ifupdown would apply "
              "both: fix that file first")
    return Objection(CONFLICT, (target.iface,), (reason,),
                     FORCED if request.force else DRY_RUN if request.dry_run else REFUSED)


def _reconnect(request: Request, live: LiveState, touched: Sequence[Target]) -> Reconnect:
    local = ssh_local_address(live.ssh_connection)
    previous = next((a for a in [local, *live.connected] if a is not None), None)
    moved = next((t for t in touched for link in live.links
                  if link.name == t.iface and previous is not None and link.holds(previous)), None)
    if moved is not None:
        return Reconnect(str(moved.static.address), previous, f"{moved.iface}: {moved.static.address}")
    address = (request.protect_addresses or (str(previous),))[0]
    return Reconnect(address, previous, f"{', '.join(t.iface for t in touched)}: {address}")
