"""The KVM probe's pure parts and its process handling (with stand-in commands instead of QEMU)."""

from __future__ import annotations

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


def test_cached_verdict_is_used_only_for_the_same_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(kvm, "cache_path", lambda: tmp_path / "kvm-probe.json")
    kvm._write_cache("boot-1|qemu|kernel", Verdict("kvm", "a KVM guest reached userspace in 1.2 s"))
    assert kvm._read_cache("boot-1|qemu|kernel") == Verdict("kvm", "a KVM guest reached userspace in 1.2 s (cached)")
    assert kvm._read_cache("boot-2|qemu|kernel") is None
