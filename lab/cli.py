"""`python -m lab up|test|provision|status|ssh|chat|down|graph|resolve|box|exec|logs|snapshot|capture` — what the
Makefile's lab-* targets call. Argument parsing and a table of commands; each command asks lab.driver (or
lab.provision, lab.ops, lab.images, lab.outputs) and prints what it got.

Reference: docs/lab.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab import driver
from lab.config import existing_lab
from lab.errors import LabError, TopologyError
from lab.images.box import ensure_box
from lab.ops import bench, capture, remote, snapshot, tc
from lab.outputs.graph import render
from lab.outputs.inventory import read_connections
from lab.plumbing.shell import log
from lab.plumbing.ssh import connection_command
from lab.providers import make_provider
from lab.provision import check, provision
from lab.state import LabConfig

CHAT_SERVICE = driver.CHAT_SERVICE


def print_status(hosts: list[dict[str, Any]]) -> None:
    for host in hosts:
        lan = ", ".join(f"{i['name']} {i['address']}" for i in host["interfaces"])
        state = host["state"]
        if host["ssh"] is not None:
            state += ", ssh ok" if host["ssh"] else ", ssh not answering"
        if host["chat_service"] is not None:
            state += ", chat service active" if host["chat_service"] else ", chat service NOT active"
        print(f"    {host['name']:<10} {host['role']:<11} mgmt {host['management'] or '-':<15} {lan:<40} {state}")


# ---- the commands: each takes the parsed arguments and returns the exit code ------------------------------------
def command_up(args: argparse.Namespace) -> int:
    config = driver.up()
    print_status(driver.host_status(config))
    print_conditions(tc.show_rows(config, tc.in_force(config)), only_given=True)
    server = config.topology.chat_server
    lab = "" if config.name == driver.default_lab_name() else f" LAB_NAME={config.name}"
    print(f"    chat server: {server.lab_address.ip}:{config.chat_port} ({server.interfaces[0].network})\n"
          f"    chat: make lab-chat{lab} [HOST=...]   shell: make lab-ssh{lab} HOST={server.name}   "
          f"checks: make lab-test{lab}\n"
          f"    ansible: . .venv/bin/activate; ansible-playbook -i {config.inventory_path} ansible/site.yml")
    return 0


def command_test(args: argparse.Namespace) -> int:
    check(driver.require_lab())
    return 0


def command_provision(args: argparse.Namespace) -> int:
    provision(driver.require_lab())
    return 0


def command_status(args: argparse.Namespace) -> int:
    name, config = existing_lab()
    if config is None:
        print(json.dumps({"name": name, "state": "down"}) if args.json else f"lab '{name}': down")
        return 1
    hosts = driver.host_status(config)
    if args.json:
        print(json.dumps(driver.status_record(config, hosts), indent=1))
    else:
        made_with = ", ".join(f"{k}={v}" for k, v in config.topology.overrides.items()) or "no LAB_* settings"
        print(f"lab '{config.name}': provider {config.provider}, topology {config.topology.source} "
              f"({made_with}), inventory {config.inventory_path}")
        if config.provider_settings:
            print("    provider settings: " + ", ".join(f"{k}={v}" for k, v in config.provider_settings.items()))
        print_status(hosts)
        print_conditions(tc.show_rows(config, tc.in_force(config)), only_given=True)
    return 0 if driver.healthy(hosts) else 1


def print_conditions(rows: list[dict[str, Any]], only_given: bool = False) -> None:
    """Each link's conditions in force (and the topology's where `lab tc` changed them)."""
    shown = [row for row in rows if row["conditions"] or row["planned"] or not only_given]
    if only_given and not shown:
        print("    link conditions: none")
    for row in shown:
        changed = "" if row["conditions"] == row["planned"] else " (changed by lab tc; lab tc reset puts back the " \
                                                                  "topology's)"
        print(f"    {'link ' + row['target']:<24} {row['said']}{changed}")


def command_tc(args: argparse.Namespace) -> int:
    config = driver.require_lab()
    if args.action == "show":
        rows = tc.show_rows(config, tc.in_force(config))
        applied = tc.recorded(config)
        if args.json:
            print(json.dumps({"links": rows, "applied_at": applied.get("applied_at"),
                              "apply_seconds": applied.get("apply_seconds"), "netem": applied.get("netem")},
                             indent=1))
            return 0
        print_conditions(rows)
        if applied:
            print(f"    in force since {applied['applied_at']} (applied on every host in "
                  f"{applied['apply_seconds']:.2f} s; netem {'yes' if applied['netem'] else 'no: loss and rate only'})")
        return 0
    if args.action == "set" and (not args.target or not args.words):
        raise LabError("lab tc set TARGET KEY=VALUE ... (TARGET: a network, or HOST:NETWORK)")
    if args.action == "reset" and args.words:
        raise LabError("lab tc reset [TARGET]: nothing after the target")
    connections = read_connections(config)
    changed, seconds = tc.change(config, connections, args.target, args.words if args.action == "set" else None)
    for line in changed or ["nothing changed"]:
        log(f"tc {args.action}: {line}")
    log(f"in force on every host in {seconds:.2f} s")
    return 0


def command_bench(args: argparse.Namespace) -> int:
    config = driver.require_lab()
    connections = read_connections(config)
    clients = [h.name for h in config.topology.hosts if h.role == "chat_client"]
    hosts = remote.resolve_hosts(args.from_hosts, clients) if args.from_hosts != "all" else clients
    settings = bench.QUICK if args.quick else bench.BenchSettings()
    settings = bench.BenchSettings(args.clients or settings.clients, args.rooms or settings.rooms,
                                   args.rate or settings.rate, args.duration or settings.duration)
    bench.run_bench(config, connections, hosts, settings, tc.in_force(config).described(), args.json, log=log)
    return 0


def ssh_to(host: str | None, remote_args: list[str], default_role: str) -> int:
    config = driver.require_lab()
    connection = driver.lab_connection(config, host, default_role)
    args = [*connection_command(config, connection), *remote_args]
    if remote_args and sys.stdin.isatty():
        args.insert(1, "-t")
    return subprocess.run(args, check=False).returncode


def command_ssh(args: argparse.Namespace) -> int:
    return ssh_to(args.host, args.remote, "chat_server")


def command_chat(args: argparse.Namespace) -> int:
    return ssh_to(args.host, ["chat-client"], "chat_client")


def command_down(args: argparse.Namespace) -> int:
    driver.down()
    return 0


def command_graph(args: argparse.Namespace) -> int:
    topology, directory = driver.topology_to_show()
    for path in render(topology, directory):
        log(f"wrote {path}")
    return 0


def command_key(args: argparse.Namespace) -> int:
    public, commands = driver.lab_key()
    print(public)
    print("authorize it on a machine the lab does not create (it asks that user's password once):")
    for command in commands:
        print(command)
    return 0


def command_resolve(args: argparse.Namespace) -> int:
    print(json.dumps(driver.resolved_record(args.provider), indent=1))
    return 0


def command_box(args: argparse.Namespace) -> int:
    ensure_box(log, force=args.force)
    return 0


# ---- operations: exec, logs, snapshot, capture (lab.ops) --------------------------------------------------------
def command_exec(args: argparse.Namespace) -> int:
    config = driver.require_lab()
    connections = read_connections(config)
    hosts = remote.resolve_hosts(args.hosts, list(connections))
    words = args.remote[1:] if args.remote[:1] == ["--"] else args.remote
    return remote.exec_on_hosts(config, connections, hosts, remote.remote_script(words))


def command_logs(args: argparse.Namespace) -> int:
    config = driver.require_lab()
    return remote.show_journal(config, driver.lab_connection(config, args.host, "chat_server"),
                               args.unit_option or args.unit, args.follow, args.lines)


def command_snapshot(args: argparse.Namespace) -> int:
    config: LabConfig = driver.require_lab()
    action, name = args.action, args.name
    if action == "list":
        for line in snapshot.table(snapshot.list_snapshots(config)):
            print(line)
        return 0
    if not name:
        raise LabError(f"lab snapshot {action} needs a snapshot NAME")
    provider = make_provider(config)
    if action == "save":
        taken = snapshot.save(config, provider, name)
        log(f"snapshot {name!r} of {', '.join(taken.shape)} saved in {taken.save_seconds:.2f} s")
    elif action == "restore":
        seconds = snapshot.restore(config, provider, name)
        log(f"lab '{config.name}' restored to snapshot {name!r} in {seconds:.2f} s (checks: make lab-test)")
    else:
        snapshot.delete(config, provider, name)
        log(f"snapshot {name!r} deleted")
    return 0


def command_capture(args: argparse.Namespace) -> int:
    config = driver.require_lab()
    networks = [network.name for network in config.topology.networks]
    network, words = capture.split_network(args.words, networks, config.topology.chat_server.interfaces[0].network)
    capture.capture(config, make_provider(config), network, args.write, args.count, words)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "up": command_up, "test": command_test, "provision": command_provision, "status": command_status,
    "ssh": command_ssh, "chat": command_chat, "down": command_down, "graph": command_graph,
    "resolve": command_resolve, "key": command_key, "box": command_box, "exec": command_exec, "logs": command_logs,
    "snapshot": command_snapshot, "capture": command_capture, "tc": command_tc, "bench": command_bench,
}


# ---- arguments ----------------------------------------------------------------------------------------------------
def add_lab_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("up", help="create or recover the hosts, provision them, run the cross-host checks (not the "
                              "fault drills)")
    sub.add_parser("test", help="run every cross-host check against the lab that is up, the fault drills too")
    sub.add_parser("provision", help="run ansible/site.yml against the lab that is up")
    status = sub.add_parser("status", help="what is where; exit 1 when a host is absent or not answering")
    status.add_argument("--json", action="store_true", help="the resolved topology and each host's live state")
    ssh = sub.add_parser("ssh", help="a shell (or a command) on a lab host")
    ssh.add_argument("host", nargs="?")
    ssh.add_argument("remote", nargs=argparse.REMAINDER)
    chat = sub.add_parser("chat", help="an interactive chat client on a client host, over the lab's networks")
    chat.add_argument("host", nargs="?")
    sub.add_parser("down", help="remove every host, bridge, mount and namespace of the lab")
    sub.add_parser("graph", help="draw the lab (from LAB_TOPOLOGY's file, or the running lab) as SVG and PNG")
    sub.add_parser("key", help="print the lab's public SSH key and the command that authorizes it on each external "
                              "host (before the first 'lab up' too)")
    resolve = sub.add_parser("resolve", help="print the resolved topology as JSON (what the Vagrantfile reads)")
    resolve.add_argument("--provider", choices=("nspawn", "libvirt"), default="libvirt")
    box = sub.add_parser("box", help="build the VM lab's local Vagrant box (only when its inputs changed)")
    box.add_argument("--force", action="store_true", help="rebuild even when it is up to date")


def add_operation_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run_on = sub.add_parser("exec", help="a command as root on hosts at once, each output line prefixed with its host")
    run_on.add_argument("hosts", help="a host, hosts separated by commas, or all")
    run_on.add_argument("remote", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...] (one word: a shell line)")
    logs = sub.add_parser("logs", help=f"a unit's journal on a host (default: the chat service {CHAT_SERVICE})")
    logs.add_argument("host", nargs="?")
    logs.add_argument("unit", nargs="?", default=CHAT_SERVICE)
    logs.add_argument("-u", "--unit", dest="unit_option", metavar="UNIT", help="the unit, when no HOST is given")
    logs.add_argument("-f", "--follow", action="store_true", help="follow until Ctrl-C")
    logs.add_argument("-n", "--lines", type=int, default=remote.DEFAULT_JOURNAL_LINES)
    snap = sub.add_parser("snapshot", help="snapshots of the whole lab: save, restore, list, delete")
    snap.add_argument("action", choices=("save", "restore", "list", "delete"))
    snap.add_argument("name", nargs="?")
    cap = sub.add_parser("capture", help="tcpdump on a lab network's bridge into a pcap file")
    cap.add_argument("words", nargs="*", metavar="[NETWORK] [FILTER]",
                     help=f"a network of the lab or {capture.MGMT} (default: the chat server's); a tcpdump filter")
    cap.add_argument("-w", "--write", type=Path, help="pcap file (default .lab/NAME/captures/NETWORK-TIME.pcap)")
    cap.add_argument("-c", "--count", type=int, help="stop after this many packets (default: at Ctrl-C)")
    conditions = sub.add_parser("tc", help="link conditions (delay, loss, rate, ...): show, set, reset "
                                           "(docs/conditions.md)")
    conditions.add_argument("action", choices=("show", "set", "reset"))
    conditions.add_argument("target", nargs="?", help="a network (lanb) or one host's interface on it (client1:lanb)")
    conditions.add_argument("words", nargs="*", metavar="KEY=VALUE", help="set: delay=80 loss=2 ... (0: none)")
    conditions.add_argument("--json", action="store_true", help="show: as JSON")
    load = sub.add_parser("bench", help="the chat under load across the lab: the load generator on the client hosts")
    load.add_argument("--clients", type=int, help=f"connections in all (default {bench.BenchSettings.clients})")
    load.add_argument("--rooms", type=int, help=f"rooms (default {bench.BenchSettings.rooms})")
    load.add_argument("--rate", type=float, metavar="MSGS_PER_S",
                      help=f"messages/s in all (default {bench.BenchSettings.rate:g})")
    load.add_argument("--duration", type=float, metavar="S",
                      help=f"seconds of sending (default {bench.BenchSettings.duration:g})")
    load.add_argument("--from", dest="from_hosts", default="all", metavar="HOSTS",
                      help="client hosts, separated by commas (default: every chat client)")
    load.add_argument("--json", type=Path, metavar="FILE", help="the report's JSON (default .lab/NAME/bench/TIME.json)")
    load.add_argument("--quick", action="store_true",
                      help=f"a few seconds: {bench.QUICK.clients} connections, {bench.QUICK.duration:g} s")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lab", description="Drive the chatlab lab (LAB_TOPOLOGY file, LAB_* "
                                                              "settings: see docs/lab.md).")
    sub = parser.add_subparsers(dest="command", required=True)
    add_lab_commands(sub)
    add_operation_commands(sub)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "capture":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.words = [*getattr(args, "words", []), *extra]  # capture: a filter may come after -w and -c
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        return COMMANDS[args.command](args)
    except (LabError, TopologyError) as error:
        print(f"lab: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lab: interrupted (run 'make lab-up' to recover or 'make lab-down' to clean up)", file=sys.stderr)
        return 130
