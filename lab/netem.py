"""Whether a kernel has netem: tried for real (a netem qdisc added and deleted on a veth in a throwaway network
namespace), never guessed from a module list or a kernel version. The probe script is lab.tc_script.NETEM_PROBE;
a provider runs it where its hosts' kernel is (this machine for containers, a guest for VMs)."""

from __future__ import annotations

import functools
import subprocess

from lab.tc_script import NETEM_PROBE

PROBE_TIMEOUT = 30.0


@functools.cache
def machine_has_netem() -> bool:
    """This machine's kernel (the one containers share), probed once per process."""
    try:
        result = subprocess.run(["sh", "-c", NETEM_PROBE], capture_output=True, text=True, timeout=PROBE_TIMEOUT,
                                check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0
