"""Applying a change of the interfaces file with ifupdown: verified, rolled back on failure, and optionally
*confirmed*: rolled back by the host itself unless someone confirms it in time.

Stdlib only at run time (with netconfig's ``files`` and ``interfaces``): the static_ip role ships this file as
Ansible module_utils (``chatlab_apply``), so the ``netconfig`` command and the role's module apply, verify and
roll back with this one implementation.

**The file on disk stays the previous one until the change is committed.** The new text is applied from a
pending copy next to it; only success (or, for a confirmed change, ``confirm``) writes it to the interfaces
file. So a host that reboots before a change is confirmed comes back with its previous configuration: nothing
at boot has to undo anything.

The sequence (:func:`apply_change`, :func:`start_confirmed`):

1. per interface, a snapshot: its IPv4 addresses, its routes, whether ifupdown has it up;
2. the new text is written to ``.NAME.netconfig.pending`` next to the file, the current text to the backup
   ``.NAME.netconfig.bak``; a rollback script (POSIX sh, see :func:`rollback_script`) to the state directory;
3. a confirmed change arms the rollback now, before anything changes: a transient systemd timer
   (``systemd-run --on-active``) where systemd runs the host, a detached ``sleep; sh rollback`` process elsewhere;
4. per interface: ``ifdown`` (with the file, which is still the previous one) when ifupdown has it up,
   ``ip -4 addr flush``, ``ifup -i PENDING``, then a check that the addresses and routes are really there;
5. on failure the rollback script runs at once; on success an unconfirmed change is committed (the file is
   written from the pending copy, atomically, with the backup), a confirmed one waits for :func:`confirm`.

The rollback script puts back what the snapshot saw: ``ifdown --force -i PENDING``, flush, ``ifup`` with the
previous file, then any address or route of before that is still missing. It never writes the interfaces file:
if someone changed the file meanwhile it says so and leaves it alone (the previous configuration then comes
from the backup). :func:`confirm` refuses to overwrite a file changed meanwhile in the same way.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __name__.startswith("ansible."):  # shipped as the static_ip role's module_utils: links to netconfig's files
    from ansible.module_utils.chatlab_files import atomic_write, backup_path, read_text, target, write_with_backup
    from ansible.module_utils.chatlab_interfaces import StaticAddress, parse_static_address
    from ansible.module_utils.chatlab_plan import LiveState, Target
    from ansible.module_utils.chatlab_session import ssh_connection
else:
    from netconfig.files import atomic_write, backup_path, read_text, target, write_with_backup
    from netconfig.interfaces import StaticAddress, parse_static_address
    from netconfig.plan import LiveState, Target
    from netconfig.session import ssh_connection

DEFAULT_INTERFACES = Path("/etc/network/interfaces")
SYS_CLASS_NET = Path("/sys/class/net")
IFUPDOWN_STATE_DIR = Path("/run/network")  # ifupdown's own; tmpfs: gone at reboot, like an armed rollback
STATE_SUBDIR = "netconfig"  # netconfig's confirm state lives in IFUPDOWN_STATE_DIR/netconfig (or --state-dir's)
COMMAND_TIMEOUT = 60.0
VERIFY_SECONDS = 1.0
MIN_CONFIRM_SECONDS = 5
MAX_CONFIRM_SECONDS = 86400
UNIT_PREFIX = "netconfig-rollback"
DETACHED_NAME = "netconfig-rollback"  # $0 of the detached sleeper: how disarming recognises its process
ARMED, ROLLING_BACK, CHANGE, SCRIPT, LOG = "armed", "rolling-back", "change.json", "rollback.sh", "netconfig.log"

Log = Callable[[str], None]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ApplyError(RuntimeError):
    """Applying failed, or a rollback did. `rolled_back` tells whether the previous addresses are back."""

    def __init__(self, message: str, rolled_back: bool) -> None:
        super().__init__(message)
        self.rolled_back = rolled_back


class ConfirmError(RuntimeError):
    """A confirmed change cannot be armed, confirmed or rolled back (nothing was changed); one clear line."""


def preflight(action: str = "--apply") -> str | None:
    """Why applying cannot run here (not root, ifupdown or ip missing), or None. `action` names it in the
    message: the CLI's ``--apply``, the module's ``applying``."""
    if os.geteuid() != 0:
        return f"{action} needs root (ifup/ifdown change the live interface)"
    for tool, package in (("ifup", "ifupdown"), ("ifdown", "ifupdown"), ("ip", "iproute2")):
        if shutil.which(tool) is None:
            return f"{action} needs {tool}, which is not installed (apt-get install {package})"
    return None


def clock(epoch: float) -> str:
    """``HH:MM:SS`` in this host's local time."""
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def timestamp() -> str:
    """Now, for the log: ``2026-12-01 08:02:38.123``."""
    return datetime.datetime.now().isoformat(sep=" ", timespec="milliseconds")


