"""`python -m lab up|test|provision|status|ssh|chat|down|graph|resolve|box|exec|logs|snapshot|capture` — what the
Makefile's lab-* targets call."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lab import capture, operations, snapshot
from lab import topology as topo
from lab.config import (
    REPO,
    LabConfig,
    LabError,
    configure,
    existing_lab,
    lab_name,
    save_state,
    up_request,
)
from lab.inventory import Connection, moved_to_static, read_connections, write_inventory
from lab.mitogen import describe, mitogen_env, strategy_plugins
from lab.progress import heartbeat
from lab.providers import decide_provider, make_provider
from lab.results import print_summary, results_path
from lab.shell import log, run
from lab.ssh import answers, close_control_masters, connection_command, known_hosts_path, remove_control_dir

ANSIBLE_DIR = REPO / "ansible"
INFRA_TESTS = REPO / "tests" / "infra"
CHAT_SERVICE = "chatlab-chat"  # the chat_server role's chat_server_service


def tool_env(config: LabConfig) -> dict[str, str]:
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = f"{venv_bin}:{env.get('PATH', '')}"  # testinfra's ansible backend calls ansible-inventory
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env.setdefault("ANSIBLE_HOME", str(REPO / ".lab" / "ansible-home"))
    env["CHATLAB_INVENTORY"] = str(config.inventory_path)
    emulated = config.provider_settings.get("LAB_LIBVIRT_DRIVER") == "qemu"
    env.update(mitogen_env(env, strategy_plugins(), emulated=emulated))
    return env


def run_step(config: LabConfig, step: str, args: list[str]) -> None:
    """Runs one step's command, its output passed through as it comes (a heartbeat line when it is silent)."""
    started = time.monotonic()
    log(f"{step} ...")
    env = {**tool_env(config), "PYTHONUNBUFFERED": "1"}  # pytest's output reaches the pipe as it is printed
    if sys.stdout.isatty():
        env.setdefault("ANSIBLE_FORCE_COLOR", "1")  # its output goes through a pipe now
    with heartbeat(step) as beat:
        process = subprocess.Popen(args, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert process.stdout is not None
        for chunk in iter(lambda: os.read(process.stdout.fileno(), 65536), b""):  # pytest's dots end no line
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            beat.output()
        code = process.wait()
    if code != 0:
        raise LabError(f"step '{step}' failed (see above); the lab stays up: fix, then 'make lab-up' again "
                       f"or 'make lab-down'")
    log(f"{step}: done in {time.monotonic() - started:.1f} s")


def provision(config: LabConfig) -> None:
    log(describe(tool_env(config)))
    run_step(config, "provision (ansible-playbook site.yml)",
             [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(config.inventory_path),
              str(ANSIBLE_DIR / "site.yml")])


def check(config: LabConfig, *, drills: bool = True) -> None:
    """The cross-host checks; without `drills`, not the fault drills (tests marked disruptive: they change the
    lab and put it back, and take the longest), which `lab up` leaves to `lab test`."""
    results = results_path(config)  # JUnit XML for a CI, and a table of it after pytest's own summary
    results.unlink(missing_ok=True)
    selection = [] if drills else ["-m", "not disruptive"]
    step = "cross-host checks (pytest tests/infra)" if drills else \
        "cross-host checks (pytest tests/infra; the fault drills: make lab-test)"
    try:
        run_step(config, step,
                 [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "lab.pytest_hosts", "-q",
                  *selection, str(INFRA_TESTS), f"--inventory={config.inventory_path}", f"--junitxml={results}"])
    finally:
        print_summary(results)


def external_connections(config: LabConfig) -> list[Connection]:
    """External hosts of the topology (real machines): reached as their `ssh` entry says, with the lab's key;
    their SSH host keys are added to the lab's known_hosts when first seen."""
    connections = []
    known = known_hosts_path(config)
    for host in config.topology.hosts:
        if not host.is_external:
            continue
        match = topo.SSH_PATTERN.match(host.external_ssh or "")
        assert match is not None  # checked when the topology was read
        address, port = match["address"], int(match["port"] or 22)
        connections.append(Connection(host.name, address, port, match["user"] or "root"))
        lines = known.read_text().splitlines() if known.is_file() else []
        if not any(line.split(" ", 1)[0] in (address, f"[{address}]:{port}") for line in lines):
            scan = run(["ssh-keyscan", "-T", "10", "-p", str(port), address], check=False, timeout=30).stdout
            found = [line for line in scan.splitlines() if line.strip() and not line.startswith("#")]
            if not found:
                raise LabError(f"{host.name}: no SSH host key from {address}:{port} (external host; is it up?)")
            with known.open("a") as file:
                file.writelines(f"{line}\n" for line in found)
            log(f"{host.name}: external host, its SSH host key added to {known}")
    return connections


def command_up() -> None:
    started = time.monotonic()
    request = up_request()
    for key, value in request.kept.items():
        log(f"keeping {key}={value} from the running lab '{request.topology.name}' (set {key} to change it)")
    name, reason = decide_provider(request)
    config = configure(request, name)
    save_state(config)
    log(f"lab '{config.name}' from {config.topology.source}: {len(config.topology.hosts)} hosts, "
        f"{len(config.topology.networks)} network(s); provider: {name} ({reason})")
    close_control_masters(config)  # a shared SSH connection may still lead to a host that is gone
    provider = make_provider(config)
    connections = provider.up()
    config = provider.config  # with what the provider chose (box, driver)
    save_state(config)
    connections += external_connections(config)
    write_inventory(config, connections)
    log(f"hosts ready in {time.monotonic() - started:.1f} s; inventory {config.inventory_path}")
    provision(config)
    write_inventory(config, moved_to_static(config, connections))
    check(config, drills=False)
    log(f"lab '{config.name}' is up in {time.monotonic() - started:.1f} s:")
    print_status(config, host_status(config))
    server = config.topology.chat_server
    lab = "" if config.name == default_lab_name() else f" LAB_NAME={config.name}"
    print(f"    chat server: {server.lab_address.ip}:{config.chat_port} ({server.interfaces[0].network})\n"
          f"    chat: make lab-chat{lab} [HOST=...]   shell: make lab-ssh{lab} HOST={server.name}   "
          f"checks: make lab-test{lab}\n"
          f"    ansible: . .venv/bin/activate; ansible-playbook -i {config.inventory_path} ansible/site.yml")


def default_lab_name() -> str:
    return lab_name({})[0]


def require_lab() -> LabConfig:
    name, config = existing_lab()
    if config is None or not config.inventory_path.is_file():
        raise LabError(f"lab '{name}' is not up: run 'make lab-up' first")
    return config


def lab_connection(config: LabConfig, host: str | None, default_role: str) -> Connection:
    connections = read_connections(config)  # the lab's inventory is the one place that says how to reach a host
    if host is None:
        host = next((h.name for h in config.topology.hosts if h.role == default_role), config.topology.hosts[0].name)
    if host not in connections:
        raise LabError(f"no host {host!r} in lab '{config.name}' (hosts: {', '.join(connections)})")
    return connections[host]


def command_ssh(host: str | None, remote: list[str], default_role: str) -> int:
    config = require_lab()
    connection = lab_connection(config, host, default_role)
    args = [*connection_command(config, connection), *remote]
    if remote and sys.stdin.isatty():
        args.insert(1, "-t")
    return subprocess.run(args, check=False).returncode


# ---- status ---------------------------------------------------------------------------------------------------
def host_status(config: LabConfig) -> list[dict[str, Any]]:
    """Each host of the lab with its live state: the provider's view, SSH answering, the chat service active."""
    states = make_provider(config).states()
    connections = read_connections(config)

    def one(host: topo.Host) -> dict[str, Any]:
        state = "external" if host.is_external else states.get(host.name, "absent")
        connection = connections.get(host.name)
        ssh_ok = chat = None
        if connection is not None and state in ("running", "external"):
            command = connection_command(config, connection)
            ssh_ok = answers(config, connection.user, connection.address, connection.port, connection.key_file,
                             timeout=15)
            if ssh_ok and host.role == "chat_server":
                result = run([*command, f"systemctl is-active {CHAT_SERVICE}"], check=False, timeout=30)
                chat = result.stdout.strip() == "active"
        return {"name": host.name, "role": host.role, "state": state, "ssh": ssh_ok, "chat_service": chat,
                "management": connection.address if connection else None,
                "interfaces": [{"name": i.name, "network": i.network, "address": str(i.address)}
                               for i in host.interfaces]}

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, config.topology.hosts))


