"""The ``netconfig`` command: list, render, set and check the static IPv4 address of an interface; confirm or
roll back a confirmed change.

Exit status: 0 ok (or unchanged), 1 error or ``check`` mismatch or refused (or nothing to confirm), 2 invalid
arguments, 3 ``--apply`` failed and was rolled back, 4 ``--apply`` (or ``rollback``) failed and the rollback
failed too.

Reference: docs/netconfig.md
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from netconfig import apply, discovery, files
from netconfig.interfaces import (
    InterfacesError,
    StaticAddress,
    mismatch,
    parse_static_address,
    render_stanza,
    validate_interface_name,
)
from netconfig.plan import (
    CONFIRMED,
    CONFLICT,
    DRY_RUN,
    FORCED,
    LOCKOUT,
    FileState,
    Plan,
    Request,
    Target,
    decide,
    missing_interface,
)

PROG = "netconfig"
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_ROLLED_BACK = 3
EXIT_ROLLBACK_FAILED = 4


class Failure(Exception):
    """A clear one-line error with its exit status."""

    def __init__(self, message: str, status: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.status = status


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (not the usage block)."""

    def error(self, message: str) -> NoReturn:
        raise Failure(f"{message} (see '{self.prog} --help')", EXIT_USAGE)


def out(text: str = "") -> None:
    with contextlib.suppress(OSError):  # the terminal went away (an SSH session on the changed interface)
        print(text, flush=True)


def note(text: str) -> None:
    print(f"{PROG}: {text}", file=sys.stderr, flush=True)


def _add_address_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("iface", metavar="IFACE", help="interface name, e.g. eth1")
    parser.add_argument("--address", required=True, metavar="A/P",
                        help="IPv4 address with prefix length, e.g. 192.168.56.10/24")
    parser.add_argument("--netmask", metavar="M",
                        help="netmask (255.255.255.0 or 24) when --address has no /P")
    parser.add_argument("--gateway", metavar="G", help="default gateway, inside the subnet")
    parser.add_argument("--route", nargs=3, action="append", default=[], metavar=("NET", "via", "GW"),
                        help="a static route, e.g. --route 192.168.57.0/24 via 192.168.56.1 (repeatable)")


def _add_state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, metavar="DIR",
                        help="ifupdown's state directory (default: ifupdown's own, /run/network); netconfig keeps "
                        "a change waiting for confirmation in its netconfig/")


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Find interfaces and give one a static IPv4 address in the "
                    "ifupdown interfaces file, safely.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="the interfaces: MAC, addresses, state, default route")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")

    p = sub.add_parser("render", help="print the stanza for IFACE")
    _add_address_options(p)

    p = sub.add_parser("set", help="write the static address of IFACE into the interfaces file",
                       epilog="The previous file is kept as .NAME.netconfig.bak next to it. Exit status: 0 "
                       "written, unchanged or waiting for confirmation, 1 error or refused, 2 invalid arguments, "
                       "3 --apply failed and was rolled back, 4 the rollback failed too.")
    _add_address_options(p)
    p.add_argument("--file", type=Path, default=apply.DEFAULT_INTERFACES, metavar="PATH",
                   help=f"the interfaces file (default {apply.DEFAULT_INTERFACES})")
    p.add_argument("--diff", action="store_true", help="show the change as a unified diff")
    p.add_argument("--dry-run", action="store_true", help="write nothing")
    p.add_argument("--apply", action="store_true",
                   help="bring IFACE down and up with ifupdown and check the address; roll back on failure")
    p.add_argument("--confirm", type=int, metavar="SECONDS",
                   help="with --apply: a confirmed change; the host rolls it back by itself unless "
                   "'netconfig confirm' comes within SECONDS (allowed on the interface of this SSH session)")
    p.add_argument("--force", action="store_true",
                   help="change IFACE even if it carries the default route or this SSH session (unconfirmed), "
                   "or a sourced file configures it too")
    p.add_argument("--offline", action="store_true",
                   help="IFACE need not exist on this machine (a file for another host or image)")
    _add_state_dir(p)

    p = sub.add_parser("confirm", help="keep the change waiting for confirmation: write the file, disarm the "
                       "rollback")
    p.add_argument("iface", metavar="IFACE", nargs="?", help="only if the waiting change is of IFACE")
    _add_state_dir(p)
    p = sub.add_parser("rollback", help="roll back the change waiting for confirmation now")
    p.add_argument("iface", metavar="IFACE", nargs="?", help="only if the waiting change is of IFACE")
    _add_state_dir(p)

    p = sub.add_parser("check", help="exit 0 when the file and the live IFACE both have the address")
    _add_address_options(p)
    p.add_argument("--file", type=Path, default=apply.DEFAULT_INTERFACES, metavar="PATH",
                   help=f"the interfaces file (default {apply.DEFAULT_INTERFACES})")
    return parser


