"""The cached Debian 12 root filesystem the container hosts boot from, made with debootstrap.

Reference: docs/providers.md#containers-lab_providernspawn
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from lab.errors import LabError
from lab.plumbing.shell import run

SUITE = "bookworm"
CACHE_DIR = Path(os.environ.get("LAB_CACHE_DIR", "/var/cache/chatlab"))
PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "ifupdown", "iproute2", "python3", "python3-apt",
    "sudo", "iputils-ping", "netcat-openbsd", "procps", "isc-dhcp-client",
    "weechat-headless",  # the chat_client role's IRC client (chat_client_irc_client): the hosts have no archive
)
# Units that only slow a container's boot down or do not apply to it.
MASKED_UNITS = ("e2scrub_reap.service", "apt-daily.timer", "apt-daily-upgrade.timer", "systemd-timesyncd.service")
FINALIZE_VERSION = "1"  # bump when finalize() changes, so cached trees are rebuilt
SSHD_DROP_IN = "PasswordAuthentication no\nPermitRootLogin prohibit-password\nUseDNS no\n"


def rootfs_key() -> str:
    digest = hashlib.sha256(" ".join((SUITE, FINALIZE_VERSION, *PACKAGES)).encode()).hexdigest()
    return f"{SUITE}-{digest[:12]}"


def mask_units(root: Path, units: Iterable[str]) -> None:
    """Masks systemd units in a root filesystem: a link to /dev/null, as `systemctl mask` makes."""
    for unit in units:
        link = root / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")


def rootfs_path() -> Path:
    return CACHE_DIR / "rootfs" / rootfs_key()


def debian_mirror() -> str:
    """LAB_MIRROR, else the first Debian archive this machine's apt already uses, else debootstrap's default."""
    if os.environ.get("LAB_MIRROR"):
        return os.environ["LAB_MIRROR"]
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))]
    for source in sources:
        text = source.read_text(errors="replace") if source.is_file() else ""
        for url in re.findall(r"(?:^deb\s+(?:\[[^]]*\]\s+)?|^URIs:\s*)(\S+)", text, flags=re.MULTILINE):
            if url.rstrip("/").endswith("/debian"):
                return url
    return ""


def finalize(root: Path) -> None:
    """Turns a fresh debootstrap tree into a lab host template (host keys and identity come per host)."""
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/ssh/sshd_config.d/chatlab.conf").write_text(SSHD_DROP_IN)
    (root / "etc/machine-id").write_text("")
    dbus_id = root / "var/lib/dbus/machine-id"
    if dbus_id.exists() or dbus_id.is_symlink():
        dbus_id.unlink()
    mask_units(root, MASKED_UNITS)
    shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
    (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)


def ensure_rootfs(log: Callable[[str], None] = print) -> Path:
    """Returns the cached tree, building it first when it is missing (about 75-90 s)."""
    path = rootfs_path()
    if (path / ".chatlab-rootfs").is_file():
        return path
    building = path.with_name(path.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    log(f"building the Debian {SUITE} root filesystem with debootstrap (once; cached in {path})")
    started = time.monotonic()
    args = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(building)]
    mirror = debian_mirror()
    if mirror:
        args.append(mirror)
    try:
        run(args, timeout=1800)
    except LabError as error:
        raise LabError(f"debootstrap could not build the root filesystem: {error}") from None
    finalize(building)
    (building / ".chatlab-rootfs").write_text(f"{rootfs_key()}\n{' '.join(PACKAGES)}\n")
    shutil.rmtree(path, ignore_errors=True)
    building.rename(path)
    log(f"root filesystem ready in {time.monotonic() - started:.0f} s")
    return path
