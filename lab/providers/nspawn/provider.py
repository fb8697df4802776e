"""The container provider: each lab host is a Debian 12 `systemd-nspawn --boot` system container.

Each host boots a real systemd with sshd and ifupdown from an overlay of the cached root filesystem.
Its eth0 is a port of the management bridge (isolated: hosts cannot talk to each other over it, the machine
reaches each of them); its eth1, eth2, ... are ports of the bridges of the networks the topology puts it on, the
switches between hosts, which have no address on the machine: they start unconfigured and only the static_ip role
gives them their addresses.

Reference: docs/providers.md#containers-lab_providernspawn
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from lab.errors import LabError
from lab.images.rootfs import ensure_rootfs
from lab.model import MGMT_INTERFACE, MGMT_NETWORK, Connection, Host
from lab.plumbing.dhcp import DhcpError
from lab.plumbing.dhcp import start as start_dhcp
from lab.plumbing.dhcp import stop as stop_dhcp
from lab.plumbing.dhcp_config import DhcpConfigError, DhcpNetwork, Reservation
from lab.plumbing.existing_bridge import require_usable
from lab.plumbing.shell import require_unrouted, run, succeeds, unmount
from lab.plumbing.ssh import ReadyTarget, answers, ensure_keypair, wait_until_ready
from lab.providers.nspawn.snapshot import copy_tree, frozen_containers, process_state, stat_fields
from lab.state import LabConfig

BOOT_TIMEOUT_S = 45  # for one host; hosts booting at once share the machine's cores, so each adds to it
BOOT_TIMEOUT_PER_HOST_S = 3
STOP_TIMEOUT_S = 8
# Each container's systemd takes several inotify instances; the kernel's default of 128 per user (all containers
# run as root here) ran out at about 15 hosts: "Failed to create control group inotify object: Too many open files".
INOTIFY_INSTANCES_PER_HOST = 40
INOTIFY_LIMIT = Path("/proc/sys/fs/inotify/max_user_instances")
VETH_TIMEOUT_S = 10

INTERFACES_TEMPLATE = """\
# interfaces(5) file used by ifup(8) and ifdown(8)
# Include files from /etc/network/interfaces.d:
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

# Management network of the chatlab lab (written by the lab driver).
auto {mgmt}
iface {mgmt} inet static
    address {address}
