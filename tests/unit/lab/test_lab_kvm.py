"""The KVM probe's pure parts and its process handling (with stand-in commands instead of QEMU)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from lab.errors import LabError
from lab.providers.libvirt import kvm
from lab.providers.libvirt.kvm import MARKER, Verdict, kvm_verdict, last_line, probe_command, run_probe, userspace_ran


def test_the_kernels_echo_of_its_command_line_does_not_count() -> None:
    kernel_log = f"[    0.000000] Kernel command line: console=ttyS0 {kvm.KERNEL_APPEND}\n"
    assert not userspace_ran(kernel_log)
    assert userspace_ran(kernel_log + "[    6.88] Run /bin/sh as init process\r\nCHATLAB-PROBE-42\r\n")


def test_probe_command_uses_kvm_with_a_named_cpu_never_host() -> None:
    command = probe_command("qemu-system-x86_64", Path("/k"), Path("/i"))
    assert command[command.index("-accel") + 1] == "kvm"
    assert command[command.index("-cpu") + 1] == "kvm64"
    assert "-no-reboot" in command and "host" not in command


def test_last_line_is_short_and_not_empty() -> None:
    assert last_line("a\n\n  b  \n\n") == "b"
    assert last_line("") == "no output"
    assert len(last_line("x" * 500)) == 160


def test_run_probe_stops_at_the_marker() -> None:
    started = time.monotonic()
    ran, output, _ = run_probe(["sh", "-c", f"echo booting; echo {MARKER}; sleep 30"], timeout=10)
    assert ran and "booting" in output
    assert time.monotonic() - started < 5


def test_run_probe_never_outlives_its_timeout() -> None:
    started = time.monotonic()
    ran, output, _ = run_probe(["sh", "-c", "echo decompressing; sleep 30"], timeout=1)
    assert not ran and "decompressing" in output
    assert time.monotonic() - started < 4


def test_run_probe_of_a_crashing_guest() -> None:
    ran, output, _ = run_probe(["sh", "-c", "echo 'KVM internal error. Suberror: 1'; exit 1"], timeout=10)
    assert not ran and last_line(output) == "KVM internal error. Suberror: 1"


def test_forced_driver_skips_the_probe() -> None:
    assert kvm_verdict(environ={"LAB_LIBVIRT_DRIVER": "qemu"}) == Verdict("qemu", "set by LAB_LIBVIRT_DRIVER")
    with pytest.raises(LabError, match="LAB_LIBVIRT_DRIVER"):
        kvm_verdict(environ={"LAB_LIBVIRT_DRIVER": "host"})


def test_no_kvm_device_means_qemu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(kvm, "KVM_DEVICE", tmp_path / "kvm")
    assert kvm_verdict(environ={}).driver == "qemu"


def test_the_verdict_is_cached_under_the_real_key_until_the_kernel_or_qemu_changes(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """kvm_verdict with its real cache_key(): a stand-in qemu-system-x86_64 on PATH that boots to userspace (it
    prints the marker) and counts its runs; a stand-in /dev/kvm that opens; a kernel file of the test's own."""
    runs = tmp_path / "runs"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    qemu = bin_dir / "qemu-system-x86_64"
    qemu.write_text(f'#!/bin/sh\necho "$@" >>{runs}\necho booting\necho {MARKER}\n')
    qemu.chmod(0o755)
    kernel, initrd = tmp_path / "vmlinuz", tmp_path / "initrd.img"
    kernel.write_bytes(b"kernel one")
    initrd.write_bytes(b"initrd")
    (tmp_path / "kvm").write_bytes(b"")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr(kvm, "KVM_DEVICE", tmp_path / "kvm")
    monkeypatch.setattr(kvm, "probe_kernel", lambda: (kernel, initrd))
    monkeypatch.setattr(kvm, "cache_path", lambda: tmp_path / "kvm-probe.json")

    def probes() -> int:
        return len(runs.read_text().splitlines()) if runs.exists() else 0

    first = kvm_verdict(log=lambda line: None, environ={})
    assert first.driver == "kvm" and first.reason.startswith("a KVM guest reached userspace in ")
    assert probes() == 1 and "-accel kvm -cpu kvm64 " in runs.read_text() and f"-kernel {kernel} " in runs.read_text()
    key = kvm.cache_key(str(qemu), kernel)
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert key.startswith(f"{boot_id}|{qemu}:") and json.loads((tmp_path / "kvm-probe.json").read_text())["key"] == key

    assert kvm_verdict(log=lambda line: None, environ={}) == Verdict("kvm", f"{first.reason} (cached)")
    assert probes() == 1  # the same machine boot, QEMU and kernel: not probed again
    kernel.write_bytes(b"kernel two")
    assert not kvm_verdict(log=lambda line: None, environ={}).reason.endswith("(cached)")
    assert probes() == 2  # another kernel: probed again
    qemu.write_text(qemu.read_text() + "# another QEMU\n")
    kvm_verdict(log=lambda line: None, environ={})
    assert probes() == 3  # another QEMU: probed again
    kvm_verdict(log=lambda line: None, environ={})
    assert probes() == 3
