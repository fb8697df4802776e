"""The local Vagrant box `chatlab/bookworm64` (libvirt), built offline from the cached container root filesystem.

The container rootfs (lab.images.rootfs) gets a kernel, udev and an initramfs in a chroot, a `vagrant` user with
Vagrant's insecure key and passwordless sudo, eth0 by ifupdown with DHCP (dhclient, as the installer leaves it) and
first-boot ed25519 host keys; `mkfs.ext4 -d` turns the tree into a filesystem, extlinux makes the disk bootable,
`qemu-img convert -c` makes the box image. The box is
rebuilt only when its inputs change (their hash is kept in a stamp beside the box).

Reference: docs/providers.md#the-box
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import struct
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from lab.errors import LabError
from lab.images.rootfs import CACHE_DIR, ensure_rootfs, mask_units, rootfs_key
from lab.plumbing.shell import run, unmount

BOX_NAME = "chatlab/bookworm64"
PUBLIC_BOX = "debian/bookworm64"
BOX_DIR = CACHE_DIR / "box"
DISK_GIB = 8
PARTITION_START_SECTOR = 2048  # 1 MiB: room for the MBR and alignment
SECTOR = 512
EXTRA_PACKAGES = ("linux-image-amd64", "initramfs-tools", "udev", "zstd")
# Only what a virtio (libvirt) or SATA/e1000 (other hypervisors) guest needs: a small initramfs boots fast under TCG.
INITRAMFS_MODULES = ("virtio_pci", "virtio_blk", "virtio_scsi", "virtio_net", "virtio_console", "ext4",
                     "ahci", "ata_piix", "sd_mod", "e1000")
# mitigations=off: a lab VM runs only the lab's own code, and under emulation (TCG) the Meltdown mitigation (PTI)
# flushes the emulated TLB on every system call: measured here, Python starts 1.8x faster without it.
KERNEL_ARGS = "ro console=ttyS0,115200n8 net.ifnames=0 biosdevname=0 fsck.mode=skip mitigations=off"
# ifupdown-pre only waits for udev to settle: eth0's driver is in the initramfs already, so networking can start.
MASKED_UNITS = ("e2scrub_all.timer", "e2scrub_reap.service", "man-db.timer", "fstrim.timer", "ifupdown-pre.service",
                "getty@tty1.service")
# A private /dev for the chroot: package scripts must not touch the machine's device nodes (udev's postinst
# re-owns /dev/kvm to the chroot's own kvm group otherwise).
CHROOT_DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9),
                  ("tty", 5, 0))
MBR_CODE_PATHS = (Path("/usr/lib/syslinux/mbr/mbr.bin"), Path("/usr/lib/EXTLINUX/mbr.bin"))
INSECURE_KEY_GLOBS = ("/usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub",
                      "/opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub")

HOST_KEYS_UNIT = """\
[Unit]
Description=Generate this VM's own SSH host key (ed25519 only: RSA takes a minute under emulation)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key

[Install]
WantedBy=multi-user.target
"""
# eth0 (management) as the Debian installer leaves it: ifupdown with DHCP (dhclient), brought up by udev's hotplug
# (ifup@eth0.service), so that the static_ip role's confirmed move and rollback work on it as on an installed
# machine. The static_ip role writes every other interface's stanza (eth1, ...). docs/real-networks.md
INTERFACES = """\
# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
allow-hotplug eth0
iface eth0 inet dhcp
"""
# dhclient-script runs every hook per DHCP event, and every process start costs ~1 s under emulation (TCG): the box
# keeps none of these (debug logs nothing unless enabled; no lab DHCP server sends classless routes, option 121;
# systemd-resolved does not run in the box).
DROPPED_HOOKS = ("etc/dhcp/dhclient-enter-hooks.d/debug", "etc/dhcp/dhclient-exit-hooks.d/debug",
                 "etc/dhcp/dhclient-exit-hooks.d/rfc3442-classless-routes", "etc/network/if-up.d/resolved",
                 "etc/network/if-down.d/resolved")
SSHD_DROP_IN = "HostKey /etc/ssh/ssh_host_ed25519_key\nUseDNS no\nPasswordAuthentication no\n"
BOX_VAGRANTFILE = """\
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.disk_bus = "virtio"
    libvirt.nic_model_type = "virtio"
  end
