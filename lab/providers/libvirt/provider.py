"""The VM provider: each lab host is a Debian 12 VM made by Vagrant (vagrant/Vagrantfile) with vagrant-libvirt.

libvirt runs a guest under KVM when lab.providers.libvirt.kvm proved that one really boots here, else under QEMU's
software emulation (TCG). eth0 is on the lab's isolated management network (libvirt DHCP; the machine reaches
each VM over libvirt's bridge, VMs have no NAT); each network of the topology is a libvirt network with no address
on the machine, and the VMs' interfaces on them start unconfigured: only the static_ip role gives them their
addresses. In the one-NIC case (management: {network: NAME}) that lab network is the VMs' management network: a
libvirt network the lab defines itself, isolated, whose DHCP (libvirt's dnsmasq) gives each VM's eth0 the temporary
address the topology planned for it (by the MAC the lab gives that NIC), as the box's `iface eth0 inet dhcp` asks;
site.yml then moves eth0 to its static address. Domains, networks and the storage pool carry the lab's name;
Vagrant's state lives in the lab's state directory, and vagrant/Vagrantfile reads the lab's resolved topology
(.lab/NAME/topology.json) for its machines, networks and addresses.

Reference: docs/providers.md#vms-lab_providerlibvirt-vagrant--libvirt-what-auto-makes
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from lab.errors import LabError
from lab.images.box import BOX_NAME, PUBLIC_BOX, ensure_box, installed_boxes
from lab.model import MGMT_NETWORK, Connection, Host
from lab.plumbing.existing_bridge import require_usable
from lab.plumbing.progress import VagrantSteps, heartbeat
from lab.plumbing.shell import require_unrouted, run
from lab.plumbing.ssh import ssh_command
from lab.providers.base import CONTAINER_LAB_SECONDS
from lab.providers.libvirt.kvm import kvm_verdict
from lab.providers.libvirt.snapshot import DomainSnapshots
from lab.providers.libvirt.tools import LIBVIRT_URI, ensure_libvirtd, require_tools, virsh
from lab.providers.libvirt.vagrant import DEFAULT_VM_MEMORY_MIB, QUIET_LINE, VAGRANT_DIR, parse_ssh_config
from lab.state import LabConfig

VAGRANT_UP_TIMEOUT_S = 1800
KEYSCAN_TIMEOUT_S = 60


# Console lines that mean a guest will never come up: stop waiting (vagrant would, for boot_timeout seconds).
BOOT_FAILURES = re.compile(r"Kernel panic - not syncing.*|Gave up waiting for root .*|You are in emergency mode.*|"
                           r"ALERT! .* does not exist.*")


ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def boot_failure(console: str) -> str | None:
    """The console line saying that the guest's boot failed for good, if any."""
    match = BOOT_FAILURES.search(ANSI_COLOUR.sub("", console))
    return match.group(0).strip()[:160] if match else None


def mac_on_network(domiflist: str, network: str) -> str | None:
    """The MAC of the domain's interface whose source is `network` (a libvirt network, or the bridge of a public
    network), from `virsh domiflist` output."""
    for line in domiflist.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[2] == network and re.fullmatch(r"[0-9a-f:]{17}", fields[4].lower()):
            return fields[4].lower()
    return None


def interface_with_mac(listing: str, mac: str) -> str | None:
    """The guest interface whose address is `mac`, from lines 'NAME MAC'."""
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].lower() == mac.lower():
            return fields[0]
    return None


def table_names(listing: str) -> list[str]:
    """First column of a virsh table (`vol-list`), below its dashed rule."""
    lines = listing.splitlines()
    rule = next((i for i, line in enumerate(lines) if line.strip().startswith("---")), None)
    return [line.split()[0] for line in lines[rule + 1:] if line.strip()] if rule is not None else []


def network_bridge(net_info: str) -> str | None:
    """The bridge of a libvirt network, from `virsh net-info NETWORK` output."""
    for line in net_info.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Bridge" and value.strip():
            return value.strip()
    return None


def management_mac(lab: str, host: str) -> str:
    """The MAC the lab gives a VM's NIC on a shared management network: fixed per lab and host, so that the DHCP
    reservation matches it before the VM exists (52:54:00 is QEMU's prefix)."""
    digest = hashlib.sha256(f"{lab}/{host}".encode()).digest()
    return "52:54:00:" + ":".join(f"{byte:02x}" for byte in digest[:3])