# --------------------------------------------------------------------------------------------------
# The live state, from iproute2 (`ip -j`): no netifaces, so it runs as module_utils too


def _ip_json(*args: str) -> list[dict[str, Any]]:
    try:
        result = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                                check=False)
        data = json.loads(result.stdout or "[]") if result.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return []
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def ipv4_addresses(iface: str) -> set[ipaddress.IPv4Interface]:
    """The IPv4 addresses (with prefix) `iface` holds; empty when it has none or does not exist."""
    return {ipaddress.IPv4Interface(f"{info['local']}/{info['prefixlen']}")
            for link in _ip_json("-4", "addr", "show", "dev", iface)
            for info in link.get("addr_info", []) if info.get("family") == "inet" and "local" in info}


@dataclass(frozen=True)
class LiveRoute:
    """One IPv4 route of the main table through an interface, as `ip -j route` shows it."""

    dst: str  # "default", "192.168.57.0/24", "10.0.0.1"
    gateway: str | None = None
    protocol: str | None = None
    scope: str | None = None
    prefsrc: str | None = None
    metric: int | None = None
    onlink: bool = False

    def add_argv(self, iface: str) -> list[str]:
        """The `ip route add` that puts this route back on `iface` (it fails, harmlessly, when it is there)."""
        argv = ["ip", "route", "add", self.dst]
        if self.gateway:
            argv += ["via", self.gateway]
        argv += ["dev", iface]
        for key, value in (("proto", self.protocol), ("scope", self.scope), ("src", self.prefsrc),
                           ("metric", self.metric)):
            if value is not None:
                argv += [key, str(value)]
        return [*argv, "onlink"] if self.onlink else argv


def interface_routes(iface: str) -> list[LiveRoute]:
    """The IPv4 routes of the main table through `iface`."""
    return [LiveRoute(str(r["dst"]), r.get("gateway"), r.get("protocol"), r.get("scope"), r.get("prefsrc"),
                      r.get("metric"), "onlink" in r.get("flags", []))
            for r in _ip_json("-4", "route", "show", "table", "main", "dev", iface) if "dst" in r]


@dataclass(frozen=True)
class LinkState:
    """What the lock-out guard needs to know of one interface (see netconfig.guard)."""

    name: str
    addresses: tuple[IPAddress, ...]
    default_route: tuple[str, ...]  # "ipv4", "ipv6": the families whose default route it carries

    def holds(self, address: IPAddress) -> bool:
        return address in self.addresses