def print_status(config: LabConfig, hosts: list[dict[str, Any]]) -> None:
    for host in hosts:
        lan = ", ".join(f"{i['name']} {i['address']}" for i in host["interfaces"])
        state = host["state"]
        if host["ssh"] is not None:
            state += ", ssh ok" if host["ssh"] else ", ssh not answering"
        if host["chat_service"] is not None:
            state += ", chat service active" if host["chat_service"] else ", chat service NOT active"
        print(f"    {host['name']:<10} {host['role']:<11} mgmt {host['management'] or '-':<15} {lan:<40} {state}")


def healthy(hosts: list[dict[str, Any]]) -> bool:
    return all(h["state"] in ("running", "external") and h["ssh"] for h in hosts)


def command_status(as_json: bool) -> int:
    name, config = existing_lab()
    if config is None:
        if as_json:
            print(json.dumps({"name": name, "state": "down"}))
        else:
            print(f"lab '{name}': down")
        return 1
    hosts = host_status(config)
    if as_json:
        record = {"name": config.name, "state": "up" if healthy(hosts) else "degraded", "provider": config.provider,
                  "provider_settings": config.provider_settings, "topology": topo.to_json(config.topology),
                  "inventory": str(config.inventory_path), "hosts": hosts}
        print(json.dumps(record, indent=1))
    else:
        made_with = ", ".join(f"{k}={v}" for k, v in config.topology.overrides.items()) or "no LAB_* settings"
        print(f"lab '{config.name}': provider {config.provider}, topology {config.topology.source} "
              f"({made_with}), inventory {config.inventory_path}")
        if config.provider_settings:
            print("    provider settings: " + ", ".join(f"{k}={v}" for k, v in config.provider_settings.items()))
        print_status(config, hosts)
    return 0 if healthy(hosts) else 1


