"""The lab's SSH identity, known_hosts and connection options, shared by every provider."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from lab.errors import LabError
from lab.model import Connection
from lab.plumbing.progress import Heartbeat
from lab.plumbing.shell import run, succeeds
from lab.state import LabConfig

CONNECT_TIMEOUT_S = 5
# How long a shared SSH connection (ControlMaster) to a host stays after its last use: a lab session's length, so
# that `lab tc set` and `lab exec` minutes later still cost one round trip, not a new login (~1 s to a VM under
# TCG). `lab down`, `lab up` and a snapshot's restore close them (close_control_masters).
CONTROL_PERSIST = "30m"


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
        "-o", "ControlMaster=auto", "-o", f"ControlPath={control_dir(config)}/%C",
        "-o", f"ControlPersist={CONTROL_PERSIST}",
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


def port_open(address: str, port: int, timeout: float = 1) -> str | None:
    """None when a TCP connection to the port succeeds; else why it did not (the error's text)."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return None
    except OSError as error:
        return error.strerror or str(error) or type(error).__name__


# ---- readiness: a host is ready for Ansible when a real login works, its boot has finished and python3 starts --
# `is-system-running --wait` returns once systemd's boot jobs are done; bounded, so a host that never finishes
# booting gives a verdict ("starting") instead of a hung probe. python3 is what Ansible (Mitogen) runs first.
PYTHON_OK = "python3-ok"
READY_PROBE = f"timeout 10 systemctl is-system-running --wait; python3 -c 'print(\"{PYTHON_OK}\")'"
BOOTED_STATES = ("running", "degraded")  # degraded: a unit failed, the host is booted (and says which: journalctl)
PROBE_TIMEOUT_S = 20
PROBE_INTERVAL_S = 0.3
READY_WORKERS = 16  # hosts probed at once


@dataclass(frozen=True)
class Readiness:
    """One probe's verdict on a host: ready or not, and what was seen (for the error that names the host)."""

    ready: bool
    seen: str


def readiness_verdict(returncode: int, stdout: str, stderr: str) -> Readiness:
    """The verdict of one READY_PROBE run over SSH, from its exit code and output."""
    words = stdout.split()
    if returncode == 255 or not words:  # ssh's own failure: no login
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        return Readiness(False, f"no SSH login ({lines[-1] if lines else f'ssh exit code {returncode}'})")
    state = words[0]
    if state not in BOOTED_STATES:
        return Readiness(False, f"logged in, but its boot is not finished (systemd: {state})")
    if PYTHON_OK not in words:
        return Readiness(False, f"logged in and booted ({state}), but python3 did not start")
    return Readiness(True, f"logged in, booted ({state}), python3 starts")


def probe_readiness(config: LabConfig, user: str, address: str, port: int = 22) -> Readiness:
    """One readiness probe of a host: the port, then a real login that runs READY_PROBE."""
    refused = port_open(address, port)
    if refused is not None:
        return Readiness(False, f"port {port} not open ({refused})")
    try:
        result = subprocess.run([*ssh_command(config, user, address, port), READY_PROBE], capture_output=True,
                                text=True, timeout=PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return Readiness(False, f"no answer to the readiness probe within {PROBE_TIMEOUT_S} s")
    return readiness_verdict(result.returncode, result.stdout, result.stderr)


@dataclass(frozen=True)
class ReadyTarget:
    """A host to wait for: where it answers SSH, and whether it is still booting (False: it stopped)."""

    host: str
    address: str
    still_booting: Callable[[], bool] = lambda: True
    user: str = "root"
    port: int = 22


def waiting_summary(waiting: list[tuple[str, str]], shown: int = 3) -> str:
    """The heartbeat's detail: how many hosts are not ready yet, and what the first few last saw."""
    first = "; ".join(f"{host}: {seen}" for host, seen in waiting[:shown])
    more = f"; and {len(waiting) - shown} more" if len(waiting) > shown else ""
    return f"{len(waiting)} host(s) not ready yet ({first}{more})"


def wait_until_ready(config: LabConfig, targets: list[ReadyTarget], timeout: float,
                     probe: Callable[[ReadyTarget], Readiness] | None = None,
                     on_ready: Callable[[ReadyTarget], None] = lambda target: None) -> None:
    """Waits for every target at once (READY_WORKERS probed in parallel) until each is ready (probe_readiness);
    raises LabError naming each host that is not, with what it last saw: at the deadline, or at once for a host
    that stopped booting."""
    check = probe or (lambda target: probe_readiness(config, target.user, target.address, target.port))
    deadline = time.monotonic() + timeout
    last: dict[str, str] = {target.host: "not probed yet" for target in targets}
    beat = Heartbeat("boot", lambda: waiting_summary(list(last.items())))

    def wait_for(target: ReadyTarget) -> str | None:
        """None when ready; else why the host never became ready."""
        while True:
            if not target.still_booting():
                return f"stopped while booting (step: boot); last seen: {last[target.host]}"
            verdict = check(target)
            last[target.host] = verdict.seen
            if verdict.ready:
                del last[target.host]
                on_ready(target)
                return None
            if time.monotonic() >= deadline:
                return (f"not ready at {target.address}:{target.port} within {timeout:.0f} s; "
                        f"last seen: {verdict.seen}")
            beat.tick()
            time.sleep(PROBE_INTERVAL_S)

    with ThreadPoolExecutor(max_workers=min(READY_WORKERS, max(1, len(targets)))) as pool:
        problems = [f"{target.host}: {problem}" for target, problem in zip(targets, pool.map(wait_for, targets),
                                                                           strict=True) if problem]
    if problems:
        raise LabError("; ".join(problems))


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