def link_states() -> list[LinkState]:
    """Every interface with its addresses (IPv4 and IPv6) and the default routes it carries."""
    defaults: dict[str, list[str]] = {}
    for family, flag in (("ipv4", "-4"), ("ipv6", "-6")):
        for route in _ip_json(flag, "route", "show", "default"):
            dev = route.get("dev")
            if dev and dev != "lo" and route.get("type", "unicast") == "unicast":
                defaults.setdefault(dev, []).append(family)
    states = []
    for link in _ip_json("addr", "show"):
        name = str(link.get("ifname", "")).split("@")[0]
        addresses: list[IPAddress] = []
        for info in link.get("addr_info", []):
            with contextlib.suppress(KeyError, ValueError):
                addresses.append(ipaddress.ip_address(str(info["local"]).split("%")[0]))
        states.append(LinkState(name, tuple(addresses), tuple(dict.fromkeys(defaults.get(name, [])))))
    return states


def interface_exists(name: str) -> bool:
    """Whether this network namespace has an interface `name`."""
    return "/" not in name and name not in {"", ".", ".."} and (SYS_CLASS_NET / name).exists()


def observe(targets: Sequence[Target], connected: Sequence[IPAddress] = ()) -> LiveState:
    """The live state netconfig.plan.decide needs for `targets` (`connected`: the addresses Ansible connects to)."""
    return LiveState(present=frozenset(t.iface for t in targets if interface_exists(t.iface)),
                     links=tuple(link_states()), ssh_connection=ssh_connection(), connected=tuple(connected),
                     not_live={t.iface: verify(t.iface, t.static, seconds=0) for t in targets})


def verify(iface: str, static: StaticAddress, seconds: float = VERIFY_SECONDS) -> str | None:
    """Why `iface` does not (yet) hold `static` (address, default route via the gateway, static routes), or
    None once it does (waits up to `seconds`)."""
    deadline = time.monotonic() + seconds
    while True:
        problem = _live_mismatch(iface, static)
        if problem is None or time.monotonic() >= deadline:
            return problem
        time.sleep(0.1)


def _live_mismatch(iface: str, static: StaticAddress) -> str | None:
    held = ipv4_addresses(iface)
    if static.interface not in held:
        shown = ", ".join(sorted(a.with_prefixlen for a in held)) or "no IPv4 address"
        return f"{iface} does not hold {static.cidr} (it has {shown})"
    routes = interface_routes(iface)
    if static.gateway is not None and not any(r.dst == "default" and r.gateway == str(static.gateway)
                                              for r in routes):
        return f"no default route via {static.gateway} on {iface}"
    for wanted in static.routes:
        if not any(r.dst == str(wanted.network) and r.gateway == str(wanted.via) for r in routes):
            return f"no route to {wanted.describe()} on {iface}"
    return None


# --------------------------------------------------------------------------------------------------
# ifupdown


@dataclass(frozen=True)
class Ifupdown:
    """How to call ifupdown: the interfaces file (None: its default) and its state directory."""

    interfaces_file: Path | None = None
    state_dir: Path | None = None
    log: Log = print

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        self.log("  $ " + " ".join(argv))
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                                    check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            return subprocess.CompletedProcess(argv, 127, "", str(e))
        for line in (result.stdout + result.stderr).splitlines():
            if line.strip():
                self.log(f"    {line}")
        return result

    def argv(self, tool: str, iface: str, file: Path | None, *extra: str) -> list[str]:
        argv = [tool, *extra]
        chosen = file if file is not None else self.interfaces_file
        if chosen is not None and chosen != DEFAULT_INTERFACES:
            argv += ["-i", str(chosen)]
        if self.state_dir is not None:
            argv += ["--state-dir", str(self.state_dir)]
        return [*argv, iface]

    def ifup(self, iface: str, file: Path | None = None) -> subprocess.CompletedProcess[str]:
        return self._run(self.argv("ifup", iface, file))

    def ifdown(self, iface: str, file: Path | None = None) -> None:
        self._run(self.argv("ifdown", iface, file))

    def is_up(self, iface: str) -> bool:
        """Whether ifupdown has `iface` in its state (brought up by ifup)."""
        argv = ["ifquery", "--state", *(["--state-dir", str(self.state_dir)] if self.state_dir else []), iface]
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                                    check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return result.returncode == 0 and bool(result.stdout.strip())

    def flush(self, iface: str) -> None:
        self._run(["ip", "-4", "addr", "flush", "dev", iface])

    @property
    def confirm_dir(self) -> Path:
        """Where netconfig keeps an armed change: ifupdown's state directory's ``netconfig``."""
        return (self.state_dir or IFUPDOWN_STATE_DIR) / STATE_SUBDIR


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    """The most telling output line: the last one but ifupdown's own "failed to bring up" summary."""
    lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    telling = [line for line in lines if not re.match(r"if(up|down): failed to bring (up|down) ", line)]
    return (telling or lines or [f"exit status {result.returncode}"])[-1]


