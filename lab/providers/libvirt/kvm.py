"""Whether a KVM guest really boots on this machine: the verdict that picks libvirt's driver (kvm, or qemu = TCG).

/dev/kvm proves nothing (a nested paravirtual one accepts KVM_CREATE_VM, then guests crash or crawl), so the probe
boots a real kernel and initramfs under `-accel kvm -cpu kvm64` with a hard timeout and waits for a line only
userspace can print. The verdict is cached per machine boot (and per QEMU and kernel) in the lab cache directory.

Reference: docs/providers.md#kvm-or-emulation
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from lab.errors import LabError
from lab.images.box import kernel_dir
from lab.images.rootfs import CACHE_DIR

DRIVERS = ("kvm", "qemu")
PROBE_TIMEOUT_S = 25
# The shell computes the number: the kernel echoes its command line ("...-$((6*7))"), only userspace prints "42".
MARKER = "CHATLAB-PROBE-42"
KERNEL_APPEND = 'console=ttyS0 panic=-1 rdinit=/bin/sh -- -c "echo CHATLAB-PROBE-$((6*7))"'
KVM_DEVICE = Path("/dev/kvm")


@dataclass(frozen=True)
class Verdict:
    driver: str  # "kvm" or "qemu" (software emulation, TCG)
    reason: str


def cache_path() -> Path:
    return CACHE_DIR / "kvm-probe.json"


def probe_kernels(release: str | None = None) -> list[tuple[Path, Path]]:
    """Kernel + initramfs pairs to boot: the local box's (lab.images.box keeps a copy), then the machine's own."""
    release = release or platform.release()
    return [(kernel_dir() / "vmlinuz", kernel_dir() / "initrd.img"),
            (Path(f"/boot/vmlinuz-{release}"), Path(f"/boot/initrd.img-{release}"))]


def probe_kernel() -> tuple[Path, Path] | None:
    for kernel, initrd in probe_kernels():
        if os.access(kernel, os.R_OK) and os.access(initrd, os.R_OK):
            return kernel, initrd
    return None


def probe_command(qemu: str, kernel: Path, initrd: Path) -> list[str]:
    return [qemu, "-accel", "kvm", "-cpu", "kvm64", "-m", "256", "-smp", "1", "-nodefaults", "-display", "none",
            "-no-reboot", "-serial", "stdio", "-monitor", "none", "-kernel", str(kernel), "-initrd", str(initrd),
            "-append", KERNEL_APPEND]


def userspace_ran(output: str) -> bool:
    """True when the probe's init printed its marker (the kernel's echo of the command line does not count)."""
    return any(line.strip() == MARKER for line in output.splitlines())


def last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1][:160] if lines else "no output"


def cache_key(qemu: str, kernel: Path) -> str:
    """Valid until the machine reboots, QEMU changes or another kernel is probed (a rebuilt box with the same
    kernel keeps the verdict)."""
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot_id = "unknown-boot"
    info = Path(qemu).stat()
    digest = hashlib.sha256(kernel.read_bytes()).hexdigest()[:16]
    return f"{boot_id}|{qemu}:{info.st_size}:{int(info.st_mtime)}|kernel:{digest}"


def run_probe(command: list[str], timeout: float = PROBE_TIMEOUT_S) -> tuple[bool, str, float]:
    """Boots the probe; returns (userspace ran, its output, seconds). Never outlives `timeout`."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    assert process.stdout is not None
    output = b""
    try:
        while time.monotonic() - started < timeout:
            ready, _, _ = select.select([process.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(process.stdout.fileno(), 65536)
                if not chunk:
                    break
                output += chunk
                if userspace_ran(output.decode(errors="replace")):
                    break
            elif process.poll() is not None:
                break
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        process.stdout.close()
    text = output.decode(errors="replace")
    return userspace_ran(text), text, time.monotonic() - started


def kvm_verdict(log: Callable[[str], None] = print, environ: Mapping[str, str] | None = None) -> Verdict:
    """kvm when a KVM guest boots to userspace here, else qemu; LAB_LIBVIRT_DRIVER=kvm|qemu decides instead."""
    env = os.environ if environ is None else environ
    forced = env.get("LAB_LIBVIRT_DRIVER", "")
    if forced:
        if forced not in DRIVERS:
            raise LabError(f"LAB_LIBVIRT_DRIVER={forced!r} is not one of {', '.join(DRIVERS)}")
        return Verdict(forced, "set by LAB_LIBVIRT_DRIVER")
    if not KVM_DEVICE.exists():
        return Verdict("qemu", f"{KVM_DEVICE} does not exist")
    try:
        os.close(os.open(KVM_DEVICE, os.O_RDWR))
    except OSError as error:
        return Verdict("qemu", f"{KVM_DEVICE} cannot be opened ({error.strerror})")
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise LabError("qemu-system-x86_64 is not installed (run: tools/install-deps vm)")
    pair = probe_kernel()
    if pair is None:
        return Verdict("qemu", "no kernel to test KVM with (run 'make box' for one)")
    kernel, initrd = pair
    key = cache_key(qemu, kernel)
    cached = _read_cache(key)
    if cached is not None:
        return cached
    log(f"testing whether a KVM guest boots here (at most {PROBE_TIMEOUT_S} s, once per machine boot)")
    ran, output, seconds = run_probe(probe_command(qemu, kernel, initrd))
    if ran:
        verdict = Verdict("kvm", f"a KVM guest reached userspace in {seconds:.1f} s")
    else:
        verdict = Verdict("qemu", f"a KVM guest did not reach userspace within {PROBE_TIMEOUT_S} s "
                                  f"(last output: {last_line(output)})")
    _write_cache(key, verdict)
    return verdict


def _read_cache(key: str) -> Verdict | None:
    try:
        data = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return None
    if data.get("key") != key or data.get("driver") not in DRIVERS:
        return None
    return Verdict(data["driver"], f"{data.get('reason', '')} (cached)")


def _write_cache(key: str, verdict: Verdict) -> None:
    try:
        cache_path().parent.mkdir(parents=True, exist_ok=True)
        cache_path().write_text(json.dumps({"key": key, **asdict(verdict)}) + "\n")
    except OSError:
        pass  # not root: the probe simply runs again next time
