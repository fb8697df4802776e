"""Link conditions as each host's script (one tc batch, a shell prelude only where needed): what they say, and (as
root) what they do in namespaces of the test's own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from lab.conditions import NONE, ConditionError, Conditions, Port, Shaping
from lab.ops.tc import run_script
from lab.outputs.tc_script import clearing, host_script, machine_script, netem_args, refusal, tbf_args
from lab.plumbing.netem import machine_has_netem


def test_netem_gets_every_key_in_tcs_units() -> None:
    given = Conditions(delay=80, jitter=5, loss=2, corrupt=0.5, duplicate=1, reorder=25, rate=10000)
    assert netem_args(given) == ["netem", "limit", "100000", "delay", "80ms", "5ms", "loss", "2%", "corrupt", "0.5%",
                                 "duplicate", "1%", "reorder", "25%", "rate", "10000kbit"]


def test_a_netem_replace_says_the_keys_the_kernel_would_keep_from_before_as_zero() -> None:
    # `tc qdisc replace ... netem delay 20ms` over a netem with corrupt, reorder and rate keeps all three
    assert netem_args(Conditions(delay=20)) == ["netem", "limit", "100000", "delay", "20ms", "corrupt", "0%",
                                                "reorder", "0%", "rate", "0kbit"]


def test_without_netem_the_netem_only_keys_are_refused_in_one_line_that_names_the_way_out() -> None:
    error = refusal([("networks.lana.tc", Conditions(loss=1)), ("networks.lanb.tc", Conditions(delay=80, loss=1))])
    assert isinstance(error, ConditionError)
    assert str(error) == ("networks.lanb.tc.delay: delay needs netem, which this kernel lacks (no sch_netem: here "
                          "loss and rate work, by iptables and tbf); LAB_PROVIDER=libvirt gives them (the VMs' kernel "
                          "has netem)")
    assert refusal([("networks.lan.tc", Conditions(loss=10, rate=1000))]) is None


def test_with_netem_one_qdisc_per_direction_does_it_all_in_one_tc_batch() -> None:
    port = Port("eth1", Shaping(network=Conditions(delay=35, loss=1), own=Conditions(delay=5)))
    done = host_script([port], netem=True)
    assert "qdisc replace dev eth1 root " + " ".join(netem_args(Conditions(delay=40, loss=1))) in done.batch
    assert "qdisc replace dev ifb-eth1 root " + " ".join(netem_args(Conditions(delay=5))) in done.batch
    assert not any("iptables" in line for line in done.prelude)
    assert done.prelude == ("ip link add ifb-eth1 type ifb 2>/dev/null || true", "ip link set ifb-eth1 up")


def test_a_vms_network_conditions_are_one_tc_process_and_no_shell() -> None:
    done = host_script([Port("eth1", Shaping(network=Conditions(delay=20, loss=1))), Port("eth2", Shaping())],
                       netem=True)
    assert done.argv() == ["tc", "-batch", "-"]
    assert done.stdin.splitlines() == [
        "qdisc replace dev eth1 root netem limit 100000 delay 20ms loss 1% corrupt 0% reorder 0% rate 0kbit",
        "qdisc replace dev eth1 handle ffff: ingress", "qdisc del dev eth1 ingress",
        "qdisc replace dev eth2 root pfifo", "qdisc del dev eth2 root",  # back to the default, whatever was there
        "qdisc replace dev eth2 handle ffff: ingress", "qdisc del dev eth2 ingress"]


def test_an_ifb_device_no_longer_wanted_goes_and_only_then_a_shell_runs() -> None:
    assert host_script([Port("eth1", Shaping())], netem=True, had_ifb=["eth1"]).prelude == (
        "ip link del ifb-eth1 2>/dev/null || true",)
    assert host_script([Port("eth1", Shaping(own=Conditions(delay=5)))], netem=True,
                       had_ifb=["eth1"]).prelude[0].startswith("ip link add")


def test_a_containers_ingress_is_shaped_on_the_machine_side_of_its_veth() -> None:
    port = Port("eth1", Shaping(network=Conditions(rate=1000), own=Conditions(rate=500, loss=3)), peer="vb-x")
    inside = host_script([port], netem=False)
    machine = machine_script([port], netem=False)
    assert machine.batch == ("qdisc replace dev vb-x root " + " ".join(tbf_args(500)),)
    assert ("iptables -w -t mangle -A LABTC_IN -i eth1 -m statistic --mode random --probability 0.030000 -j DROP"
            in inside.prelude)
    assert not any("ifb" in line for line in inside.prelude + inside.batch)
    assert not any("ingress" in line for line in inside.batch)


def test_a_partition_is_a_plain_drop() -> None:
    done = host_script([Port("eth1", Shaping(network=Conditions(loss=100)))], netem=False)
    assert "iptables -w -t mangle -A LABTC_IN -i eth1 -j DROP" in done.prelude


def test_without_netem_a_networks_loss_is_dropped_on_the_way_in_where_the_sender_sees_no_error() -> None:
    done = host_script([Port("eth1", Shaping(network=Conditions(loss=10)))], netem=False)
    assert [line for line in done.prelude if " -A LABTC" in line] == [
        "iptables -w -t mangle -A LABTC_IN -i eth1 -m statistic --mode random --probability 0.100000 -j DROP"]


# ---- for real, in two namespaces joined by a veth pair ------------------------------------------------------
def _skip_reason() -> str | None:
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root on Linux (network namespaces, tc, iptables)"
    missing = [tool for tool in ("ip", "tc", "iptables", "unshare") if shutil.which(tool) is None]
    return f"missing {', '.join(missing)}" if missing else None


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=check)


@dataclass
class Pair:
    a: str
    b: str
    a_dev: str = "eth1"
    b_dev: str = "eth1"
    a_ip: str = "10.123.0.1"
    b_ip: str = "10.123.0.2"

    def run(self, ns: str, text: str) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", ns, "sh", "-c", text, check=False)

    def udp_received(self, count: int) -> int:
        """Sends `count` UDP datagrams from a to b; how many arrive."""
        receiver = subprocess.Popen(
            ["ip", "netns", "exec", self.b, sys.executable, "-c",
             "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',9999))\n"
             "s.settimeout(1.0)\nn=0\nprint('ready',flush=True)\n"
             "try:\n  while True:\n    s.recv(64); n+=1\nexcept TimeoutError: pass\nprint(n)"],
            stdout=subprocess.PIPE, text=True)
        assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
        sh("ip", "netns", "exec", self.a, sys.executable, "-c",
           f"import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
           f"for i in range({count}):\n  s.sendto(b'x',('{self.b_ip}',9999)); time.sleep(0.0005)")
        out, _ = receiver.communicate(timeout=30)
        return int(out.strip())


@pytest.fixture
def pair() -> Iterator[Pair]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    tag = uuid.uuid4().hex[:6]
    pair = Pair(f"tcta-{tag}", f"tctb-{tag}")
    try:
        for ns in (pair.a, pair.b):
            sh("ip", "netns", "add", ns)
        sh("ip", "-n", pair.a, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1", "netns", pair.b)
        for ns, ip in ((pair.a, pair.a_ip), (pair.b, pair.b_ip)):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth1")
            sh("ip", "-n", ns, "link", "set", "eth1", "up")
        yield pair
    finally:
        for ns in (pair.a, pair.b):
            sh("ip", "netns", "del", ns, check=False)


def _apply(pair: Pair, ports: list[Port], netem: bool, ns: str = "") -> str | None:
    """The host's script run in namespace `ns` as lab.ops.tc runs it (cleared after a failure); None or why not."""
    def run(argv: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", ns or pair.a, *argv], input=stdin, capture_output=True,
                              text=True, timeout=60, check=False)
    return run_script(run, host_script(ports, netem), clearing(ports, netem))


