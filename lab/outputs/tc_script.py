"""Link conditions rendered to shell scripts of `tc` and `iptables` commands (pure: text out, no I/O).

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

Every script first clears what the lab set on those interfaces, then applies everything, or clears again and fails:
conditions are never half applied. A script with no conditions is a reset.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from lab.conditions import ConditionError, Conditions, Port, either

OUT_CHAIN = "LABTC_OUT"  # mangle POSTROUTING: what a host sends (and a router forwards) out of an interface
IN_CHAIN = "LABTC_IN"  # mangle PREROUTING: what a host receives on an interface
NETEM_LIMIT = 100_000  # packets netem may hold: its default 1,000 drops packets at delay x a LAN's packet rate
TBF_LATENCY_MS = 200  # how long tbf lets a packet wait before dropping it (its queue: rate x this)
TBF_MIN_BURST = 3200  # bytes: two full frames at least
TBF_BURST_SECONDS = 0.01  # ... or 10 ms worth of the rate

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
        if value:
            args += [key, f"{value:g}%"]
    if conditions.rate:
        args += ["rate", f"{conditions.rate:g}kbit"]
    return args


def tbf_args(rate_kbit: float) -> list[str]:
    burst = max(TBF_MIN_BURST, int(rate_kbit * 1000 / 8 * TBF_BURST_SECONDS))
    return ["tbf", "rate", f"{rate_kbit:g}kbit", "burst", str(burst), "latency", f"{TBF_LATENCY_MS}ms"]


def _root_qdisc(device: str, conditions: Conditions, netem: bool) -> list[list[str]]:
    if not conditions:
        return []
    if netem:
        return [["tc", "qdisc", "replace", "dev", device, "root", *netem_args(conditions)]]
    return [["tc", "qdisc", "replace", "dev", device, "root", *tbf_args(conditions.rate)]] if conditions.rate else []


def _drop_rule(chain: str, direction: str, device: str, loss: float) -> list[str]:
    chance = [] if loss >= 100 else ["-m", "statistic", "--mode", "random", "--probability", f"{loss / 100:.6f}"]
    return ["iptables", "-w", "-t", "mangle", "-A", chain, direction, device, *chance, "-j", "DROP"]


def ifb_device(device: str) -> str:
    return f"ifb-{device}"[:15]


def host_commands(ports: Iterable[Port], netem: bool) -> tuple[list[str], list[list[str]]]:
    """(clearing commands, applying commands) run inside one host, for all of its shaped interfaces."""
    ports = list(ports)
    clear = [f"tc qdisc del dev {shlex.quote(p.device)} root 2>/dev/null || true" for p in ports]
    clear += [f"tc qdisc del dev {shlex.quote(p.device)} ingress 2>/dev/null || true; "
              f"ip link del {shlex.quote(ifb_device(p.device))} 2>/dev/null || true" for p in ports if p.peer is None]
    apply: list[list[str]] = []
    rules: list[list[str]] = []
    for port in ports:
        egress, ingress = port.shaping.egress, port.shaping.ingress
        apply += _root_qdisc(port.device, egress, netem)
        if not netem:
            # Without netem the network's loss is dropped on the way in (netfilter drops on the way out show the
            # sender an error, EPERM, instead of a silent loss): each crossing enters one interface, so it still
            # meets the network's loss once. The host's own loss: on the way in and on the way out.
            loss_in = either(port.shaping.network.loss, port.shaping.own.loss)
            if loss_in:
                rules.append(_drop_rule(IN_CHAIN, "-i", port.device, loss_in))
            if port.shaping.own.loss:
                rules.append(_drop_rule(OUT_CHAIN, "-o", port.device, port.shaping.own.loss))
        if not ingress or port.peer is not None:
            continue  # a container's ingress is shaped on the machine side (machine_commands)
        if not netem:
            if ingress.rate:
                raise ConditionError(port.device, "a host's own rate on what it receives needs netem here")
            continue
        ifb = ifb_device(port.device)
        apply += [["ip", "link", "add", ifb, "type", "ifb"], ["ip", "link", "set", ifb, "up"],
                  ["tc", "qdisc", "add", "dev", port.device, "handle", "ffff:", "ingress"],
                  ["tc", "filter", "add", "dev", port.device, "parent", "ffff:", "matchall",
                   "action", "mirred", "egress", "redirect", "dev", ifb],
                  ["tc", "qdisc", "replace", "dev", ifb, "root", *netem_args(ingress)]]
    if not netem:
        clear += [f"iptables -w -t mangle -F {chain} 2>/dev/null || true" for chain in (OUT_CHAIN, IN_CHAIN)]
    if rules:
        for chain, hook in ((OUT_CHAIN, "POSTROUTING"), (IN_CHAIN, "PREROUTING")):
            apply.append(["sh", "-c", f"iptables -w -t mangle -N {chain} 2>/dev/null; "
                                      f"iptables -w -t mangle -C {hook} -j {chain} 2>/dev/null || "
                                      f"iptables -w -t mangle -A {hook} -j {chain}"])
        apply += rules
    return clear, apply


def machine_commands(ports: Iterable[Port], netem: bool) -> tuple[list[str], list[list[str]]]:
    """(clearing, applying) on this machine for containers: what their interfaces receive, on the veth's far end.
    Loss without netem is not here: it is an iptables rule inside the host (host_commands)."""
    peers = [p for p in ports if p.peer is not None]
    clear = [f"tc qdisc del dev {shlex.quote(p.peer or '')} root 2>/dev/null || true" for p in peers]
    apply = []
    for port in peers:
        ingress = port.shaping.ingress
        apply += _root_qdisc(port.peer or "", ingress if netem else Conditions(rate=ingress.rate), netem)
    return clear, apply


def script(clear: list[str], apply: list[list[str]], where: str) -> str:
    """A POSIX sh script: clear, then every command or (on the first failure) clear again and exit 1."""
    lines = ["labtc_clear() {", *(f"  {line}" for line in clear or [":"]), "}", "labtc_clear"]
    for command in apply:
        text = " ".join(shlex.quote(word) for word in command)
        lines.append(f"{text} || {{ labtc_clear; echo {shlex.quote(f'lab tc on {where}: failed: ')}"
                     f"{shlex.quote(text)} >&2; exit 1; }}")
    return "\n".join(lines) + "\n"