# --------------------------------------------------------------------------------------------------
# A change, its snapshot and its rollback script


def pending_path(path: Path) -> Path:
    """Where the new text of a change of `path` waits: ``.NAME.netconfig.pending`` next to the file."""
    real = target(path)
    return real.with_name(f".{real.name}.netconfig.pending")


@dataclass(frozen=True)
class Change:
    """The interfaces file goes from `old_text` (None: no file) to `new_text`; `targets` are applied live."""

    path: Path
    old_text: str | None
    new_text: str
    targets: tuple[Target, ...]

    @property
    def pending(self) -> Path:
        return pending_path(self.path)

    def describe(self) -> str:
        return "; ".join(f"{t.iface} {t.static.describe()}" for t in self.targets)


@dataclass(frozen=True)
class Before:
    """One interface as it was before the change."""

    iface: str
    was_up: bool
    addresses: tuple[str, ...]  # with prefix, sorted
    routes: tuple[LiveRoute, ...]  # but the kernel's own (they come back with the addresses)

    def describe(self) -> str:
        return f"{self.iface} {', '.join(self.addresses) or 'no IPv4 address'}"


def snapshot(iface: str, tools: Ifupdown) -> Before:
    return Before(iface, tools.is_up(iface), tuple(sorted(a.with_prefixlen for a in ipv4_addresses(iface))),
                  tuple(r for r in interface_routes(iface) if r.protocol != "kernel"))


def rollback_script(change: Change, befores: Sequence[Before], tools: Ifupdown) -> str:
    """The POSIX sh script that puts the interfaces back as `befores` saw them (see the module docstring).

    Its first argument says why it runs (timer, requested, apply failed). It runs at most once: it starts by
    renaming the state's ``armed`` mark, as ``confirm`` does, so the first of the two wins."""
    q = shlex.quote
    path, pending, backup = change.path, change.pending, backup_path(change.path)
    previous = "; ".join(b.describe() for b in befores)

    def log(text: str) -> str:  # every text from outside (paths, names) quoted for the shell
        return f"log {q(text)}"

    lines = [
        "#!/bin/sh",
        "# Written by netconfig: puts back " + previous.replace("\n", " ") + ".",
        "set -u",
        f"dir={q(str(tools.confirm_dir))}",
        'why="${1:-requested}"',
        'log() { printf "netconfig: %s\\n" "$*"; '
        'printf "%s netconfig: %s\\n" "$(date "+%Y-%m-%d %H:%M:%S.%3N")" "$*" >>"$dir/' + LOG + '"; }',
        f'mv "$dir/{ARMED}" "$dir/{ROLLING_BACK}" 2>/dev/null || '
        f'{{ {log("rollback: nothing to roll back (confirmed or rolled back already)")}; exit 0; }}',
        f'log "rollback ($why):" {q("putting back " + previous)}',
    ]
    if change.old_text is not None:
        lines += [f"previous={q(str(path))}",
                  f"if ! cmp -s {q(str(path))} {q(str(backup))}; then",
                  f"  previous={q(str(backup))}",
                  "  " + log(f"rollback: {path} was changed since the change was applied: not touching it (the "
                             f"previous configuration comes from {backup})"),
                  "fi"]
    else:
        lines += [f"[ -e {q(str(path))} ] && "
                  + log(f"rollback: {path} was created since the change was applied: not touching it")]
    checks = []
    for before in befores:
        iface = before.iface
        lines.append(" ".join(map(q, tools.argv("ifdown", iface, pending, "--force"))) + " >/dev/null 2>&1")
        lines.append(" ".join(map(q, ["ip", "-4", "addr", "flush", "dev", iface])))
        if before.was_up and change.old_text is not None:
            words = [q(w) for w in tools.argv("ifup", iface, Path("PREVIOUS"))]  # the file or the backup:
            words[words.index("PREVIOUS")] = '"$previous"'  # decided when the script runs
            lines.append(" ".join(words) + " || " + log(f"rollback: ifup {iface} with the previous file failed"))
        for address in before.addresses:
            lines.append(" ".join(map(q, ["ip", "addr", "add", address, "dev", iface])) + " 2>/dev/null")
        for route in before.routes:
            lines.append(" ".join(map(q, route.add_argv(iface))) + " 2>/dev/null")
        for address in before.addresses:
            ip = address.split("/")[0]
            checks.append(f'[ -n "$(ip -o -4 addr show dev {q(iface)} to {q(ip + "/32")})" ] || '
                          f'missing="$missing "{q(f"{iface}:{address}")}')
    lines += [f"rm -f {q(str(pending))}", 'missing=""', *checks,
              f'rm -f "$dir/{ROLLING_BACK}" "$dir/{CHANGE}"',
              'if [ -n "$missing" ]; then log "ROLLBACK FAILED: missing$missing"; exit 1; fi',
              log(f"rolled back: {previous}")]
    return "\n".join(lines) + "\n"