# ---- graph and resolve: from the file alone ------------------------------------------------------------------------
def topology_to_show() -> tuple[topo.Topology, Path]:
    """The running lab's topology unless LAB_TOPOLOGY names a file; else the file's (before any lab up)."""
    _, config = existing_lab()
    if config is not None and not os.environ.get("LAB_TOPOLOGY"):
        return config.topology, config.state_dir
    request = up_request()
    return request.topology, request.state_dir


def command_resolve(provider: str) -> None:
    """Prints the lab's resolved record as `lab up` would write it (what vagrant/Vagrantfile reads by hand)."""
    from lab.libvirt import manual_settings

    request = up_request()
    config = configure(request, provider)
    settings = manual_settings(config) if provider == "libvirt" else dict(config.provider_settings)
    print(json.dumps({"provider": provider, "provider_settings": settings,
                      "topology": topo.to_json(config.topology)}, indent=1))


def command_down() -> None:
    started = time.monotonic()
    name, config = existing_lab()
    if config is None:
        log(f"lab '{name}' is already down")
        return
    remove_control_dir(config)  # closes the ControlMaster processes too
    make_provider(config).down()
    log(f"lab '{config.name}' removed in {time.monotonic() - started:.1f} s")


# ---- operations: exec, logs, snapshot, capture (lab.operations, lab.snapshot, lab.capture) -------------------------
def add_operation_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run_on = sub.add_parser("exec", help="a command as root on hosts at once, each output line prefixed with its host")
    run_on.add_argument("hosts", help="a host, hosts separated by commas, or all")
    run_on.add_argument("remote", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...] (one word: a shell line)")
    logs = sub.add_parser("logs", help=f"a unit's journal on a host (default: the chat service {CHAT_SERVICE})")
    logs.add_argument("host", nargs="?")
    logs.add_argument("unit", nargs="?", default=CHAT_SERVICE)
    logs.add_argument("-u", "--unit", dest="unit_option", metavar="UNIT", help="the unit, when no HOST is given")
    logs.add_argument("-f", "--follow", action="store_true", help="follow until Ctrl-C")
    logs.add_argument("-n", "--lines", type=int, default=operations.DEFAULT_JOURNAL_LINES)
    snap = sub.add_parser("snapshot", help="snapshots of the whole lab: save, restore, list, delete")
    snap.add_argument("action", choices=("save", "restore", "list", "delete"))
    snap.add_argument("name", nargs="?")
    cap = sub.add_parser("capture", help="tcpdump on a lab network's bridge into a pcap file")
    cap.add_argument("words", nargs="*", metavar="[NETWORK] [FILTER]",
                     help=f"a network of the lab or {capture.MGMT} (default: the chat server's); a tcpdump filter")
    cap.add_argument("-w", "--write", type=Path, help="pcap file (default .lab/NAME/captures/NETWORK-TIME.pcap)")
    cap.add_argument("-c", "--count", type=int, help="stop after this many packets (default: at Ctrl-C)")