def test_loss_and_rate_without_netem_are_applied_and_a_reset_clears_them(pair: Pair) -> None:
    assert _apply(pair, [Port("eth1", Shaping(network=Conditions(loss=10, rate=2000)))], netem=False) is None
    assert "tbf" in pair.run(pair.a, "tc qdisc show dev eth1").stdout
    assert "statistic" in pair.run(pair.a, "iptables -t mangle -S LABTC_IN").stdout
    assert _apply(pair, [Port("eth1", Shaping())], netem=False) is None
    assert "tbf" not in pair.run(pair.a, "tc qdisc show dev eth1").stdout
    assert "statistic" not in pair.run(pair.a, "iptables -t mangle -S LABTC_IN").stdout


def test_a_partition_drops_everything_and_a_reset_lets_everything_through(pair: Pair) -> None:
    for ns in (pair.a, pair.b):  # the network's conditions go on every interface attached to it
        assert _apply(pair, [Port("eth1", Shaping(network=Conditions(loss=100)))], netem=False, ns=ns) is None
    assert pair.udp_received(200) == 0  # and the sender saw no error (udp_received checks its exit status)
    for ns in (pair.a, pair.b):
        assert _apply(pair, [Port("eth1", Shaping(NONE))], netem=False, ns=ns) is None
    assert pair.udp_received(200) == 200


def test_what_fails_halfway_is_cleared_never_half_applied(pair: Pair) -> None:
    ports = [Port("eth1", Shaping(network=Conditions(rate=2000, loss=5))),
             Port("nosuch0", Shaping(network=Conditions(rate=1000)))]
    problem = _apply(pair, ports, netem=False)
    assert problem is not None and "nosuch0" in problem, problem
    assert "tbf" not in pair.run(pair.a, "tc qdisc show dev eth1").stdout
    assert "statistic" not in pair.run(pair.a, "iptables -t mangle -S LABTC_IN").stdout


def test_the_netem_probe_agrees_with_trying_netem_here(pair: Pair) -> None:
    tried = pair.run(pair.b, "tc qdisc add dev eth1 root netem delay 1ms")
    assert machine_has_netem() is (tried.returncode == 0)
    assert "labprobe" not in sh("ip", "link", "show").stdout
