"""`python -m lab up|test|status|ssh|chat|down` — what the Makefile's lab-* targets call."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from lab.config import LabConfig, LabError, load_config_of_existing_lab, save_settings
from lab.inventory import read_connections, write_inventory
from lab.providers import Provider, choose_provider, provider_for_existing_lab
from lab.shell import log
from lab.ssh import close_control_masters, ssh_command

REPO = Path(__file__).resolve().parent.parent
ANSIBLE_DIR = REPO / "ansible"
INFRA_TESTS = REPO / "tests" / "infra"


def tool_env(config: LabConfig) -> dict[str, str]:
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = f"{venv_bin}:{env.get('PATH', '')}"  # testinfra's ansible backend calls ansible-inventory
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env.setdefault("ANSIBLE_HOME", str(REPO / ".lab" / "ansible-home"))
    env["CHATLAB_INVENTORY"] = str(config.inventory_path)
    return env


def run_step(config: LabConfig, step: str, args: list[str]) -> None:
    started = time.monotonic()
    log(f"{step} ...")
    if subprocess.run(args, env=tool_env(config), cwd=REPO, check=False).returncode != 0:
        raise LabError(f"step '{step}' failed (see above); the lab stays up: fix, then 'make lab-up' again "
                       f"or 'make lab-down'")
    log(f"{step}: done in {time.monotonic() - started:.1f} s")


def provision(config: LabConfig) -> None:
    run_step(config, "provision (ansible-playbook site.yml)",
             [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(config.inventory_path),
              str(ANSIBLE_DIR / "site.yml")])


def check(config: LabConfig) -> None:
    run_step(config, "cross-host checks (pytest tests/infra)",
             [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(INFRA_TESTS),
              f"--inventory={config.inventory_path}"])


def command_up(config: LabConfig) -> None:
    started = time.monotonic()
    provider, reason = choose_provider(config)
    save_settings(config)
    log(f"provider: {provider.name} ({reason})")
    close_control_masters(config)  # a shared SSH connection may still lead to a host that is gone
    connections = provider.up()
    write_inventory(config, connections)
    log(f"hosts ready in {time.monotonic() - started:.1f} s; inventory {config.inventory_path}")
    provision(config)
    check(config)
    server = config.hosts[0]
    log(f"lab '{config.name}' is up in {time.monotonic() - started:.1f} s:")
    for line in provider.status():
        print(f"    {line}")
    print(f"    chat server: {server.lab_address.ip}:{config.chat_port} on the LAN (eth1)\n"
          f"    chat: make lab-chat [HOST=client1]   shell: make lab-ssh HOST=server   checks: make lab-test\n"
          f"    ansible: ansible-playbook -i {config.inventory_path} ansible/site.yml")


def require_lab(config: LabConfig) -> Provider:
    provider = provider_for_existing_lab(config)
    if provider is None or not config.inventory_path.is_file():
        raise LabError(f"lab '{config.name}' is not up: run 'make lab-up' first")
    return provider


def command_ssh(config: LabConfig, host: str, remote: list[str]) -> int:
    require_lab(config)
    connections = read_connections(config)  # the lab's inventory is the one place that says how to reach a host
    if host not in connections:
        raise LabError(f"no host {host!r} in lab '{config.name}' (hosts: {', '.join(connections)})")
    connection = connections[host]
    args = [*ssh_command(config, connection.user, connection.address, connection.port, connection.key_file), *remote]
    if remote and sys.stdin.isatty():
        args.insert(1, "-t")
    return subprocess.run(args, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab", description="Drive the chatlab lab (settings: LAB_* variables).")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="create or recover the hosts, provision them, run the cross-host checks")
    sub.add_parser("test", help="run the cross-host checks against the lab that is up")
    sub.add_parser("provision", help="run ansible/site.yml against the lab that is up")
    sub.add_parser("status", help="what is where")
    ssh = sub.add_parser("ssh", help="a shell (or a command) on a lab host")
    ssh.add_argument("host", nargs="?", default="server")
    ssh.add_argument("remote", nargs=argparse.REMAINDER)
    chat = sub.add_parser("chat", help="an interactive chat client on a client host, over the LAN")
    chat.add_argument("host", nargs="?", default="client1")
    sub.add_parser("down", help="remove every host, bridge, mount and namespace of the lab")
    box = sub.add_parser("box", help="build the VM lab's local Vagrant box (only when its inputs changed)")
    box.add_argument("--force", action="store_true", help="rebuild even when it is up to date")
    args = parser.parse_args(argv)
    try:
        config = load_config_of_existing_lab(environment_wins=args.command == "up")
        if args.command == "up":
            command_up(config)
        elif args.command == "test":
            require_lab(config)
            check(config)
        elif args.command == "provision":
            require_lab(config)
            provision(config)
        elif args.command == "status":
            provider = provider_for_existing_lab(config)
            if provider is None:
                print(f"lab '{config.name}': down")
            else:
                print(f"lab '{config.name}': provider {provider.name}, inventory {config.inventory_path}")
                for line in provider.status():
                    print(f"    {line}")
        elif args.command == "ssh":
            return command_ssh(config, args.host or "server", args.remote)
        elif args.command == "chat":
            return command_ssh(config, args.host or "client1", ["chat-client"])
        elif args.command == "box":
            from lab.box import ensure_box

            ensure_box(log, force=args.force)
        elif args.command == "down":
            started = time.monotonic()
            provider = provider_for_existing_lab(config)
            if provider is None:
                log(f"lab '{config.name}' is already down")
            else:
                close_control_masters(config)
                provider.down()
                log(f"lab '{config.name}' removed in {time.monotonic() - started:.1f} s")
    except LabError as error:
        print(f"lab: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lab: interrupted (run 'make lab-up' to recover or 'make lab-down' to clean up)", file=sys.stderr)
        return 130
    return 0
