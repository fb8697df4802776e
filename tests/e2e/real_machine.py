"""A machine the lab did not create, made by the test itself: a LAN bridge of this machine (as a user's br0, with
this machine's own address on it) and a Debian host on it as the installer leaves one (a sudo user, its host key,
``auto eth0`` + a static address in /etc/network/interfaces), a systemd-nspawn container booted by the test from
the lab's cached root filesystem (no provider involved). Everything is removed on the way out.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

USER = "admin"
BOOT_TIMEOUT_S = 60
STOP_TIMEOUT_S = 10


def sh(*argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=check)


@dataclass(frozen=True)
class Lan:
    bridge: str
    subnet: ipaddress.IPv4Network
    machine_address: ipaddress.IPv4Interface  # this machine's own address on it (the LAN's gateway here)


@dataclass(frozen=True)
class RealMachine:
    name: str
    address: ipaddress.IPv4Interface
    root: Path
    pid: int

    @property
    def ssh_target(self) -> str:
        return f"{USER}@{self.address.ip}"

    def authorize(self, public_key: str) -> None:
        """What the user does with the lab's key: it goes into the sudo user's authorized_keys."""
        ssh_dir = self.root / "home" / USER / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(public_key)
        sh("chroot", str(self.root), "chown", "-R", f"{USER}:{USER}", f"/home/{USER}/.ssh")

    def running(self) -> bool:
        try:
            state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z"


@contextlib.contextmanager
def lan_bridge(bridge: str, subnet: ipaddress.IPv4Network) -> Iterator[Lan]:
    """A bridge of this machine with its own address (.1) on it, made here and removed on the way out."""
    if Path(f"/sys/class/net/{bridge}").exists():
        raise RuntimeError(f"{bridge} exists already: another run's? remove it first ('ip link del {bridge}')")
    address = ipaddress.IPv4Interface(f"{subnet[1]}/{subnet.prefixlen}")
    sh("ip", "link", "add", bridge, "type", "bridge")
    try:
        sh("ip", "addr", "add", str(address), "dev", bridge)
        sh("ip", "link", "set", bridge, "up")
        yield Lan(bridge, subnet, address)
    finally:
        sh("ip", "link", "del", bridge, check=False)


def _installer_files(root: Path, name: str, address: ipaddress.IPv4Interface, gateway: ipaddress.IPv4Address) -> None:
    (root / "etc/hostname").write_text(f"{name}\n")
    (root / "etc/hosts").write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n")
    # The installer writes `allow-hotplug eth0`; nothing hotplugs in a container, so `auto` (LAB-NOTES).
    (root / "etc/network/interfaces").write_text(
        "# This file describes the network interfaces available on your system\n"
        "# and how to activate them. For more information, see interfaces(5).\n\n"
        "source /etc/network/interfaces.d/*\n\n# The loopback network interface\nauto lo\niface lo inet loopback\n\n"
        f"# The primary network interface\nauto eth0\niface eth0 inet static\n\taddress {address}\n"
        f"\tgateway {gateway}\n")
    sh("chroot", str(root), "useradd", "--create-home", "--shell", "/bin/bash", "--groups", "sudo", USER)
    (root / f"etc/sudoers.d/{USER}").write_text(f"{USER} ALL=(ALL) NOPASSWD:ALL\n")
    (root / f"etc/sudoers.d/{USER}").chmod(0o440)
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    host_key = root / "etc/ssh/ssh_host_ed25519_key"
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{name}", "-f", str(host_key))
    (root / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    (root / "root/.ssh/authorized_keys").write_text("")  # root is not the way in: the sudo user is


def _wait_for_port(address: str, port: int, timeout: float) -> bool:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=1):
            return True
        time.sleep(0.2)
    return False


@contextlib.contextmanager
def real_machine(lan: Lan, name: str, host_number: int, rootfs: Path, work: Path) -> Iterator[RealMachine]:
    """A booted container on `lan` at host number `host_number`, answering SSH; stopped and removed afterwards."""
    address = ipaddress.IPv4Interface(f"{lan.subnet[host_number]}/{lan.subnet.prefixlen}")
    upper, scratch, root = work / "upper", work / "work", work / "root"
    for path in (upper, scratch, root):
        path.mkdir(parents=True)
    sh("mount", "-t", "overlay", "overlay", "-o", f"lowerdir={rootfs},upperdir={upper},workdir={scratch}", str(root))
    link = f"{name[:11]}e0"
    process = None
    try:
        _installer_files(root, name, address, lan.machine_address.ip)
        console = (work / "console.log").open("wb")
        process = subprocess.Popen(["systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--boot",
                                    f"--machine={name}", f"--directory={root}", f"--network-veth-extra={link}:eth0"],
                                   stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        console.close()
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while not Path(f"/sys/class/net/{link}").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start: {(work / 'console.log').read_text(errors='replace')[-500:]}")
            time.sleep(0.05)
        sh("ip", "link", "set", link, "master", lan.bridge, "up")
        if not _wait_for_port(str(address.ip), 22, BOOT_TIMEOUT_S):
            raise RuntimeError(f"{name}: no SSH at {address.ip} within {BOOT_TIMEOUT_S} s")
        yield RealMachine(name, address, root, process.pid)
    finally:
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(STOP_TIMEOUT_S)
        sh("ip", "link", "del", link, check=False)
        sh("umount", str(root), check=False)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(Path("/run/systemd/nspawn/unix-export") / name, ignore_errors=True)
