"""`lab capture`: tcpdump on the machine's side of a lab network (its bridge), into a pcap file Wireshark opens.

Reference: docs/lab.md#operating-a-lab
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Protocol

from lab.errors import LabError
from lab.model import MGMT_NETWORK as MGMT  # the management network (SSH, Ansible), besides the lab's own
from lab.plumbing.shell import log
from lab.state import LabConfig

SNAPLEN = 262144  # whole packets
STOP_TIMEOUT_S = 10


class CaptureProvider(Protocol):
    def capture_interface(self, network: str) -> str: ...


def split_network(words: list[str], networks: list[str], default: str) -> tuple[str, list[str]]:
    """`[NETWORK] [FILTER...]`: the network when the first word names one of `networks` or the management
    network (else `default`), and the filter."""
    if words and (words[0] in networks or words[0] == MGMT):
        return words[0], words[1:]
    return default, words


def default_pcap(config: LabConfig, network: str, now: float) -> Path:
    return config.captures_dir / f"{network}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}.pcap"


def tcpdump_command(interface: str, path: Path, count: int | None, filter_words: list[str]) -> list[str]:
    """tcpdump writing every packet at once (-U) to `path`, as root (-Z root: the file may be anywhere root writes)."""
    return ["tcpdump", "-i", interface, "-n", "-U", "-Z", "root", "-s", str(SNAPLEN), "-w", str(path),
            *(["-c", str(count)] if count else []), *filter_words]


def capture(config: LabConfig, provider: CaptureProvider, network: str, path: Path | None, count: int | None,
            filter_words: list[str]) -> Path:
    """Captures until COUNT packets or Ctrl-C; returns the pcap file's path."""
    if shutil.which("tcpdump") is None:
        raise LabError("tcpdump is not installed (run: make deps)")
    if count is not None and count < 1:
        raise LabError(f"-c {count}: the packet count must be at least 1")
    interface = provider.capture_interface(network)
    if not Path("/sys/class/net", interface).exists():
        raise LabError(f"the {network} network's interface {interface} does not exist here: is the lab up?")
    target = (path or default_pcap(config, network, time.time())).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    log(f"capturing on {interface} (the lab's {network} network) into {target}"
        f"{f' until {count} packets' if count else ''}; Ctrl-C stops")
    process = subprocess.Popen(tcpdump_command(interface, target, count, filter_words), stdin=subprocess.DEVNULL)
    try:
        code = process.wait()
    except KeyboardInterrupt:  # tcpdump got the Ctrl-C too: it writes out what it has and exits
        try:
            code = process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        code = 0 if code in (0, -2, 130) else code
    if code != 0 or not target.is_file():
        raise LabError(f"tcpdump on {interface} failed (exit status {code}; see above)")
    log(f"wrote {target} (open it with wireshark, or: tcpdump -nr {target})")
    return target
