"""lab.images.rootfs.finalize on a tree of the test's own: what a fresh debootstrap tree must lose before every
host boots from it (its SSH host keys, its machine id: shared, every host would have the same) and what it gets."""

from __future__ import annotations

import os
from pathlib import Path

from lab.images.rootfs import MASKED_UNITS, SSHD_DROP_IN, finalize


def debootstrapped(root: Path) -> Path:
    """The parts of a fresh debootstrap tree that finalize touches (and a few it must leave alone)."""
    for directory in ("etc/ssh/sshd_config.d", "etc/systemd/system", "var/lib/dbus", "var/cache/apt/archives/partial"):
        (root / directory).mkdir(parents=True)
    for kind in ("ed25519", "ecdsa", "rsa"):
        (root / f"etc/ssh/ssh_host_{kind}_key").write_text("PRIVATE")
        (root / f"etc/ssh/ssh_host_{kind}_key.pub").write_text("PUBLIC")
    (root / "etc/ssh/sshd_config").write_text("Include /etc/ssh/sshd_config.d/*.conf\n")
    (root / "etc/ssh/ssh_config").write_text("Host *\n")
    (root / "etc/machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    os.symlink("/etc/machine-id", root / "var/lib/dbus/machine-id")
    (root / "var/cache/apt/archives/openssh-server_1_amd64.deb").write_bytes(b"deb")
    (root / "etc/systemd/system/apt-daily.timer").write_text("[Timer]\n")  # a unit file where the mask goes
    return root


def test_finalize_removes_the_host_keys_and_empties_the_machine_id(tmp_path: Path) -> None:
    root = debootstrapped(tmp_path / "rootfs")
    finalize(root)
    assert sorted(p.name for p in (root / "etc/ssh").iterdir()) == ["ssh_config", "sshd_config", "sshd_config.d"]
    assert (root / "etc/machine-id").read_text() == ""  # empty, not missing: systemd makes one per host at boot
    assert not os.path.lexists(root / "var/lib/dbus/machine-id")
    assert (root / "etc/ssh/sshd_config.d/chatlab.conf").read_text() == SSHD_DROP_IN
    assert "PasswordAuthentication no" in SSHD_DROP_IN.splitlines()
    for unit in MASKED_UNITS:
        assert os.readlink(root / "etc/systemd/system" / unit) == "/dev/null"
    assert list((root / "var/cache/apt/archives").iterdir()) == [root / "var/cache/apt/archives/partial"]


def test_finalize_twice_is_finalize_once(tmp_path: Path) -> None:
    root = debootstrapped(tmp_path / "rootfs")
    finalize(root)
    finalize(root)
    assert (root / "etc/machine-id").read_text() == ""
    assert not list((root / "etc/ssh").glob("ssh_host_*"))


def test_a_dbus_machine_id_link_goes_even_when_it_points_nowhere_here(tmp_path: Path) -> None:
    root = debootstrapped(tmp_path / "rootfs")
    (root / "var/lib/dbus/machine-id").unlink()
    os.symlink(tmp_path / "nowhere" / "machine-id", root / "var/lib/dbus/machine-id")  # dangling on this machine
    finalize(root)
    assert not os.path.lexists(root / "var/lib/dbus/machine-id")