def _prepare(change: Change, tools: Ifupdown) -> list[Before]:
    """Steps 1 and 2: the snapshot, the pending copy, the backup, the rollback script. Nothing live yet.

    Refuses (ConfirmError) while another change waits for confirmation: its pending copy and script are in use."""
    waiting = armed_state(tools)
    if waiting is not None:
        raise ConfirmError(f"a change is waiting for confirmation ({waiting.get('summary')}, rolls back at "
                           f"{clock(float(waiting.get('deadline', 0)))}): 'netconfig confirm' or 'netconfig rollback' "
                           "first")
    befores = [snapshot(t.iface, tools) for t in change.targets]
    atomic_write(change.pending, change.new_text, like=target(change.path) if change.old_text is not None else None)
    if change.old_text is not None:
        atomic_write(backup_path(change.path), change.old_text, like=target(change.path))
    directory = tools.confirm_dir
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileNotFoundError):
        (directory / ROLLING_BACK).unlink()
    atomic_write(directory / SCRIPT, rollback_script(change, befores, tools))
    return befores


def _apply_live(change: Change, befores: Sequence[Before], tools: Ifupdown) -> str | None:
    """Step 4 for every target; the first failure, or None."""
    for t, before in zip(change.targets, befores, strict=True):
        if before.was_up:
            tools.ifdown(t.iface)  # with the file, which is still the previous one
        tools.flush(t.iface)
        result = tools.ifup(t.iface, file=change.pending)
        if result.returncode != 0:
            return f"ifup {t.iface} failed: {_last_line(result)}"
        problem = verify(t.iface, t.static)
        if problem is not None:
            return problem
        tools.log(f"applied: {t.iface} holds {t.static.describe()}")
    return None


def _run_script(tools: Ifupdown, why: str) -> subprocess.CompletedProcess[str]:
    return tools._run(["/bin/sh", str(tools.confirm_dir / SCRIPT), why])


def _rollback_failure(result: subprocess.CompletedProcess[str]) -> str:
    """What a failed run of the rollback script says: its own ``ROLLBACK FAILED: missing ...`` line."""
    line = _last_line(result).removeprefix("netconfig: ")
    return line if line.startswith("ROLLBACK FAILED") else f"ROLLBACK FAILED: {line}"