"""
# A host whose one NIC is on a lab network (the one-NIC case) starts as the Debian installer leaves it: DHCP on
# eth0, from the lab's DHCP server on that network (lab.plumbing.dhcp); site.yml then moves it to its static address.
# (The installer writes `allow-hotplug`: nothing hotplugs in a container, so `auto`.)
INSTALLER_INTERFACES = """\
# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
auto {mgmt}
iface {mgmt} inet dhcp
"""


class NspawnLab:
    """Creates, recovers, inspects and removes the container hosts of one lab."""

    name = "nspawn"

    def __init__(self, config: LabConfig, log: Callable[[str], None] = print) -> None:
        self.config = config
        self.log = log
        self.bridges = {network.name: network.bridge or f"{config.name}-{network.name}"
                        for network in config.topology.networks}
        # networks on an existing bridge of this machine: used as they are, never made, changed or removed
        self.existing = {network.name: network.bridge for network in config.topology.networks if network.bridge}
        # a lab network that is also the management network (the one-NIC case) is that network's bridge
        shared = config.topology.mgmt_network
        self.mgmt_bridge = self.bridges[shared] if shared else f"{config.name}-mgmt"

    # ---- names and paths -------------------------------------------------------------------------------
    def host_dir(self, host: Host) -> Path:
        return self.config.hosts_dir / host.name

    def machine(self, host: Host) -> str:
        return f"{self.config.name}-{host.name}"

    def links(self, host: Host) -> dict[str, tuple[str, str]]:
        """The host's veth links: the machine's end -> (the guest's interface, the bridge it is a port of)."""
        links = {f"{self.config.name}-{host.index}m": (MGMT_INTERFACE, self.mgmt_bridge)}
        for position, interface in enumerate(host.interfaces, start=1):
            if interface.network != self.config.topology.mgmt_network:
                links[f"{self.config.name}-{host.index}n{position}"] = (interface.name,
                                                                       self.bridges[interface.network])
        return links

    # ---- public operations -----------------------------------------------------------------------------
    def prepare(self) -> LabConfig:
        """Containers need no settings of their own: the config as it is."""
        return self.config

    def up(self) -> list[Connection]:
        require_root()
        ensure_inotify_instances(INOTIFY_INSTANCES_PER_HOST * (len(self.config.hosts) + 4), self.log)
        rootfs = ensure_rootfs(self.log)
        key = ensure_keypair(self.config)
        self._ensure_bridges()
        self._start_dhcp()
        started: list[Host] = []
        with_disk: set[str] = set()
        reached: dict[str, str] = {}  # where each host answers SSH
        for host in self.config.hosts:
            address = self._reached_at(host) if self._running(host) and self._wired_as_planned(host) else None
            if address is not None:
                self.log(f"{host.name}: already up, kept")
                reached[host.name] = address
                continue
            if not self._running(host) and self._disk_intact(host):
                self._release_host(host.name, self.host_dir(host))  # what the dead container left on the machine
                self._mount_root(host, rootfs)
                self.log(f"{host.name}: its container had stopped: booting it again with its disk")
                with_disk.add(host.name)
            else:
                self._remove_hosts({host.name: self.host_dir(host)}, signal.SIGKILL)  # not answering: nothing to save
                self._prepare_root(host, rootfs, key.with_suffix(".pub").read_text())
            started.append(host)
        require_usable(self.config.topology.networks, started)
        reached.update(self._boot_hosts(started, with_disk))
        self._remove_surplus_hosts()
        self._remove_surplus_bridges()
        return [Connection(host.name, reached[host.name]) for host in self.config.hosts]

    def _boot_hosts(self, hosts: list[Host], with_disk: set[str]) -> dict[str, str]:
        """Boots the hosts from their mounted roots, plugs them in and waits until each answers over SSH: a new
        host at its management address, one booted with its disk where site.yml left it (_addresses). Returns
        the address each answered at."""
        reached = {}
        for host in hosts:
            self._boot(host)
        for host in hosts:
            self._wire(host)
        self._write_known_hosts()
        timeout = BOOT_TIMEOUT_S + BOOT_TIMEOUT_PER_HOST_S * len(hosts)
        for host in hosts:
            if not self._running(host):
                raise self._boot_failure(host)
            address = self._addresses(host)[0] if host.name in with_disk else str(self._mgmt(host).ip)
            reached[host.name] = address
        by_name = {host.name: host for host in hosts}

        def up(target: ReadyTarget) -> None:
            host = by_name[target.host]
            lan = ", ".join(f"{i.address} on {i.name}" for i in host.interfaces)
            self.log(f"{host.name}: up (management {self._mgmt(host).ip}; {lan})")

        wait_until_ready(self.config, [ReadyTarget(host.name, reached[host.name],
                                                   still_booting=lambda host=host: self._running(host))
                                       for host in hosts], timeout, on_ready=up)
        return reached

    def states(self) -> dict[str, str]:
        return {host.name: "running" if self._running(host) else "absent" for host in self.config.hosts}

    def capture_interface(self, network: str) -> str:
        """The machine's bridge of a lab network, or of the management network ('mgmt')."""
        return self.mgmt_bridge if network == MGMT_NETWORK else self.bridges[network]

    # ---- snapshots (lab.providers.nspawn.snapshot freezes and copies) -------------------------------------------
    def save_snapshot(self, name: str, directory: Path) -> None:
        """Freezes every host at once, copies their writable layers into `directory`, then thaws them."""
        require_root()
        hosts = {host.name: self.host_dir(host) for host in self.config.hosts}
        missing = [host for host, path in hosts.items() if not (path / "upper").is_dir()]
        if missing:
            raise LabError(f"no disk for {', '.join(missing)}: run 'make lab-up' first")
        inits = [pid for pid in (_recorded_process(path / "init") for path in hosts.values()) if pid]
        with frozen_containers(inits):
            for host, path in hosts.items():
                copy_tree(path / "upper", directory / host / "upper")

    def restore_snapshot(self, name: str, directory: Path) -> None:
        """Stops every host, puts the writable layers of `directory` back and boots the hosts again."""
        require_root()
        rootfs = ensure_rootfs(self.log)
        self._ensure_bridges()
        hosts = list(self.config.hosts)
        self._stop_hosts([self.host_dir(host) for host in hosts], signal.SIGKILL)  # their state is discarded
        for host in hosts:
            path = self.host_dir(host)
            self._release_host(host.name, path)
            for layer in ("upper", "work"):
                shutil.rmtree(path / layer, ignore_errors=True)
            copy_tree(directory / host.name / "upper", path / "upper")
            self._mount_root(host, rootfs)
        self._boot_hosts(hosts, {host.name for host in hosts})

    def delete_snapshot(self, name: str) -> None:
        """Nothing to do: a container snapshot is its directory, which lab.ops.snapshot removes."""

    def down(self) -> None:
        require_root()
        self._remove_hosts(self._known_host_dirs())
        dhcp = self._dhcp_network()
        if dhcp is not None and stop_dhcp(dhcp):
            self.log(f"DHCP server of network {dhcp.network}: stopped")
        for bridge in self._own_bridges():
            run(["ip", "link", "del", bridge])
        shutil.rmtree(self.config.state_dir, ignore_errors=True)

    # ---- the one-NIC network's DHCP server -------------------------------------------------------------------
    def _dhcp_network(self) -> DhcpNetwork | None:
        """What the lab's DHCP server serves on the shared management network (the one-NIC case): each host's
        temporary address, to the host name its dhclient sends; None for a lab without one."""
        shared = self.config.topology.mgmt_network
        if not shared:
            return None
        network = self.config.topology.network(shared)
        reservations = tuple(Reservation(host.name, self._mgmt(host).ip) for host in self.config.hosts)
        return DhcpNetwork(self.config.name, shared, self.mgmt_bridge, network.subnet, self.config.mgmt_gateway.ip,
                           network.gateway, reservations, self.config.state_dir / "dhcp")

    def _start_dhcp(self) -> None:
        dhcp = self._dhcp_network()
        if dhcp is None:
            return
        try:
            pid = start_dhcp(dhcp)
        except (DhcpError, DhcpConfigError) as error:
            raise LabError(str(error)) from None
        self.log(f"DHCP server of network {dhcp.network} on {dhcp.bridge}: dnsmasq {pid} (leases {dhcp.lease_path})")

    # ---- bridges -------------------------------------------------------------------------------------------
    def _ensure_bridges(self) -> None:
        gateway = self.config.mgmt_gateway
        owner = _link_alias(self.mgmt_bridge)
        if owner and owner != str(self.config.state_dir):
            raise LabError(f"a lab named '{self.config.name}' is already up from {owner}: take it down there, "
                           f"or pick another LAB_NAME and LAB_MGMT_SUBNET")
        if not _link_exists(self.mgmt_bridge):
            require_unrouted(self.config.mgmt_subnet, "the management subnet")
            run(["ip", "link", "add", self.mgmt_bridge, "type", "bridge"])
            run(["ip", "link", "set", "dev", self.mgmt_bridge, "alias", str(self.config.state_dir)])
        if str(gateway) not in run(["ip", "-4", "-o", "addr", "show", "dev", self.mgmt_bridge]).stdout:
            run(["ip", "addr", "add", str(gateway), "dev", self.mgmt_bridge])
        run(["ip", "link", "set", self.mgmt_bridge, "up"])
        require_usable(self.config.topology.networks, ())  # the bridges only: the hosts are probed before booting
        for bridge in self.bridges.values():
            if bridge == self.mgmt_bridge or bridge in self.existing.values():
                continue
            if not _link_exists(bridge):
                run(["ip", "link", "add", bridge, "type", "bridge"])
                run(["ip", "link", "set", "dev", bridge, "alias", str(self.config.state_dir)])
            run(["ip", "link", "set", bridge, "up"])

    def _own_bridges(self) -> list[str]:
        """Every bridge of this lab on the machine (each carries the lab's state directory as its alias)."""
        return [path.name for path in sorted(Path("/sys/class/net").iterdir())
                if (path / "bridge").is_dir() and _link_alias(path.name) == str(self.config.state_dir)]

    def _remove_surplus_bridges(self) -> None:
        """Bridges of networks the lab no longer has (its topology changed)."""
        wanted = {self.mgmt_bridge, *self.bridges.values()}
        for bridge in self._own_bridges():
            if bridge not in wanted:
                run(["ip", "link", "del", bridge])
                self.log(f"bridge {bridge}: removed (its network is not part of this lab any more)")

    # ---- one host ------------------------------------------------------------------------------------------
    def _mgmt(self, host: Host) -> ipaddress.IPv4Interface:
        assert host.mgmt_address is not None
        return host.mgmt_address

    def _mount_root(self, host: Host, rootfs: Path) -> Path:
        """Mounts the host's root: its writable layer (upper) over the cached root filesystem."""
        directory = self.host_dir(host)
        upper, work, root = directory / "upper", directory / "work", directory / "root"
        for path in (upper, work, root):
            path.mkdir(parents=True, exist_ok=True)
        if not _mountpoint(root):
            run(["mount", "-t", "overlay", "overlay", "-o",
                 f"lowerdir={rootfs},upperdir={upper},workdir={work}", str(root)])
        return root

    def _disk_intact(self, host: Host) -> bool:
        """Whether the host's writable layer was fully prepared (its SSH host key is written last)."""
        return (self.host_dir(host) / "upper/etc/ssh/ssh_host_ed25519_key.pub").is_file()

    def _prepare_root(self, host: Host, rootfs: Path, public_key: str) -> None:
        root = self._mount_root(host, rootfs)
        (root / "etc/hostname").write_text(f"{host.name}\n")
        (root / "etc/hosts").write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{host.name}\n")
        (root / "etc/network/interfaces").write_text(
            INSTALLER_INTERFACES.format(mgmt=MGMT_INTERFACE) if self.config.topology.mgmt_network else
            INTERFACES_TEMPLATE.format(mgmt=MGMT_INTERFACE, address=self._mgmt(host)))
        ssh_dir = root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(public_key)
        host_key = root / "etc/ssh/ssh_host_ed25519_key"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{host.name}", "-f", str(host_key)])

    def _boot(self, host: Host) -> None:
        directory = self.host_dir(host)
        console = (directory / "console.log").open("wb")
        args = [
            "systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--boot",
            f"--machine={self.machine(host)}", f"--hostname={host.name}", f"--directory={directory / 'root'}",
            *(f"--network-veth-extra={link}:{guest}" for link, (guest, _) in self.links(host).items()),
        ]
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        console.close()
        _record_process(directory / "nspawn.pid", process.pid)
        (directory / "links").write_text(self._links_record(host))

    def _links_record(self, host: Host) -> str:
        return "".join(f"{link} {guest} {bridge}\n" for link, (guest, bridge) in self.links(host).items())

    def _wired_as_planned(self, host: Host) -> bool:
        """Whether a running host has the links its topology asks for now (else it is made again)."""
        record = self.host_dir(host) / "links"
        return record.is_file() and record.read_text() == self._links_record(host)

    def _wire(self, host: Host) -> None:
        """Plugs the host's veth ends into the bridges and names its network namespace."""
        links = self.links(host)
        deadline = time.monotonic() + VETH_TIMEOUT_S
        while not all(_link_exists(link) for link in links):
            if not self._pid(self.host_dir(host)) or time.monotonic() > deadline:
                raise self._boot_failure(host)
            time.sleep(0.05)
        for link, (_, bridge) in links.items():
            run(["ip", "link", "set", link, "master", bridge, "up"])
            if bridge == self.mgmt_bridge and not self.config.topology.mgmt_network:
                run(["bridge", "link", "set", "dev", link, "isolated", "on"])
        init = _container_init(self._pid(self.host_dir(host)))
        if init:
            _record_process(self.host_dir(host) / "init", init)
            if not succeeds(["ip", "netns", "pids", self.machine(host)]):
                run(["ip", "netns", "attach", self.machine(host), str(init)], check=False)

    def _boot_failure(self, host: Host) -> LabError:
        lines = (self.host_dir(host) / "console.log").read_text(errors="replace").strip().splitlines()
        return LabError(f"{host.name}: the container did not start (step: boot): {lines[0] if lines else 'no output'}")

    def _write_known_hosts(self) -> None:
        lines = []
        for host in self.config.hosts:
            public = self.host_dir(host) / "root/etc/ssh/ssh_host_ed25519_key.pub"
            if public.is_file():
                key_type, key = public.read_text().split()[:2]
                lines.extend(f"{address} {key_type} {key}\n" for address in self._addresses(host))
        self.config.known_hosts_path.write_text("".join(lines))

    def _addresses(self, host: Host) -> list[str]:
        """Where the host answers SSH: its management address; on a shared management network, also (first) its
        static address there, which site.yml moves it to."""
        shared = host.interface_on(self.config.topology.mgmt_network or "")
        return [*([str(shared.address.ip)] if shared else []), str(self._mgmt(host).ip)]

    def _reached_at(self, host: Host) -> str | None:
        """The first of the host's addresses that answers SSH, if one does."""
        return next((address for address in self._addresses(host)
                     if answers(self.config, "root", address, timeout=10)), None)

    def _pid(self, directory: Path) -> int | None:
        """The nspawn process of a host directory, if it still runs."""
        return _recorded_process(directory / "nspawn.pid")

    def _running(self, host: Host) -> bool:
        return self._pid(self.host_dir(host)) is not None

    def _remove_hosts(self, hosts: dict[str, Path], sig: signal.Signals = signal.SIGTERM) -> None:
        """Stops the hosts (SIGTERM to nspawn: an orderly poweroff; SIGKILL for what is left after
        STOP_TIMEOUT_S), then removes everything each one had on the machine."""
        self._stop_hosts(list(hosts.values()), sig)
        for name, directory in hosts.items():
            self._cleanup_host(name, directory)

    def _stop_hosts(self, directories: list[Path], sig: signal.Signals) -> None:
        pids = [pid for pid in (self._pid(directory) for directory in directories) if pid]
        for pid in pids:
            os.kill(pid, sig)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for pid in pids:
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
                _wait_gone(pid)

    def _cleanup_host(self, name: str, directory: Path) -> None:
        self._release_host(name, directory)
        shutil.rmtree(directory, ignore_errors=True)

    def _release_host(self, name: str, directory: Path) -> None:
        """Removes what a stopped host still has on the machine (init, namespace, links, mount), not its disk."""
        _kill_orphaned_init(directory)
        netns = f"{self.config.name}-{name}"
        if netns in run(["ip", "netns", "list"]).stdout.split():
            run(["ip", "netns", "del", netns], check=False)
        links = directory / "links"
        for link in [line.split()[0] for line in links.read_text().splitlines() if line.strip()] \
                if links.is_file() else []:
            # the namespace goes away asynchronously; its veth pair must be gone before a new host takes the names
            if _link_exists(link):
                run(["ip", "link", "del", link], check=False)
        root = directory / "root"
        if _mountpoint(root):
            unmount(root, check=True)
        shutil.rmtree(Path("/run/systemd/nspawn/unix-export") / netns, ignore_errors=True)

    def _known_host_dirs(self) -> dict[str, Path]:
        hosts_dir = self.config.hosts_dir
        return {d.name: d for d in sorted(hosts_dir.iterdir())} if hosts_dir.is_dir() else {}

    def _remove_surplus_hosts(self) -> None:
        """Hosts of an earlier shape of the lab (LAB_CLIENTS was larger then, or the topology changed)."""
        wanted = {host.name for host in self.config.hosts}
        surplus = {name: directory for name, directory in self._known_host_dirs().items() if name not in wanted}
        self._remove_hosts(surplus)
        for name in surplus:
            self.log(f"{name}: removed (not part of this lab any more)")


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the container lab needs root (systemd-nspawn, bridges, mounts): run it with sudo")
    if shutil.which("systemd-nspawn") is None:
        raise LabError("systemd-nspawn is not installed (run: make deps)")


def ensure_inotify_instances(wanted: int, log: Callable[[str], None], limit: Path = INOTIFY_LIMIT) -> None:
    """Raises the machine's inotify instance limit to `wanted` when it is lower (never lowers it)."""
    try:
        current = int(limit.read_text())
    except (OSError, ValueError):
        return
    if current < wanted:
        try:
            limit.write_text(f"{wanted}\n")
        except OSError as error:
            raise LabError(f"cannot raise {limit} from {current} to {wanted} ({error.strerror}): the hosts' systemd "
                           f"would run out of inotify instances") from None
        log(f"raised fs.inotify.max_user_instances from {current} to {wanted} (each host's systemd needs some)")


def _alive(pid: int) -> bool:
    return process_state(pid) not in ("", "Z")  # a zombie has ended


def _wait_gone(pid: int, timeout: float = STOP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def _start_time(pid: int) -> str:
    """A process's start time (clock ticks since boot): tells it apart from a later process with its PID."""
    fields = stat_fields(pid)
    return fields[19] if len(fields) > 19 else ""  # field 22, starttime


def _record_process(path: Path, pid: int) -> None:
    """Writes a process's PID and start time, so that a later process with the same PID is not taken for it."""
    path.write_text(f"{pid} {_start_time(pid)}\n")


def _recorded_process(path: Path) -> int | None:
    """The PID a _record_process file names, if that very process is still alive.

    (Its start time tells it apart, not its /proc cmdline: that reads empty at moments while nspawn sets up
    the container, which made a host that was starting look dead.)"""
    try:
        pid_text, start = path.read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) and _start_time(pid) == start else None


def _kill_orphaned_init(directory: Path) -> None:
    """A container whose nspawn was killed keeps running under PID 1 of the machine: end it (and its namespace)."""
    pid = _recorded_process(directory / "init")
    if pid:
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid)


def _link_alias(name: str) -> str:
    """The alias of a link (the lab driver writes its state directory there), or ''."""
    try:
        return Path("/sys/class/net", name, "ifalias").read_text().strip()
    except OSError:
        return ""


def _mountpoint(path: Path) -> bool:
    return path.is_dir() and succeeds(["mountpoint", "-q", str(path)])


def _container_init(nspawn_pid: int | None) -> int | None:
    """PID 1 of the container: the child of nspawn that runs systemd."""
    if not nspawn_pid:
        return None
    deadline = time.monotonic() + VETH_TIMEOUT_S
    while time.monotonic() < deadline:
        children = Path(f"/proc/{nspawn_pid}/task/{nspawn_pid}/children")
        for child in children.read_text().split() if children.exists() else []:
            status = Path(f"/proc/{child}/status").read_text()
            if "NSpid:" in status and status.split("NSpid:")[1].split("\n")[0].split()[-1] == "1":
                return int(child)
        time.sleep(0.05)
    return None
