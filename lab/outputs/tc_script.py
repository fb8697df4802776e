"""Link conditions rendered to what each host runs: one `tc -batch` for all of its interfaces, after a shell
prelude only where one is needed (pure: text out, no I/O).

Where they go, so that the meaning of lab/conditions.py holds on every provider (docs/conditions.md):
- A network's conditions go on the egress of every host interface attached to it, inside the host (the container's
  network namespace, the VM's guest kernel): every packet crossing a network leaves exactly one interface on it,
  its sender's or a router's, so it meets them once, whichever way it goes.
- A host's own conditions on a network go on that interface both ways: on its egress (added to the network's) and
  on what it receives: for a container on the egress of the machine-side end of its veth (what leaves that end
  enters the container), in a VM through an ifb device that the interface's ingress is redirected to.
- With netem (`sch_netem`, Debian's kernel has it): one netem qdisc per direction does every key. Without it (this
  machine's kernel): `loss` is an iptables `statistic` rule, `rate` a `tbf` qdisc, and the netem-only keys are
  refused before anything is applied (see `refusal`). The network's loss is then dropped where each crossing
  enters its receiver (mangle PREROUTING): a drop on the way out would show the sender an error, not a loss.

Every script sets all of a host's shaped interfaces at once: a qdisc is replaced (never deleted and added: no
moment unshaped), one the lab no longer wants is replaced by a plain one and deleted (back to the kernel's
default, whether the lab had set one or not), so the same script does a set and a reset whatever was there. It is
one process in the host (`tc -batch -`, the lines on its stdin); a shell runs first only for what tc cannot do
(an ifb device for a VM host's own conditions on what it receives, iptables rules without netem). On a failure the
caller runs `clearing` (lab.ops.tc): conditions are never half applied.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from lab.conditions import ConditionError, Conditions, Port, Shaping, either

OUT_CHAIN = "LABTC_OUT"  # mangle POSTROUTING: what a host sends (and a router forwards) out of an interface
IN_CHAIN = "LABTC_IN"  # mangle PREROUTING: what a host receives on an interface
# A replace of a netem qdisc by netem changes it, and the kernel keeps these unless they are given (seen in the
# VMs' Debian kernel: `rate` set once stayed after a replace without it): always given, 0 when none (so is rate).
NETEM_KEPT_ON_CHANGE = ("corrupt", "reorder")
NETEM_LIMIT = 100_000  # packets netem may hold: its default 1,000 drops packets at delay x a LAN's packet rate
TBF_LATENCY_MS = 200  # how long tbf lets a packet wait before dropping it (its queue: rate x this)
TBF_MIN_BURST = 3200  # bytes: two full frames at least
TBF_BURST_SECONDS = 0.01  # ... or 10 ms worth of the rate
PLAIN_QDISC = ["pfifo"]  # what a root qdisc is replaced by before its delete (any qdisc the kernel has)

def refusal(conditions: Iterable[tuple[str, Conditions]]) -> ConditionError | None:
    """Without netem: the first (key path, conditions) that uses a netem-only key, as the one-line refusal."""
    for path, given in conditions:
        keys = given.netem_only()
        if keys:
            return ConditionError(
                f"{path}.{keys[0]}" if path else keys[0],
                f"{', '.join(keys)} need{'s' if len(keys) == 1 else ''} netem, which this kernel lacks (no sch_netem:"
                f" here loss and rate work, by iptables and tbf); LAB_PROVIDER=libvirt gives them (the VMs' kernel"
                f" has netem)")
    return None


def netem_args(conditions: Conditions) -> list[str]:
    """`netem ...` arguments for every key in force (tc's units: ms, %, kbit)."""
    args = ["netem", "limit", str(NETEM_LIMIT)]
    if conditions.delay:
        args += ["delay", f"{conditions.delay:g}ms"]
        if conditions.jitter:
            args.append(f"{conditions.jitter:g}ms")
    for key in ("loss", "corrupt", "duplicate", "reorder"):
        value = getattr(conditions, key)
        if value or key in NETEM_KEPT_ON_CHANGE:
            args += [key, f"{value:g}%"]
    args += ["rate", f"{conditions.rate:g}kbit"]
    return args


def tbf_args(rate_kbit: float) -> list[str]:
    burst = max(TBF_MIN_BURST, int(rate_kbit * 1000 / 8 * TBF_BURST_SECONDS))
    return ["tbf", "rate", f"{rate_kbit:g}kbit", "burst", str(burst), "latency", f"{TBF_LATENCY_MS}ms"]


def _root_lines(device: str, conditions: Conditions, netem: bool) -> list[str]:
    """tc batch lines that leave `device`'s root qdisc as the conditions say (the kernel's default when none)."""
    if conditions and netem:
        return [_line("qdisc", "replace", "dev", device, "root", *netem_args(conditions))]
    if conditions.rate and not netem:
        return [_line("qdisc", "replace", "dev", device, "root", *tbf_args(conditions.rate))]
    return _back_to_default(device, "root", PLAIN_QDISC)


def _back_to_default(device: str, parent: str, qdisc: list[str]) -> list[str]:
    """Replacing first makes the delete succeed whether or not the lab had set one (tc's batch stops at an error)."""
    handle = ["handle", "ffff:"] if parent == "ingress" else []
    return [_line("qdisc", "replace", "dev", device, *handle, parent, *qdisc), _line("qdisc", "del", "dev", device,
                                                                                    parent)]


def _line(*words: str) -> str:
    return " ".join(shlex.quote(word) for word in words)


def _drop_rule(chain: str, direction: str, device: str, loss: float) -> list[str]:
    chance = [] if loss >= 100 else ["-m", "statistic", "--mode", "random", "--probability", f"{loss / 100:.6f}"]
    return ["iptables", "-w", "-t", "mangle", "-A", chain, direction, device, *chance, "-j", "DROP"]


def ifb_device(device: str) -> str:
    return f"ifb-{device}"[:15]


@dataclass(frozen=True)
class HostScript:
    """What one host runs: `prelude` (shell lines, often none), then one `tc -batch -` reading `batch`."""

    prelude: tuple[str, ...]
    batch: tuple[str, ...]

    def argv(self, force: bool = False) -> list[str]:
        """The command to run where the host's kernel is; `force`: tc goes on after a failing line (clearing)."""
        tc = ["tc", *(["-force"] if force else []), "-batch", "-"]
        if not self.prelude:
            return tc
        return ["sh", "-c", "\n".join(["set -e", *self.prelude, shlex.join(["exec", *tc])])]

    @property
    def stdin(self) -> str:
        return "".join(f"{line}\n" for line in self.batch)


def host_script(ports: Iterable[Port], netem: bool, had_ifb: Iterable[str] = ()) -> HostScript:
    """What one host runs to put `ports` in force on all of its shaped interfaces at once, whatever was set
    before; `had_ifb`: its devices whose ifb device the lab set up before (removed unless still wanted)."""
    ports = list(ports)
    prelude: list[str] = []
    batch: list[str] = []
    rules: list[list[str]] = []
    wanted_ifb = set()
    for port in ports:
        egress, ingress = port.shaping.egress, port.shaping.ingress
        batch += _root_lines(port.device, egress, netem)
        if not netem:
            # Without netem the network's loss is dropped on the way in (netfilter drops on the way out show the
            # sender an error, EPERM, instead of a silent loss): each crossing enters one interface, so it still
            # meets the network's loss once. The host's own loss: on the way in and on the way out.
            loss_in = either(port.shaping.network.loss, port.shaping.own.loss)
            if loss_in:
                rules.append(_drop_rule(IN_CHAIN, "-i", port.device, loss_in))
            if port.shaping.own.loss:
                rules.append(_drop_rule(OUT_CHAIN, "-o", port.device, port.shaping.own.loss))
        if port.peer is not None:
            continue  # a container's ingress is shaped on the machine side (machine_script)
        batch += _back_to_default(port.device, "ingress", [])  # no redirect left from before
        if not ingress:
            continue
        if not netem:
            if ingress.rate:
                raise ConditionError(port.device, "a host's own rate on what it receives needs netem here")
            continue
        ifb = ifb_device(port.device)
        wanted_ifb.add(ifb)
        prelude += [f"ip link add {shlex.quote(ifb)} type ifb 2>/dev/null || true",
                    f"ip link set {shlex.quote(ifb)} up"]
        batch += [_line("qdisc", "add", "dev", port.device, "handle", "ffff:", "ingress"),
                  _line("filter", "add", "dev", port.device, "parent", "ffff:", "matchall",
                        "action", "mirred", "egress", "redirect", "dev", ifb),
                  _line("qdisc", "replace", "dev", ifb, "root", *netem_args(ingress))]
    prelude = [f"ip link del {shlex.quote(ifb)} 2>/dev/null || true"
               for ifb in sorted({ifb_device(device) for device in had_ifb} - wanted_ifb)] + prelude
    if not netem:
        prelude += [f"iptables -w -t mangle -F {chain} 2>/dev/null || true" for chain in (OUT_CHAIN, IN_CHAIN)]
    if rules:
        for chain, hook in ((OUT_CHAIN, "POSTROUTING"), (IN_CHAIN, "PREROUTING")):
            prelude.append(f"iptables -w -t mangle -N {chain} 2>/dev/null || true; "
                           f"iptables -w -t mangle -C {hook} -j {chain} 2>/dev/null || "
                           f"iptables -w -t mangle -A {hook} -j {chain}")
        prelude += [shlex.join(rule) for rule in rules]
    return HostScript(tuple(prelude), tuple(batch))


def unshaped(ports: Iterable[Port]) -> list[Port]:
    """The same interfaces with no conditions: what a script for them clears."""
    return [Port(p.device, Shaping(), p.peer) for p in ports]


def clearing(ports: Iterable[Port], netem: bool) -> HostScript:
    """What clears everything the lab may have set on a host's interfaces (after a failure: run with force)."""
    ports = unshaped(ports)
    return host_script(ports, netem, had_ifb=[p.device for p in ports if p.peer is None])


def machine_script(ports: Iterable[Port], netem: bool) -> HostScript:
    """What this machine runs for containers: what their interfaces receive, on the veth's far end (one batch).
    Loss without netem is not here: it is an iptables rule inside the host (host_script)."""
    batch = []
    for port in ports:
        if port.peer is not None:
            ingress = port.shaping.ingress
            batch += _root_lines(port.peer, ingress if netem else Conditions(rate=ingress.rate), netem)
    return HostScript((), tuple(batch))