end
"""


def box_file() -> Path:
    return BOX_DIR / "chatlab-bookworm64.box"


def stamp_path() -> Path:
    return BOX_DIR / "stamp"


def kernel_dir() -> Path:
    """The box's kernel and initramfs, kept for the KVM probe (lab.providers.libvirt.kvm)."""
    return BOX_DIR / "kernel"


def insecure_public_key() -> Path:
    for pattern in INSECURE_KEY_GLOBS:
        matches = sorted(Path("/").glob(pattern.lstrip("/")))
        if matches:
            return matches[-1]
    raise LabError("Vagrant's insecure public key was not found: is vagrant installed? (tools/install-deps vm)")


def inputs_hash(public_key: str) -> str:
    """Everything the box is made of: the rootfs, the extra packages, this module's code and the insecure key."""
    digest = hashlib.sha256()
    for part in (rootfs_key(), " ".join(EXTRA_PACKAGES), public_key, Path(__file__).read_text()):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def parse_box_list(listing: str) -> set[tuple[str, str]]:
    """(name, provider) pairs from `vagrant box list --machine-readable`."""
    boxes: set[tuple[str, str]] = set()
    name = None
    for line in listing.splitlines():
        fields = line.split(",")
        if len(fields) >= 4 and fields[2] == "box-name":
            name = fields[3]
        elif len(fields) >= 4 and fields[2] == "box-provider" and name is not None:
            boxes.add((name, fields[3]))
    return boxes


def installed_boxes() -> set[tuple[str, str]]:
    return parse_box_list(run(["vagrant", "box", "list", "--machine-readable"], check=False, timeout=120).stdout)


def box_is_current(boxes: set[tuple[str, str]] | None = None) -> bool:
    try:
        wanted = inputs_hash(insecure_public_key().read_text())
    except LabError:
        return False
    stamp = stamp_path()
    if not (stamp.is_file() and stamp.read_text().strip() == wanted and box_file().is_file()):
        return False
    return (BOX_NAME, "libvirt") in (installed_boxes() if boxes is None else boxes)


def ensure_box(log: Callable[[str], None] = print, force: bool = False,
               boxes: set[tuple[str, str]] | None = None) -> str:
    """Builds and adds the local box when it is missing or its inputs changed; returns its name."""
    if force or not box_is_current(boxes):
        build_box(log)
    else:
        log(f"box: {BOX_NAME} is up to date ({box_file()})")
    return BOX_NAME


def build_box(log: Callable[[str], None] = print) -> Path:
    if os.geteuid() != 0:
        raise LabError("building the box needs root (chroot, loop mount): run it with sudo")
    for tool in ("vagrant", "qemu-img", "extlinux", "mkfs.ext4", "losetup", "chroot"):
        if shutil.which(tool) is None:
            raise LabError(f"{tool} is not installed (run: tools/install-deps vm)")
    public_key = insecure_public_key().read_text()
    wanted = inputs_hash(public_key)
    started = time.monotonic()
    rootfs = ensure_rootfs(log)
    work = BOX_DIR / "build"
    _remove_tree(work)
    root = work / "root"
    work.mkdir(parents=True)
    log(f"box: copying the root filesystem {rootfs.name}")
    run(["cp", "-a", "--reflink=auto", str(rootfs), str(root)], timeout=600)
    step = time.monotonic()
    log(f"box: installing {', '.join(EXTRA_PACKAGES)} in a chroot")
    _install_packages(root)
    log(f"box: packages installed in {time.monotonic() - step:.0f} s")
    root_uuid = str(uuid.uuid4())
    kernel, initrd = _configure(root, public_key, root_uuid)
    kernel_dir().mkdir(parents=True, exist_ok=True)
    shutil.copyfile(kernel, kernel_dir() / "vmlinuz")
    shutil.copyfile(initrd, kernel_dir() / "initrd.img")
    step = time.monotonic()
    raw = work / "disk.raw"
    _make_disk(root, raw, root_uuid)
    image = work / "box.img"
    run(["qemu-img", "convert", "-c", "-O", "qcow2", str(raw), str(image)], timeout=900)
    raw.unlink()
    log(f"box: disk image made in {time.monotonic() - step:.0f} s ({image.stat().st_size / 2**20:.0f} MiB)")
    box = box_file()
    _package(work, image, box)
    _remove_tree(work)
    run(["vagrant", "box", "add", "--force", "--name", BOX_NAME, str(box)], timeout=900)
    stamp_path().write_text(wanted + "\n")
    log(f"box: {BOX_NAME} built and added in {time.monotonic() - started:.0f} s "
        f"({box.stat().st_size / 2**20:.0f} MiB, {box})")
    return box


