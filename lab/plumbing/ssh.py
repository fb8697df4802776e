"""The lab's SSH identity, known_hosts and connection options, shared by every provider."""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

from lab.errors import LabError
from lab.model import Connection
from lab.plumbing.progress import Heartbeat
from lab.plumbing.shell import run, succeeds
from lab.state import LabConfig

CONNECT_TIMEOUT_S = 5


def control_dir(config: LabConfig) -> Path:
    """Short path (unix socket limit): ControlMaster sockets of Ansible, testinfra and lab-ssh."""
    return Path(os.environ.get("XDG_RUNTIME_DIR", "/tmp")) / f"chatlab-{config.name}-cp"


def ensure_keypair(config: LabConfig) -> Path:
    return ensure_key(config.key_path, config.name)


def ensure_key(key: Path, lab: str) -> Path:
    """The lab's key pair at `key`, made once."""
    if not key.is_file():
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"chatlab-{lab}", "-f", str(key)])
    return key


def authorize_command(key: Path, user: str, address: str, port: int = 22) -> str:
    """The one command that authorizes the lab's key for user@address (asks that user's password once)."""
    return f"ssh-copy-id -i {key}.pub {'' if port == 22 else f'-p {port} '}{user}@{address}"


def ssh_options(config: LabConfig) -> list[str]:
    control_dir(config).mkdir(parents=True, exist_ok=True, mode=0o700)
    return [
        "-o", f"UserKnownHostsFile={config.known_hosts_files}", "-o", "StrictHostKeyChecking=yes",
        "-o", "ControlMaster=auto", "-o", f"ControlPath={control_dir(config)}/%C", "-o", "ControlPersist=60s",
        "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
    ]


def ssh_command(config: LabConfig, user: str, address: str, port: int = 22, key: str | None = None) -> list[str]:
    identity = key or str(config.key_path)
    return ["ssh", *ssh_options(config), "-i", identity, "-p", str(port), f"{user}@{address}"]


def connection_command(config: LabConfig, connection: Connection) -> list[str]:
    """ssh_command for a host's connection: its user, address, port and key."""
    return ssh_command(config, connection.user, connection.address, connection.port, connection.key_file)


def answers(config: LabConfig, user: str, address: str, port: int = 22, key: str | None = None,
            timeout: float = 30) -> bool:
    """Whether `ssh true` works on the host, within `timeout` seconds."""
    return succeeds([*ssh_command(config, user, address, port, key), "true"], timeout=timeout)


def port_open(address: str, port: int, timeout: float = 1) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_ssh(config: LabConfig, host: str, user: str, address: str, port: int = 22,
                 timeout: float = 60, still_booting: Callable[[], bool] = lambda: True) -> None:
    """Waits until `ssh true` works, or raises LabError naming the host (at once if it stopped booting)."""
    deadline = time.monotonic() + timeout
    beat = Heartbeat("boot", lambda: f"{host}: waiting for SSH on {address}:{port}")
    while time.monotonic() < deadline:
        if not still_booting():
            raise LabError(f"{host}: stopped while booting (step: boot), before SSH answered")
        if port_open(address, port) and answers(config, user, address, port):
            return
        beat.tick()
        time.sleep(0.2)
    raise LabError(f"{host}: SSH on {address}:{port} did not answer within {timeout:.0f} s")


def close_control_masters(config: LabConfig) -> None:
    """ControlMaster processes outlive the hosts otherwise (for ControlPersist seconds). The directory stays:
    the inventory's ControlPath points into it, and ssh refuses to connect when it is missing."""
    directory = control_dir(config)
    for socket_path in directory.glob("*") if directory.is_dir() else []:
        succeeds(["ssh", "-o", f"ControlPath={socket_path}", "-O", "exit", "lab"], timeout=5)
        socket_path.unlink(missing_ok=True)


def remove_control_dir(config: LabConfig) -> None:
    """`lab down`: the ControlMaster processes are closed and their directory goes."""
    close_control_masters(config)
    shutil.rmtree(control_dir(config), ignore_errors=True)