# --------------------------------------------------------------------------------------------------


def _target(args: argparse.Namespace) -> tuple[str, StaticAddress]:
    return validate_interface_name(args.iface), parse_static_address(  # parse_route checks the "via"
        args.address, args.netmask, args.gateway, [" ".join(route) for route in args.route])


def format_table(infos: Sequence[discovery.InterfaceInfo]) -> str:
    rows = [("IFACE", "STATE", "MAC", "IPV4", "IPV6", "DEFAULT")]
    for i in infos:
        rows.append((i.name, i.state, i.mac or "-",
                     ",".join(a.with_prefixlen for a in i.ipv4) or "-",
                     ",".join(a.with_prefixlen for a in i.ipv6) or "-",
                     ",".join(i.default_route) or "-"))
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def cmd_list(args: argparse.Namespace) -> int:
    infos = discovery.discover()
    if args.json:
        out(json.dumps([i.to_json() for i in infos], indent=2))
    else:
        out(format_table(infos))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    iface, static = _target(args)
    sys.stdout.write(render_stanza(iface, static))
    return 0


def unified_diff(old: str, new: str, path: Path) -> str:
    def lines(text: str) -> list[str]:
        return [line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                for line in re.findall(r"[^\n]*\n|[^\n]+", text)]

    return "".join(difflib.unified_diff(lines(old), lines(new), fromfile=str(path), tofile=f"{path} (new)"))


def cmd_set(args: argparse.Namespace) -> int:
    iface, static = _target(args)
    if args.apply and args.offline:
        raise Failure("--apply and --offline exclude each other: --apply changes the live interface",
                      EXIT_USAGE)
    if args.apply and args.dry_run:
        raise Failure("--apply and --dry-run exclude each other", EXIT_USAGE)
    if args.confirm is not None and not args.apply:
        raise Failure("--confirm needs --apply: it is the time to confirm the applied change in", EXIT_USAGE)
    if args.confirm is not None and not apply.MIN_CONFIRM_SECONDS <= args.confirm <= apply.MAX_CONFIRM_SECONDS:
        raise Failure(f"--confirm takes {apply.MIN_CONFIRM_SECONDS}-{apply.MAX_CONFIRM_SECONDS} seconds, not "
                      f"{args.confirm}", EXIT_USAGE)
    if args.confirm is not None and args.force:
        raise Failure("--confirm and --force exclude each other: --force makes an unconfirmed change", EXIT_USAGE)
    path: Path = args.file
    request = Request((Target(iface, static),), apply=args.apply, force=args.force, offline=args.offline,
                      dry_run=args.dry_run, confirm_seconds=args.confirm, confirm_every_apply=True)
    live = apply.observe(request.targets)
    if missing_interface(request, live):
        raise Failure(f"there is no interface {iface} on this machine (see 'netconfig list'); "
                      "--offline writes the file for an interface that is not here")
    text = files.read_text(path)
    plan = decide(request, FileState(path, text, files.sourced_texts(path, text)), live)
    change = apply.Change(path, text, plan.new_text, plan.touched)
    tools = apply.Ifupdown(interfaces_file=path, state_dir=args.state_dir, log=out)

    if not plan.writes_file:
        out(f"unchanged: {path} already has {static.describe()} for {iface}")
        if not args.apply:
            return 0
        _preflight()
        if not plan.applies:
            out(f"unchanged: {iface} already holds {static.describe()}")
            return 0
        _objections(plan, f"refusing to apply the file to {iface}")
        out(f"applying {path} to {iface}")
        return _apply(change, _confirm_seconds(plan), tools)

    _objections(plan, f"refusing to change {iface}")
    for _, option in plan.dropped:
        note(f"note: the old stanza's option '{option}' is dropped")
    if args.diff:
        sys.stdout.write(unified_diff(plan.old_text, plan.new_text, path))
    if args.dry_run:
        out(f"dry run: {path} not written")
        return 0
    if not args.apply:
        backup = files.write_with_backup(path, plan.new_text, text)
        out(f"wrote {path}: {iface} {static.describe()}" + (f" (previous file: {backup})" if backup else ""))
        return 0
    _preflight()
    return _apply(change, _confirm_seconds(plan), tools)


