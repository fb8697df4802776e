"""The machine's side of the VM lab: its tools (installed by tools/install-deps vm), libvirtd and virtlogd
(started by hand where no service manager runs them), and libvirt's QEMU access to /dev/kvm."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from lab.errors import LabError
from lab.plumbing.shell import log as lab_log
from lab.plumbing.shell import run, succeeds
from lab.providers.libvirt.kvm import KVM_DEVICE
from lab.state import REPO

VM_TOOLS = ("vagrant", "virsh", "qemu-system-x86_64", "ssh-keyscan")
INSTALL_DEPS = REPO / "tools" / "install-deps"
LIBVIRT_URI = "qemu:///system"
QEMU_USER, KVM_GROUP = "libvirt-qemu", "kvm"


def missing_vm_tools(which: Callable[[str], str | None] = shutil.which) -> list[str]:
    return [tool for tool in VM_TOOLS if which(tool) is None]


def install_vm_tools() -> str | None:
    """Installs the VM lab's Debian packages (tools/install-deps vm); why it could not, or None."""
    if os.geteuid() != 0:
        return "not root"
    lab_log("installing the VM lab's Debian packages (tools/install-deps vm; once)")
    result = subprocess.run([str(INSTALL_DEPS), "vm"], check=False, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        lines = result.stdout.strip().splitlines()
        return lines[-1] if lines else f"exit code {result.returncode}"
    return None


def kvm_accessible(mode: int, owner: int, group: int, uid: int, groups: set[int]) -> bool:
    """Whether a user (uid, groups) may read and write a device with this mode, owner and group."""
    if uid == owner:
        return mode & 0o600 == 0o600
    if group in groups:
        return mode & 0o060 == 0o060
    return mode & 0o006 == 0o006


def virsh(*args: str, check: bool = True) -> str:
    return run(["virsh", "-c", LIBVIRT_URI, *args], check=check, timeout=120).stdout


def require_tools() -> None:
    missing = missing_vm_tools()  # the one list of the VM lab's tools
    if missing:
        raise LabError(f"{missing[0]} is not installed (run: tools/install-deps vm)")


def _pid_alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def ensure_libvirtd(log: Callable[[str], None]) -> None:
    """libvirtd and virtlogd, started by hand when no service manager runs them (checked first: a second
    `libvirtd -d` fails on its pid file). Gives libvirt's QEMU access to /dev/kvm first (see fix_kvm_access)."""
    fix_kvm_access(log)
    if succeeds(["virsh", "-c", LIBVIRT_URI, "version"], timeout=30):
        return
    if os.geteuid() != 0:
        raise LabError(f"libvirtd does not answer on {LIBVIRT_URI}: start it, or run the VM lab as root")
    if Path("/run/systemd/system").is_dir():
        raise LabError("libvirtd does not answer: start it with 'systemctl start libvirtd'")
    for daemon in ("virtlogd", "libvirtd"):
        pid_file = Path(f"/run/{daemon}.pid")
        if _pid_alive(pid_file):
            continue
        pid_file.unlink(missing_ok=True)
        run([daemon, "-d"])
        log(f"started {daemon}")
    deadline = time.monotonic() + 20
    while not succeeds(["virsh", "-c", LIBVIRT_URI, "version"], timeout=30):
        if time.monotonic() > deadline:
            raise LabError("libvirtd was started but does not answer (see /var/log/libvirt/libvirtd.log)")
        time.sleep(0.3)


def fix_kvm_access(log: Callable[[str], None]) -> None:
    """When libvirt's QEMU user cannot open /dev/kvm, libvirtd re-probes QEMU on almost every call (8 s each):
    give the device to the kvm group, which that user belongs to."""
    if not KVM_DEVICE.exists() or os.geteuid() != 0:
        return
    try:
        user = pwd.getpwnam(QEMU_USER)
        kvm = grp.getgrnam(KVM_GROUP)
    except KeyError:
        return
    groups = {user.pw_gid} | {g.gr_gid for g in grp.getgrall() if QEMU_USER in g.gr_mem}
    info = KVM_DEVICE.stat()
    if kvm_accessible(info.st_mode, info.st_uid, info.st_gid, user.pw_uid, groups):
        return
    if kvm.gr_gid not in groups:
        log(f"warning: {QEMU_USER} is not in group {KVM_GROUP}: libvirt will be slow (it re-probes QEMU)")
        return
    os.chown(KVM_DEVICE, -1, kvm.gr_gid)
    os.chmod(KVM_DEVICE, (info.st_mode & 0o7777) | 0o060)
    log(f"gave {KVM_DEVICE} to group {KVM_GROUP} so libvirt's QEMU can open it (libvirtd re-probes QEMU otherwise)")