def _roll_back_now(change: Change, befores: Sequence[Before], tools: Ifupdown, failure: str) -> ApplyError:
    tools.log(f"apply failed: {failure}; rolling back")
    _mark(tools.confirm_dir, {"path": str(change.path)})
    result = _run_script(tools, "apply failed")
    if result.returncode != 0:
        return ApplyError(f"apply failed: {failure}; {_rollback_failure(result)}", rolled_back=False)
    back = "; ".join(b.describe() for b in befores)
    return ApplyError(f"apply failed: {failure}; rolled back: {change.path} left as it was and the previous "
                      f"configuration re-applied ({back})", rolled_back=True)


def _mark(directory: Path, state: dict[str, Any]) -> None:
    atomic_write(directory / CHANGE, json.dumps(state, indent=2) + "\n")
    atomic_write(directory / ARMED, f"{os.getpid()}\n")


def _commit(change: Change) -> Path | None:
    """Write the file from the change (atomically, the backup beside it); the pending copy goes."""
    backup = write_with_backup(change.path, change.new_text, change.old_text)
    with contextlib.suppress(FileNotFoundError):
        change.pending.unlink()
    return backup


def apply_change(change: Change, tools: Ifupdown) -> Path | None:
    """Apply, verify, commit; roll back at once on failure (raises ApplyError). Returns the backup path."""
    befores = _prepare(change, tools)
    failure = _apply_live(change, befores, tools)
    if failure is not None:
        raise _roll_back_now(change, befores, tools, failure)
    return _commit(change)


# --------------------------------------------------------------------------------------------------
# Confirmed changes


@dataclass(frozen=True)
class Armed:
    """An armed rollback: when it fires and what fires it (a systemd unit or a detached process)."""

    deadline: float  # epoch seconds
    unit: str | None
    pid: int | None

    @property
    def at(self) -> str:
        return clock(self.deadline)


def systemd_runs_this_host() -> bool:
    """sd_booted(): systemd is PID 1 (and systemd-run is there to ask it)."""
    return Path("/run/systemd/system").is_dir() and shutil.which("systemd-run") is not None


def unit_name(tools: Ifupdown) -> str:
    """``netconfig-rollback``; with another state directory than ifupdown's own, a name of its own."""
    if tools.confirm_dir == IFUPDOWN_STATE_DIR / STATE_SUBDIR:
        return UNIT_PREFIX
    return f"{UNIT_PREFIX}-{hashlib.sha256(str(tools.confirm_dir).encode()).hexdigest()[:8]}"