def parse_macs(setting: str) -> dict[str, str]:
    """LAB_MGMT_MACS ('host=mac,host=mac') as a dict."""
    return dict(pair.split("=", 1) for pair in setting.split(",") if "=" in pair)


DNSMASQ_XMLNS = "http://libvirt.org/schemas/network/dnsmasq/1.0"  # libvirt's passthrough of dnsmasq options


def shared_network_xml(name: str, machine: ipaddress.IPv4Interface,
                       reservations: list[tuple[str, str, ipaddress.IPv4Address]],
                       router: ipaddress.IPv4Address | None = None) -> str:
    """An isolated libvirt network (no <forward>: no NAT, no route out) with DHCP for exactly the reserved
    (host, MAC, address) triples and no DNS; `machine` is this machine's address on it. libvirt's dnsmasq offers no
    router on an isolated network (an untagged empty `dhcp-option=3`); with `router` (the network's gateway) the
    reserved hosts get it as theirs: a dnsmasq option tagged `known` (set for a host with a reservation), which
    dnsmasq prefers to the untagged one."""
    hosts = "".join(f"      <host mac='{mac}' name='{host}' ip='{address}'/>\n" for host, mac, address in reservations)
    first = min(address for _, _, address in reservations)
    last = max(address for _, _, address in reservations)
    namespace = f" xmlns:dnsmasq='{DNSMASQ_XMLNS}'" if router else ""
    options = (f"  <dnsmasq:options>\n    <dnsmasq:option value='dhcp-option=tag:known,option:router,{router}'/>\n"
               f"  </dnsmasq:options>\n") if router else ""
    return (f"<network{namespace}>\n  <name>{name}</name>\n  <dns enable='no'/>\n"
            f"  <ip address='{machine.ip}' netmask='{machine.netmask}'>\n    <dhcp>\n"
            f"      <range start='{first}' end='{last}'/>\n{hosts}    </dhcp>\n  </ip>\n{options}</network>\n")


def known_hosts_lines(keyscan_output: str) -> list[str]:
    return [line for line in keyscan_output.splitlines() if line.strip() and not line.startswith("#")]