def command_snapshot(action: str, name: str | None) -> None:
    config = require_lab()
    if action == "list":
        for line in snapshot.table(snapshot.list_snapshots(config)):
            print(line)
        return
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


def run_operation(args: argparse.Namespace) -> int:
    if args.command == "snapshot":
        command_snapshot(args.action, args.name)
        return 0
    config = require_lab()
    if args.command == "exec":
        connections = read_connections(config)
        hosts = operations.resolve_hosts(args.hosts, list(connections))
        words = args.remote[1:] if args.remote[:1] == ["--"] else args.remote
        return operations.exec_on_hosts(config, connections, hosts, operations.remote_script(words))
    if args.command == "logs":
        return operations.show_journal(config, lab_connection(config, args.host, "chat_server"),
                                       args.unit_option or args.unit, args.follow, args.lines)
    networks = [network.name for network in config.topology.networks]
    network, words = capture.split_network(args.words, networks, config.topology.chat_server.interfaces[0].network)
    capture.capture(config, make_provider(config), network, args.write, args.count, words)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab", description="Drive the chatlab lab (LAB_TOPOLOGY file, LAB_* "
                                                              "settings: see README).")
    sub = parser.add_subparsers(dest="command", required=True)
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
    resolve = sub.add_parser("resolve", help="print the resolved topology as JSON (what the Vagrantfile reads)")
    resolve.add_argument("--provider", choices=("nspawn", "libvirt"), default="libvirt")
    box = sub.add_parser("box", help="build the VM lab's local Vagrant box (only when its inputs changed)")
    box.add_argument("--force", action="store_true", help="rebuild even when it is up to date")
    add_operation_commands(sub)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "capture":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.words = [*getattr(args, "words", []), *extra]  # capture: a filter may come after -w and -c
    try:
        if args.command == "up":
            command_up()
        elif args.command == "test":
            check(require_lab())
        elif args.command == "provision":
            provision(require_lab())
        elif args.command == "status":
            return command_status(args.json)
        elif args.command in ("exec", "logs", "snapshot", "capture"):
            return run_operation(args)
        elif args.command == "ssh":
            return command_ssh(args.host, args.remote, "chat_server")
        elif args.command == "chat":
            return command_ssh(args.host, ["chat-client"], "chat_client")
        elif args.command == "graph":
            topology, directory = topology_to_show()
            from lab.graph import render

            for path in render(topology, directory):
                log(f"wrote {path}")
        elif args.command == "resolve":
            command_resolve(args.provider)
        elif args.command == "box":
            from lab.box import ensure_box

            ensure_box(log, force=args.force)
        elif args.command == "down":
            command_down()
    except (LabError, topo.TopologyError) as error:
        print(f"lab: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lab: interrupted (run 'make lab-up' to recover or 'make lab-down' to clean up)", file=sys.stderr)
        return 130
    return 0