def armed_state(tools: Ifupdown) -> dict[str, Any] | None:
    """The armed change (what _mark wrote), or None when nothing waits for confirmation."""
    directory = tools.confirm_dir
    if not (directory / ARMED).exists():
        return None
    try:
        state = json.loads((directory / CHANGE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _arm(seconds: int, tools: Ifupdown, description: str) -> Armed:
    script = tools.confirm_dir / SCRIPT
    deadline = time.time() + seconds
    if systemd_runs_this_host():
        unit = unit_name(tools)
        _stop_unit(unit)
        result = subprocess.run(
            ["systemd-run", "--quiet", f"--unit={unit}", f"--on-active={seconds}s",
             "--timer-property=AccuracySec=1s", f"--description=netconfig: {description}",
             "/bin/sh", str(script), "timer"],
            capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
        if result.returncode != 0:
            raise ConfirmError(f"cannot arm the rollback timer (nothing changed): systemd-run: {_last_line(result)}")
        _logged(tools, f"armed: {unit}.timer rolls back at {clock(deadline)} unless confirmed")
        return Armed(deadline, unit, None)
    # its lines go to the log by the script's own log(); ifupdown's output is not kept
    process = subprocess.Popen(["/bin/sh", "-c", 'sleep "$1"; exec /bin/sh "$2" timer', DETACHED_NAME,
                                str(seconds), str(script)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True, close_fds=True)
    _logged(tools, f"armed: process {process.pid} rolls back at {clock(deadline)} unless confirmed")
    return Armed(deadline, None, process.pid)


def _logged(tools: Ifupdown, line: str) -> None:
    tools.log(line)
    _append_log(tools, line)


def _stop_unit(unit: str) -> None:
    for action in ("stop", "reset-failed"):
        subprocess.run(["systemctl", action, f"{unit}.timer", f"{unit}.service"], capture_output=True,
                       timeout=COMMAND_TIMEOUT, check=False)


def _disarm(unit: object, pid: object, tools: Ifupdown) -> None:
    """Stop the armed rollback: its systemd `unit`, or its detached process `pid` (an Armed's fields, or what
    change.json says of them)."""
    if unit:
        _stop_unit(str(unit))
        return
    if not isinstance(pid, int):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return
    if DETACHED_NAME.encode() in cmdline and str(tools.confirm_dir / SCRIPT).encode() in cmdline:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)


def _arm_change(change: Change, seconds: int, tools: Ifupdown) -> tuple[list[Before], Armed]:
    if not MIN_CONFIRM_SECONDS <= seconds <= MAX_CONFIRM_SECONDS:
        raise ConfirmError(f"the confirm timeout must be {MIN_CONFIRM_SECONDS}-{MAX_CONFIRM_SECONDS} s, not {seconds}")
    befores = _prepare(change, tools)
    armed = _arm(seconds, tools, f"roll back {change.describe()} unless confirmed")
    _mark(tools.confirm_dir, {
        "path": str(change.path), "summary": change.describe(), "previous": "; ".join(b.describe() for b in befores),
        "old_sha256": _sha256(change.old_text), "new_sha256": _sha256(change.new_text),
        "targets": [{"iface": t.iface, "address": t.static.cidr,
                     "gateway": str(t.static.gateway) if t.static.gateway else None,
                     "routes": [r.describe() for r in t.static.routes]} for t in change.targets],
        "deadline": armed.deadline, "unit": armed.unit, "pid": armed.pid})
    return befores, armed


def apply_confirmed(change: Change, seconds: int, tools: Ifupdown) -> Armed:
    """Arm the rollback, then apply and verify (rolls back at once on failure: ApplyError). The file is
    written by :func:`confirm`; unless that comes within `seconds`, the host rolls back by itself."""
    befores, armed = _arm_change(change, seconds, tools)
    error = _apply_or_roll_back(change, befores, armed, tools)
    if error is not None:
        raise error
    return armed


def start_confirmed(change: Change, seconds: int, tools: Ifupdown, delay: float) -> Armed:
    """Like :func:`apply_confirmed`, but the apply runs `delay` seconds later in a detached process, and this
    returns at once: for a caller (Ansible) whose connection goes through an interface the change moves."""
    befores, armed = _arm_change(change, seconds, tools)

    def work() -> None:
        quiet = Ifupdown(tools.interfaces_file, tools.state_dir, lambda line: _append_log(tools, line))
        error = _apply_or_roll_back(change, befores, armed, quiet)
        if error is not None:
            quiet.log(str(error))

    _run_detached(work, delay, tools.confirm_dir / LOG)
    return armed


def _apply_or_roll_back(change: Change, befores: Sequence[Before], armed: Armed, tools: Ifupdown) -> ApplyError | None:
    """Step 4 of a confirmed change; on failure, disarm the timer and roll back at once: the ApplyError to report."""
    failure = _apply_live(change, befores, tools)
    if failure is None:
        return None
    _disarm(armed.unit, armed.pid, tools)
    return _roll_back_now(change, befores, tools, failure)


def _run_detached(work: Callable[[], None], delay: float, log_path: Path) -> None:
    """Run `work` after `delay` seconds in a grandchild in its own session, holding none of our file
    descriptors (so an SSH session that started us can end)."""
    child = os.fork()
    if child:
        os.waitpid(child, 0)
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        null = os.open(os.devnull, os.O_RDWR)
        log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        for fd in (0, 1, 2):
            os.dup2(null if fd == 0 else log, fd)
        os.closerange(3, 65536)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        time.sleep(delay)
        work()
    finally:
        os._exit(0)


def _sha256(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _file_changed(state: dict[str, Any]) -> bool:
    """Whether the interfaces file differs from what it was when the change was applied."""
    return _sha256(read_text(Path(str(state["path"])))) != state.get("old_sha256")


def confirm(tools: Ifupdown, ifaces: Sequence[str] = ()) -> str:
    """Commit the armed change: write the file, disarm the rollback. Raises ConfirmError (nothing armed, another
    interface, the file was changed meanwhile, the change is not live)."""
    directory = tools.confirm_dir
    state = _waiting(tools, ifaces, "confirm")
    try:
        os.rename(directory / ARMED, directory / "confirming")
    except FileNotFoundError:
        raise ConfirmError("nothing to confirm: the change was rolled back meanwhile" + _last_log(tools)) from None
    path = Path(str(state["path"]))

    def refuse(why: str) -> ConfirmError:
        os.rename(directory / "confirming", directory / ARMED)
        return ConfirmError(f"refusing to confirm: {why}; the rollback stays armed (at "
                            f"{clock(float(state['deadline']))}): 'netconfig rollback' to roll back now")

    if _file_changed(state):
        raise refuse(f"{path} was changed since the change was applied: not overwriting it")
    pending = pending_path(path)
    new_text = read_text(pending)
    if new_text is None or _sha256(new_text) != state.get("new_sha256"):
        raise refuse(f"the pending copy {pending} is missing or was changed")
    problems = [p for p in (verify(t["iface"], parse_static_address(t["address"], gateway=t.get("gateway"),
                                                                     routes=t.get("routes", [])), seconds=0)
                            for t in state.get("targets", [])) if p]
    if problems:
        raise refuse(f"the change is not live ({'; '.join(problems)})")
    change = Change(path, read_text(path), new_text, ())
    _commit(change)
    _disarm(state.get("unit"), state.get("pid"), tools)
    for name in ("confirming", CHANGE):
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()
    message = f"confirmed: {state.get('summary')}; wrote {path}"
    _append_log(tools, message)
    return message


def rollback(tools: Ifupdown, ifaces: Sequence[str] = ()) -> str:
    """Run the armed change's rollback now. Raises ConfirmError (nothing armed) or ApplyError (the rollback
    failed: `rolled_back` is False)."""
    state = _waiting(tools, ifaces, "roll back")
    _disarm(state.get("unit"), state.get("pid"), tools)
    result = _run_script(tools, "requested")
    if result.returncode != 0:
        raise ApplyError(_rollback_failure(result), rolled_back=False)
    return f"rolled back: {state.get('previous')}"


def _waiting(tools: Ifupdown, ifaces: Sequence[str], what: str) -> dict[str, Any]:
    state = armed_state(tools)
    if state is None:
        raise ConfirmError(f"nothing to {what}: no change is waiting for confirmation" + _last_log(tools))
    unknown = [i for i in ifaces if i not in [t.get("iface") for t in state.get("targets", [])]]
    if unknown:
        raise ConfirmError(f"nothing to {what} for {', '.join(unknown)}: the change waiting for confirmation "
                           f"is {state.get('summary')}")
    return state


def _append_log(tools: Ifupdown, line: str) -> None:
    with contextlib.suppress(OSError), open(tools.confirm_dir / LOG, "a") as f:
        f.write(f"{timestamp()} netconfig: {line}\n")


def _last_log(tools: Ifupdown) -> str:
    """`` (last: LINE)`` from the log, or nothing."""
    try:
        lines = [line for line in (tools.confirm_dir / LOG).read_text().splitlines() if line.strip()]
    except OSError:
        return ""
    return f" (last: {lines[-1]})" if lines else ""