# ---- the tree -----------------------------------------------------------------------------------------------
def _install_packages(root: Path) -> None:
    (root / "etc/initramfs-tools/conf.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/initramfs-tools/conf.d/chatlab").write_text("MODULES=list\nCOMPRESS=zstd\n")
    modules = root / "etc/initramfs-tools/modules"
    modules.parent.mkdir(parents=True, exist_ok=True)
    modules.write_text("".join(f"{name}\n" for name in INITRAMFS_MODULES))
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")  # no service starts inside the chroot
    policy.chmod(0o755)
    archives = BOX_DIR / "apt-archives"
    (archives / "partial").mkdir(parents=True, exist_ok=True)
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
    with _chroot_mounts(root, archives):
        for args in (["apt-get", "update", "-qq"],
                     ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *EXTRA_PACKAGES]):
            run(["chroot", str(root), *args], env=env, timeout=1200, what=f"box: '{' '.join(args)}' in the chroot")
    policy.unlink()
    shutil.rmtree(root / "var/lib/apt/lists", ignore_errors=True)
    (root / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)


@contextmanager
def _chroot_mounts(root: Path, archives: Path) -> Iterator[None]:
    mounts = [(["-t", "proc", "proc"], root / "proc"), (["-t", "sysfs", "-o", "ro", "sysfs"], root / "sys"),
              (["-t", "tmpfs", "-o", "mode=755", "tmpfs"], root / "dev"),
              (["--bind", str(archives)], root / "var/cache/apt/archives")]
    done: list[Path] = []
    try:
        for args, target in mounts:
            target.mkdir(parents=True, exist_ok=True)
            run(["mount", *args, str(target)])
            done.append(target)
        for name, major, minor in CHROOT_DEVICES:
            os.mknod(root / "dev" / name, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        (root / "dev/pts").mkdir()
        (root / "dev/shm").mkdir()
        (root / "dev/fd").symlink_to("/proc/self/fd")
        shutil.copyfile("/etc/resolv.conf", root / "etc/resolv.conf")
        yield
    finally:
        for target in reversed(done):
            unmount(target)
        (root / "etc/resolv.conf").write_text("")


def _configure(root: Path, public_key: str, root_uuid: str) -> tuple[Path, Path]:
    """Makes the tree a Vagrant box; returns its kernel and initramfs."""
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise LabError("box: no kernel in /boot after installing linux-image-amd64")
    version = kernels[-1].name.removeprefix("vmlinuz-")
    initrd = root / "boot" / f"initrd.img-{version}"
    if not initrd.is_file():
        raise LabError(f"box: no initramfs for kernel {version}")
    (root / "etc/hostname").write_text("bookworm\n")
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\tbookworm\n")
    (root / "etc/fstab").write_text(f"UUID={root_uuid} / ext4 errors=remount-ro 0 0\n")  # no fsck: 4 s at boot
    if not (root / "sbin/dhclient").exists():
        raise LabError("box: no /sbin/dhclient in the root filesystem (isc-dhcp-client): eth0 gets its address by DHCP")
    (root / "etc/network/interfaces").write_text(INTERFACES)
    for hook in DROPPED_HOOKS:
        (root / hook).unlink(missing_ok=True)
    (root / "etc/ssh/sshd_config.d/chatlab.conf").write_text(SSHD_DROP_IN)
    (root / "etc/systemd/system/chatlab-host-keys.service").write_text(HOST_KEYS_UNIT)
    _enable(root, "chatlab-host-keys.service", "multi-user.target")
    mask_units(root, MASKED_UNITS)
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    _add_vagrant_user(root, public_key)
    extlinux = root / "boot/extlinux"
    extlinux.mkdir(parents=True, exist_ok=True)
    (extlinux / "extlinux.conf").write_text(
        f"DEFAULT debian\nTIMEOUT 1\nPROMPT 0\nSERIAL 0 115200\n\nLABEL debian\n"
        f"    LINUX /boot/vmlinuz-{version}\n    INITRD /boot/initrd.img-{version}\n"
        f"    APPEND root=UUID={root_uuid} {KERNEL_ARGS}\n")
    return kernels[-1], initrd


def _enable(root: Path, unit: str, target: str) -> None:
    """What `systemctl enable` does for a unit with a plain WantedBy (no systemd needed in the chroot)."""
    for directory in ("etc/systemd/system", "lib/systemd/system"):
        if (root / directory / unit).is_file():
            wants = root / "etc/systemd/system" / f"{target}.wants" / unit
            wants.parent.mkdir(parents=True, exist_ok=True)
            wants.unlink(missing_ok=True)
            wants.symlink_to(f"/{directory}/{unit}")
            return
    raise LabError(f"box: no unit {unit} to enable")


def _add_vagrant_user(root: Path, public_key: str) -> None:
    if "\nvagrant:" not in "\n" + (root / "etc/passwd").read_text():
        run(["chroot", str(root), "useradd", "--create-home", "--shell", "/bin/bash", "--user-group", "vagrant"])
    run(["chroot", str(root), "passwd", "--lock", "vagrant"])
    ssh_dir = root / "home/vagrant/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(public_key)
    (ssh_dir / "authorized_keys").chmod(0o600)
    run(["chroot", str(root), "chown", "-R", "vagrant:vagrant", "/home/vagrant/.ssh"])
    sudoers = root / "etc/sudoers.d/vagrant"
    sudoers.write_text("vagrant ALL=(ALL) NOPASSWD: ALL\nDefaults:vagrant !requiretty\n")
    sudoers.chmod(0o440)


# ---- the disk -----------------------------------------------------------------------------------------------
def mbr(boot_code: bytes, start_sector: int, sectors: int) -> bytes:
    """A DOS master boot record: `boot_code` (at most 440 bytes), one bootable Linux partition, the signature."""
    if len(boot_code) > 440:
        raise LabError(f"MBR boot code is {len(boot_code)} bytes, at most 440 fit")
    # status 0x80 (bootable), CHS first (unused: LBA only), type 0x83 (Linux), CHS last, LBA first, sector count
    entry = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff", start_sector, sectors)
    return boot_code.ljust(440, b"\0") + b"\0" * 6 + entry + b"\0" * 48 + b"\x55\xaa"


def _make_disk(root: Path, raw: Path, root_uuid: str) -> None:
    size = DISK_GIB * 2**30
    offset = PARTITION_START_SECTOR * SECTOR
    blocks = (size - offset) // 4096
    with raw.open("wb") as disk:
        disk.truncate(size)
    # No 64bit/metadata_csum: extlinux must be able to read the filesystem.
    run(["mkfs.ext4", "-q", "-F", "-L", "chatlab-root", "-U", root_uuid, "-O", "^64bit,^metadata_csum",
         "-E", f"offset={offset}", "-d", str(root), str(raw), str(blocks)], timeout=900)
    mount_point = raw.parent / "mnt"
    mount_point.mkdir(exist_ok=True)
    run(["mount", "-o", f"loop,offset={offset}", str(raw), str(mount_point)])
    try:
        run(["extlinux", "--install", str(mount_point / "boot/extlinux")])
    finally:
        unmount(mount_point)
    code = next((path for path in MBR_CODE_PATHS if path.is_file()), None)
    if code is None:
        raise LabError("extlinux's mbr.bin was not found (install extlinux/syslinux-common)")
    with raw.open("r+b") as disk:
        disk.write(mbr(code.read_bytes()[:440], PARTITION_START_SECTOR, (size - offset) // SECTOR))


def box_metadata() -> dict[str, object]:
    return {"provider": "libvirt", "format": "qcow2", "virtual_size": DISK_GIB}


def _package(work: Path, image: Path, box: Path) -> None:
    (work / "metadata.json").write_text(json.dumps(box_metadata()) + "\n")
    (work / "Vagrantfile").write_text(BOX_VAGRANTFILE)
    box.parent.mkdir(parents=True, exist_ok=True)
    partial = box.with_suffix(".partial")
    with tarfile.open(partial, "w") as archive:  # the qcow2 inside is compressed already
        for path in (work / "metadata.json", work / "Vagrantfile", image):
            archive.add(path, arcname=path.name)
    partial.replace(box)


def _remove_tree(path: Path) -> None:
    """Removes a build tree, refusing while anything is still mounted inside it."""
    if not path.exists():
        return
    mounts = Path("/proc/mounts").read_text().split("\n")
    if any(f" {path}/" in line for line in mounts):
        raise LabError(f"box: something is still mounted under {path}: unmount it first")
    shutil.rmtree(path)