class LibvirtLab:
    """Creates, recovers, inspects and removes the VMs of one lab through Vagrant and libvirt."""

    name = "libvirt"

    def __init__(self, config: LabConfig, log: Callable[[str], None] = print) -> None:
        self.config = config
        self.log = log
        self.pool = f"{config.name}-pool"
        self.networks = {network.name: f"{config.name}-{network.name}" for network in config.topology.networks}
        # what `virsh domiflist` names as a NIC's source: the libvirt network, or the existing bridge it is on
        self.nic_sources = {network.name: network.bridge or self.networks[network.name]
                            for network in config.topology.networks}
        shared = config.topology.mgmt_network  # the one-NIC case: that lab network is the management network
        self.mgmt_network = self.networks[shared] if shared else f"{config.name}-mgmt"
        self.dotfile_dir = config.vagrant_dir
        self.console_dir = config.console_dir

    def domain(self, host: str) -> str:
        return f"{self.config.name}-{host}"

    # ---- public operations -------------------------------------------------------------------------------
    def prepare(self) -> LabConfig:
        """The machine checked and readied (libvirtd, the box, KVM or not, leftovers gone); the settings the
        VMs are made with (box, driver, memory, console logs) in the config, which the Vagrantfile reads."""
        if not self.config.hosts:  # external hosts only: no VM, no box, no Vagrant (its 'default' machine)
            return self.config
        require_tools()
        # existing bridges (public networks): usable, and no planned address taken (running VMs are not probed)
        require_usable(self.config.topology.networks,
                       [host for host in self.config.hosts if self._domain_state(self.domain(host.name)) != "running"])
        ensure_libvirtd(self.log)
        step = time.monotonic()
        box = self._choose_box()  # first: the KVM probe boots the local box's kernel, which a fresh machine lacks
        self.log(f"box: {box} (ready in {time.monotonic() - step:.0f} s)")
        # LAB_LIBVIRT_DRIVER as given, or as the lab's VMs were made with (they are defined for that driver)
        verdict = kvm_verdict(self.log, environ=self.config.provider_settings)
        estimate = emulation_estimate(verdict.driver, len(self.config.hosts))
        self.log(f"libvirt driver: {verdict.driver} ({verdict.reason}){estimate}")
        if not (self.dotfile_dir / "machines").is_dir():
            self._remove_libvirt_leftovers()
        self._remove_surplus_machines()
        self._check_mgmt_subnet(self.config.mgmt_subnet)
        self._ensure_pool()
        macs = self._ensure_shared_network()
        self.console_dir.mkdir(parents=True, exist_ok=True)
        memory = self.config.provider_settings.get("LAB_VM_MEMORY", str(DEFAULT_VM_MEMORY_MIB))
        self.config = replace(self.config, provider_settings={
            **self.config.provider_settings, "LAB_BOX": box, "LAB_LIBVIRT_DRIVER": verdict.driver,
            "LAB_VM_MEMORY": memory, "LAB_CONSOLE_DIR": str(self.console_dir),
            **({"LAB_MGMT_MACS": ",".join(f"{host}={mac}" for host, mac in macs.items())} if macs else {})})
        return self.config

    def up(self) -> list[Connection]:
        """The VMs booted with Vagrant (which reads the lab's record, saved after prepare())."""
        if not self.config.hosts:
            return []
        env = self._vagrant_env()
        self._stop_failed_vms()
        self._vagrant_up(env)
        machines = parse_ssh_config(self._vagrant(env, ["ssh-config"], "read the SSH settings (vagrant ssh-config)"))
        with ThreadPoolExecutor(max_workers=8) as pool:  # one VM's slowness does not add up with the others'
            keys = list(pool.map(lambda host: self._host_keys(host, machines), self.config.hosts))
            path = self.config.known_hosts_path
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.write_text("".join(f"{line}\n" for lines in keys for line in lines))
            connections = list(pool.map(lambda host: self._first_login(host, machines), self.config.hosts))
        return connections

    def down(self) -> None:
        if shutil.which("virsh") is None:
            shutil.rmtree(self.config.state_dir, ignore_errors=True)
            return
        ensure_libvirtd(self.log)
        DomainSnapshots(virsh, self._lab_domains()).delete_all()  # vagrant destroy fails on a VM with snapshots
        if self.config.state_path.is_file() and shutil.which("vagrant") and (self.dotfile_dir / "machines").is_dir():
            try:
                self._vagrant(self._vagrant_env(), ["destroy", "-f"], "vagrant destroy")
            except LabError as error:
                self.log(f"{error}: removing the VMs with virsh")
        self._remove_libvirt_leftovers()
        shutil.rmtree(self.config.state_dir, ignore_errors=True)

    def states(self) -> dict[str, str]:
        return {host.name: self._domain_state(self.domain(host.name)) or "absent" for host in self.config.hosts}

    def capture_interface(self, network: str) -> str:
        """The bridge libvirt made on this machine for a lab network, or for the management network ('mgmt')."""
        if network != MGMT_NETWORK and self.config.topology.network(network).bridge:
            return self.nic_sources[network]  # an existing bridge of this machine (a public network)
        name = self.mgmt_network if network == MGMT_NETWORK else self.networks[network]
        bridge = network_bridge(virsh("net-info", name, check=False))
        if bridge is None:
            raise LabError(f"libvirt has no network {name} with a bridge: is the lab up?")
        return bridge

    # ---- snapshots (lab.providers.libvirt.snapshot) --------------------------------------------
    def _snapshots(self) -> DomainSnapshots:
        return DomainSnapshots(virsh, [self.domain(host.name) for host in self.config.hosts])

    def save_snapshot(self, name: str, directory: Path) -> None:
        ensure_libvirtd(self.log)
        self._snapshots().save(name)

    def restore_snapshot(self, name: str, directory: Path) -> None:
        ensure_libvirtd(self.log)
        self._snapshots().restore(name)

    def delete_snapshot(self, name: str) -> None:
        ensure_libvirtd(self.log)
        self._snapshots().delete(name)

    # ---- box ------------------------------------------------------------------------------------------------
    def _choose_box(self) -> str:
        """LAB_BOX (or the lab's box) if set, downloaded when it is not added yet; else the public box if it was
        added; else the local box, built offline when missing or out of date. Nothing is downloaded unless asked."""
        wanted = self.config.provider_settings.get("LAB_BOX", "")  # LAB_BOX, or the box the lab's VMs came from
        boxes = installed_boxes()
        if wanted == BOX_NAME or (not wanted and (BOX_NAME, "libvirt") in boxes):
            return ensure_box(self.log, boxes=boxes)
        if wanted or (PUBLIC_BOX, "libvirt") in boxes:
            box = wanted or PUBLIC_BOX
            if (box, "libvirt") not in boxes:
                self._add_public_box(box)
            return box
        return ensure_box(self.log, boxes=boxes)

    def _add_public_box(self, box: str) -> None:
        self.log(f"downloading the box {box} (once)")
        run(["vagrant", "box", "add", "--no-color", "--provider", "libvirt", box], timeout=3600,
            what=f"vagrant box add {box}")

    # ---- libvirt objects ---------------------------------------------------------------------------------
    def _check_mgmt_subnet(self, subnet: ipaddress.IPv4Network) -> None:
        if self._network_active(self.mgmt_network):
            return
        require_unrouted(subnet, "the VM management subnet")

    def _ensure_pool(self) -> None:
        if self.pool not in virsh("pool-list", "--all", "--name").split():
            path = Path("/var/lib/libvirt/images") / self.pool
            virsh("pool-define-as", self.pool, "dir", "--target", str(path))
            virsh("pool-build", self.pool)
        if self.pool not in virsh("pool-list", "--name").split():
            virsh("pool-start", self.pool)

    def _ensure_shared_network(self) -> dict[str, str]:
        """The one-NIC case: the shared management network defined and started with a DHCP reservation per VM
        (Vagrant then uses it as its management network); each VM's MAC on it. Nothing for other labs."""
        if not self.config.topology.mgmt_network:
            return {}
        macs = {host.name: management_mac(self.config.name, host.name) for host in self.config.hosts}
        if self.mgmt_network not in virsh("net-list", "--all", "--name").split():
            reservations = [(host.name, macs[host.name], host.mgmt_address.ip)
                            for host in self.config.hosts if host.mgmt_address is not None]
            xml = self.config.state_dir / "shared-network.xml"
            xml.parent.mkdir(parents=True, exist_ok=True)
            router = self.config.topology.network(self.config.topology.mgmt_network).gateway
            xml.write_text(shared_network_xml(self.mgmt_network, self.config.mgmt_gateway, reservations, router))
            virsh("net-define", str(xml))
            self.log(f"network {self.mgmt_network}: libvirt's DHCP gives "
                     + ", ".join(f"{host} {address}" for host, _, address in reservations)
                     + (f", router {router}" if router else ", no router"))
        if not self._network_active(self.mgmt_network):
            virsh("net-start", self.mgmt_network)
        return macs

    def _domain_state(self, domain: str) -> str | None:
        result = run(["virsh", "-c", LIBVIRT_URI, "domstate", domain], check=False, timeout=60)
        return result.stdout.strip() if result.returncode == 0 else None

    def _network_active(self, network: str) -> bool:
        return network in virsh("net-list", "--name").split()

    def _lab_domains(self) -> list[str]:
        prefix = f"{self.config.name}-"  # lab names have no '-': no other lab's domain starts so
        return [name for name in virsh("list", "--all", "--name").split() if name.startswith(prefix)]

    def _remove_libvirt_leftovers(self) -> None:
        """Every domain, network and volume of this lab that libvirt still has, whatever Vagrant thinks."""
        for domain in self._lab_domains():
            self._remove_domain(domain)
            self.log(f"removed the VM {domain}")
        all_networks = virsh("net-list", "--all", "--name").split()
        for network in all_networks:
            if network.startswith(f"{self.config.name}-"):  # the management network's name too
                if self._network_active(network):
                    virsh("net-destroy", network, check=False)
                virsh("net-undefine", network, check=False)
        if self.pool in virsh("pool-list", "--all", "--name").split():
            if self.pool not in virsh("pool-list", "--name").split():
                virsh("pool-start", self.pool, check=False)
            for volume in table_names(virsh("vol-list", self.pool, check=False)):
                virsh("vol-delete", "--pool", self.pool, volume, check=False)
            virsh("pool-destroy", self.pool, check=False)
            virsh("pool-delete", self.pool, check=False)
            virsh("pool-undefine", self.pool, check=False)

    def _remove_domain(self, domain: str) -> None:
        """Stop a VM and remove it with its storage; its snapshots go first (libvirt refuses to undefine a
        domain that has snapshots)."""
        DomainSnapshots(virsh, [domain]).delete_all()
        if self._domain_state(domain) in ("running", "paused", "in shutdown"):
            virsh("destroy", domain, check=False)
        virsh("undefine", domain, "--remove-all-storage", "--nvram", check=False)

    def _remove_surplus_machines(self) -> None:
        """VMs of an earlier shape of the lab (LAB_CLIENTS was larger then, or the topology changed): the
        Vagrantfile no longer defines them, so they go through libvirt, and their Vagrant state with them."""
        wanted = {self.domain(host.name) for host in self.config.hosts}
        machines = self.dotfile_dir / "machines"
        for domain in self._lab_domains() if machines.is_dir() else []:
            if domain not in wanted:
                self._remove_domain(domain)
                shutil.rmtree(machines / domain.removeprefix(f"{self.config.name}-"), ignore_errors=True)
                self.log(f"{domain}: removed (not part of this lab any more)")

    # ---- vagrant --------------------------------------------------------------------------------------------
    def _vagrant_env(self) -> dict[str, str]:
        return {
            "VAGRANT_CWD": str(VAGRANT_DIR), "VAGRANT_DOTFILE_PATH": str(self.dotfile_dir),
            "VAGRANT_DEFAULT_PROVIDER": "libvirt", "VAGRANT_CHECKPOINT_DISABLE": "1",
            "LAB_STATE": str(self.config.state_path),
        }

    def _vagrant(self, env: dict[str, str], args: list[str], step: str) -> str:
        return run(["vagrant", *args, "--no-color"], env={**os.environ, **env}, what=f"step '{step}'").stdout

    def _vagrant_up(self, env: dict[str, str]) -> None:
        started = time.monotonic()
        driver = self.config.provider_settings["LAB_LIBVIRT_DRIVER"]
        self.log(f"boot ({'KVM' if driver == 'kvm' else 'software emulation, TCG'}): "
                 f"vagrant up {' '.join(h.name for h in self.config.hosts)} (console logs in {self.console_dir})")
        log_path = self.config.vagrant_log
        # by name: with no machine named, Vagrant would also make the Vagrantfile's implicit 'default' one
        args = ["vagrant", "up", "--provider=libvirt", "--no-provision", "--no-color",
                *(host.name for host in self.config.hosts)]
        failures: list[str] = []
        with log_path.open("w") as log_file:
            process = subprocess.Popen(args, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            assert process.stdout is not None
            watcher = threading.Thread(target=self._watch_consoles, args=(process, failures), daemon=True)
            watcher.start()
            tail: list[str] = []
            steps = VagrantSteps([host.name for host in self.config.hosts])
            with heartbeat("boot (vagrant up)", steps.summary) as beat:
                for raw in process.stdout:
                    for line in raw.replace("\r", "\n").replace("\x1b[K", "").splitlines():
                        log_file.write(f"{time.monotonic() - started:6.1f} {line}\n")
                        if line.strip() and not QUIET_LINE.search(line):
                            print(f"    {line}", flush=True)
                            tail = [*tail[-4:], line.strip()]
                            steps.note(line)
                            beat.output()
            try:
                code = process.wait(timeout=VAGRANT_UP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                code = -1
        if failures:
            raise LabError(f"{failures[0]} (step: boot); console logs in {self.console_dir}; "
                           f"'make lab-down' cleans up")
        if code != 0:
            raise LabError(f"step 'boot (vagrant up)' failed: {self._diagnose() or (tail[-1] if tail else '?')}; "
                           f"log {log_path}; 'make lab-up' again or 'make lab-down'")
        self.log(f"boot: VMs up and reachable over SSH in {time.monotonic() - started:.0f} s")

    def _stop_failed_vms(self) -> None:
        """A VM left hung by a failed boot is powered off, so that vagrant up boots it again."""
        for host in self.config.hosts:
            failure = boot_failure(self._console(host))
            if failure and self._domain_state(self.domain(host.name)) == "running":
                virsh("destroy", self.domain(host.name), check=False)
                self.log(f"{host.name}: its last boot failed ({failure}): powered off to boot it again")

    def _watch_consoles(self, process: subprocess.Popen[str], failures: list[str]) -> None:
        """Interrupts vagrant up as soon as a VM's console shows that its boot failed for good."""
        while process.poll() is None:
            for host in self.config.hosts:
                failure = boot_failure(self._console(host))
                if failure:
                    failures.append(f"{host.name}: the VM's boot failed: {failure}")
                    process.send_signal(signal.SIGINT)
                    try:
                        process.wait(timeout=60)
                    except subprocess.TimeoutExpired:
                        process.kill()
                    return
            time.sleep(2)

    def _console(self, host: Host) -> str:
        """What the VM's serial console has printed so far ('' before it starts)."""
        console = self.console_dir / f"{host.name}.log"
        return console.read_text(errors="replace") if console.is_file() else ""

    def _diagnose(self) -> str:
        """Names the VMs that are not up, with the last line of their console."""
        problems = []
        for host in self.config.hosts:
            state = self._domain_state(self.domain(host.name)) or "not created"
            lines = [line.strip() for line in ANSI_COLOUR.sub("", self._console(host)).splitlines() if line.strip()]
            problems.append(f"{host.name}: VM {state}, console: {lines[-1][:120] if lines else 'empty'}")
        return "; ".join(problems)

    # ---- SSH ------------------------------------------------------------------------------------------------
    def _host_keys(self, host: Host, machines: dict[str, dict[str, str]]) -> list[str]:
        """The VM's SSH host key as known_hosts lines, read over the management network (ssh-keyscan)."""
        machine = machines.get(host.name)
        if machine is None:
            raise LabError(f"{host.name}: vagrant ssh-config knows no such machine (step: read SSH settings)")
        deadline = time.monotonic() + KEYSCAN_TIMEOUT_S
        while True:
            result = run(["ssh-keyscan", "-T", "10", "-t", "ed25519", "-p", machine.get("port", "22"),
                          machine["hostname"]], check=False, timeout=30)
            found = known_hosts_lines(result.stdout)
            if found:
                return found
            if time.monotonic() > deadline:
                raise LabError(f"{host.name}: no SSH host key from {machine['hostname']} (step: ssh-keyscan)")
            time.sleep(1)

    def _first_login(self, host: Host, machines: dict[str, dict[str, str]]) -> Connection:
        """Checks SSH and passwordless sudo, names the host, and finds its LAN interface by its MAC."""
        machine = machines[host.name]
        address, port, user = machine["hostname"], int(machine.get("port", "22")), machine.get("user", "vagrant")
        key = machine["identityfile"]
        domiflist = virsh("domiflist", self.domain(host.name))
        macs = {}
        for interface in host.interfaces:
            mac = mac_on_network(domiflist, self.nic_sources[interface.network])
            if mac is None:
                raise LabError(f"{host.name}: the VM has no interface on the network "
                               f"{self.nic_sources[interface.network]}")
            macs[interface.network] = mac
        name = host.name
        script = (
            "sudo -n true || { echo NO-SUDO; exit 3; }; "
            f"if [ \"$(hostname)\" != {name} ]; then "
            f"sudo -n sed -i '/^127\\.0\\.1\\.1[[:space:]]/d' /etc/hosts; "
            f"printf '127.0.1.1\\t{name}\\n' | sudo -n tee -a /etc/hosts >/dev/null; "
            f"sudo -n hostnamectl set-hostname {name} 2>/dev/null || "
            f"{{ echo {name} | sudo -n tee /etc/hostname >/dev/null; sudo -n hostname {name}; }}; fi 2>/dev/null; "
            "for d in /sys/class/net/*; do echo \"${d##*/} $(cat $d/address)\"; done"
        )
        result = run([*ssh_command(self.config, user, address, port, key), script], check=False, timeout=120)
        if "NO-SUDO" in result.stdout:
            raise LabError(f"{host.name}: {user} has no passwordless sudo (step: first login)")
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise LabError(f"{host.name}: SSH as {user}@{address} failed (step: first login): "
                           f"{detail[-1] if detail else result.returncode}")
        names = {}
        for network, mac in macs.items():
            interface = interface_with_mac(result.stdout, mac)
            if interface is None:
                raise LabError(f"{host.name}: no interface with the MAC {mac} of network {network} in the guest "
                               f"(step: first login)")
            names[network] = interface
        lan = ", ".join(f"{i.address} on {names[i.network]}" for i in host.interfaces)
        self.log(f"{host.name}: up (management {address}; {lan}; VM {self.domain(host.name)})")
        return Connection(host.name, address, port, user, key, names)


TCG_LAB_SECONDS = (180, 50)  # measured here: the seed's two VMs up and checked, and each further VM (docs/providers.md)


def emulation_estimate(driver: str, vms: int) -> str:
    """What to expect from a lab under software emulation, for the log ('' under KVM)."""
    if driver == "kvm":
        return ""
    first, more = TCG_LAB_SECONDS
    minutes = (first + more * max(vms - 2, 0)) / 60
    return (f"; software emulation is slow: expect about {minutes:.0f} min for {vms} VM(s) up and checked "
            f"(LAB_PROVIDER=nspawn makes containers in about {CONTAINER_LAB_SECONDS} s)")
