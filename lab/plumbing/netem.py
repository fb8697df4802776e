"""Whether a kernel has netem: tried for real (a netem qdisc added and deleted on a veth in a throwaway network
namespace), never guessed from a module list or a kernel version. NETEM_PROBE runs where the hosts' kernel is:
on this machine for containers, in a guest for VMs (lab.tc)."""

from __future__ import annotations

import functools
import subprocess

PROBE_TIMEOUT = 30.0
# netem tried for real in a throwaway network namespace (no dummy driver here: a veth pair); exit 0: netem works.
NETEM_PROBE = (
    "unshare --net sh -c 'ip link add labprobe0 type veth peer name labprobe1 && "
    "tc qdisc add dev labprobe0 root netem delay 1ms && tc qdisc del dev labprobe0 root'"
)


@functools.cache
def machine_has_netem() -> bool:
    """This machine's kernel (the one containers share), probed once per process."""
    try:
        result = subprocess.run(["sh", "-c", NETEM_PROBE], capture_output=True, text=True, timeout=PROBE_TIMEOUT,
                                check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0