def _confirm_seconds(plan: Plan) -> int | None:
    return plan.request.confirm_seconds if plan.confirmed else None


def _preflight() -> None:
    problem = apply.preflight()
    if problem:
        raise Failure(problem)


HINTS = {CONFLICT: "--force",
         LOCKOUT: "--apply --confirm SECONDS for a change rolled back unless confirmed, or --force"}


def _objections(plan: Plan, what: str) -> None:
    """The plan's objections as lines: a refused one raises Failure; one let through is a warning (--force) or a
    note (--dry-run, --confirm). (A missing interface was refused before.)"""
    for objection in plan.objections:
        reasons = objection.describe()
        if objection.outcome == FORCED:
            note(f"warning: --force: {reasons}")
        elif objection.outcome == DRY_RUN:
            note(f"note: without --force, this would be refused: {reasons}")
        elif objection.outcome == CONFIRMED:
            note(f"note: {reasons}: a confirmed change, rolled back unless confirmed")
        else:
            raise Failure(f"{what}: {reasons} ({HINTS[objection.kind]})")


def _apply_failure(e: apply.ApplyError) -> Failure:
    return Failure(str(e), EXIT_ROLLED_BACK if e.rolled_back else EXIT_ROLLBACK_FAILED)


def _apply(change: apply.Change, confirm_seconds: int | None, tools: apply.Ifupdown) -> int:
    try:
        if confirm_seconds is None:
            backup = apply.apply_change(change, tools)
            out(f"wrote {change.path}: {change.describe()}" + (f" (previous file: {backup})" if backup else ""))
            return 0
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a session that ends meanwhile must not stop us halfway
        armed = apply.apply_confirmed(change, confirm_seconds, tools)
    except apply.ApplyError as e:
        raise _apply_failure(e) from None
    except apply.ConfirmError as e:
        raise Failure(str(e)) from None
    out(f"waiting for confirmation: {change.describe()} is live, {change.path} not written yet; "
        f"'netconfig confirm' within {confirm_seconds} s, or the host rolls back by itself at {armed.at}")
    return 0


def cmd_confirm(args: argparse.Namespace) -> int:
    tools = apply.Ifupdown(state_dir=args.state_dir, log=out)
    try:
        out(apply.confirm(tools, [args.iface] if args.iface else []))
    except apply.ConfirmError as e:
        raise Failure(str(e)) from None
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    _preflight()
    tools = apply.Ifupdown(state_dir=args.state_dir, log=out)
    try:
        out(apply.rollback(tools, [args.iface] if args.iface else []))
    except apply.ApplyError as e:
        raise _apply_failure(e) from None
    except apply.ConfirmError as e:
        raise Failure(str(e)) from None
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    iface, static = _target(args)
    path: Path = args.file
    problems: list[str] = []
    text = files.read_text(path)
    if text is None:
        problems.append(f"file: {path} does not exist")
    else:
        why = mismatch(text, iface, static)
        if why:
            problems.append(f"file: {path}: {why}")
    if not discovery.interface_exists(iface):
        problems.append(f"live: there is no interface {iface} on this machine")
    else:
        why = apply.verify(iface, static, seconds=0)
        if why:
            problems.append(f"live: {why}")
    if problems:
        for problem in problems:
            out(f"MISMATCH {problem}")
        return EXIT_ERROR
    out(f"ok: {iface} has {static.describe()} in {path} and live")
    return 0


COMMANDS = {"list": cmd_list, "render": cmd_render, "set": cmd_set, "check": cmd_check, "confirm": cmd_confirm,
            "rollback": cmd_rollback}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except Failure as e:
        note(f"error: {e}")
        return e.status
    except InterfacesError as e:
        note(f"error: {e}")
        return EXIT_USAGE
    except (files.FilesError, discovery.DiscoveryError) as e:
        note(f"error: {e}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        note("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as e:  # the promise: one line, never a traceback
        note(f"internal error: {type(e).__name__}: {e}")
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
