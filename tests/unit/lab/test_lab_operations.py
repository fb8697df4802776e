"""The lab operations' pure parts: which hosts `lab exec` targets and what their shell runs, the journal command,
`lab capture`'s arguments and tcpdump command, and the checks' results table made from a
real pytest run's JUnit XML (with the lab.pytest_hosts plugin)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lab.config import configure, up_request
from lab.errors import LabError
from lab.ops.capture import default_pcap, split_network, tcpdump_command
from lab.ops.remote import as_root, journal_script, prefixed, remote_script, resolve_hosts
from lab.outputs.results import CheckResult, parse_junit, summary_table
from lab.providers.libvirt.provider import network_bridge

HOSTS = ["server", "client1", "client2"]


def test_resolve_hosts_all_names_and_unknown_names() -> None:
    assert resolve_hosts("all", HOSTS) == HOSTS
    assert resolve_hosts("client2,server", HOSTS) == ["server", "client2"]  # in the lab's order
    with pytest.raises(LabError, match="no host client9 in this lab \\(hosts: server, client1, client2, or all\\)"):
        resolve_hosts("server,client9", HOSTS)
    with pytest.raises(LabError, match="no host"):
        resolve_hosts(",", HOSTS)


def test_remote_script_keeps_one_shell_line_or_quotes_each_word() -> None:
    assert remote_script(["hostname | tr a-z A-Z"]) == "hostname | tr a-z A-Z"
    assert remote_script(["ls", "-d", "/tmp/a b", "it's"]) == "ls -d '/tmp/a b' 'it'\"'\"'s'"
    with pytest.raises(LabError, match="no command given"):
        remote_script([])


def test_as_root_goes_through_sudo_for_another_user() -> None:
    assert as_root("journalctl", "root") == "journalctl"
    assert as_root("a 'b'", "vagrant") == "sudo -n sh -c 'a '\"'\"'b'\"'\"''"


def test_prefixed_aligns_host_names() -> None:
    assert prefixed("server", "up", 7) == "server  | up"


def test_journal_script_refuses_what_is_not_a_unit_name() -> None:
    script = journal_script("chatlab-chat", follow=True, lines=20)
    assert script.endswith("exec journalctl --no-pager -u chatlab-chat -n 20 -f")
    assert "-f" not in journal_script("ssh.service", follow=False, lines=5)
    with pytest.raises(LabError, match="is not a systemd unit name"):
        journal_script("x; reboot", follow=False, lines=5)


def test_split_network_takes_a_network_name_only_when_it_is_one() -> None:
    networks = ["lan", "wan"]
    assert split_network([], networks, "lan") == ("lan", [])
    assert split_network(["mgmt", "tcp", "port", "22"], networks, "lan") == ("mgmt", ["tcp", "port", "22"])
    assert split_network(["wan", "icmp"], networks, "lan") == ("wan", ["icmp"])
    assert split_network(["tcp", "port", "5000"], networks, "lan") == ("lan", ["tcp", "port", "5000"])


def test_tcpdump_command_and_default_file(tmp_path: Path) -> None:
    config = configure(up_request({"LAB_NAME": "cap"}, root=tmp_path), "nspawn")
    path = default_pcap(config, "lan", 0)
    assert path.parent == tmp_path / ".lab" / "cap" / "captures" and path.name.startswith("lan-")
    assert path.suffix == ".pcap"
    assert tcpdump_command("cap-lan", path, 10, ["tcp", "port", "5000"]) == [
        "tcpdump", "-i", "cap-lan", "-n", "-U", "-Z", "root", "-s", "262144", "-w", str(path), "-c", "10",
        "tcp", "port", "5000"]
    assert "-c" not in tcpdump_command("cap-lan", path, None, [])


def test_network_bridge_from_virsh_net_info() -> None:
    info = "Name:           lab-lan\nUUID:           1234\nActive:         yes\nBridge:         virbr3\n"
    assert network_bridge(info) == "virbr3"
    assert network_bridge("error: failed to get network 'x'\n") is None


CHECKS = '''
import pytest
from dataclasses import dataclass

@dataclass
class LabHost:
    name: str
    host: object

@pytest.fixture
def server():
    return LabHost("server", None)

@pytest.fixture
def clients():
    return [LabHost("client1", None), LabHost("client2", None)]

def test_service(server):
    pass

def test_chat(server, clients):
    assert False, "no message"

def test_playbook():
    pass

@pytest.mark.skip(reason="not here")
def test_skipped(server):
    pass
'''


def test_results_table_from_a_real_junit_report_with_the_hosts_of_each_check(tmp_path: Path) -> None:
    (tmp_path / "test_checks.py").write_text(textwrap.dedent(CHECKS))
    report = tmp_path / "results.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "lab.pytest_hosts",
                    f"--junitxml={report}", str(tmp_path / "test_checks.py")], cwd=tmp_path, capture_output=True,
                   check=False)
    results = parse_junit(report.read_text())
    assert [(r.check, r.hosts, r.result) for r in results] == [
        ("test_checks::test_service", "server", "passed"),
        ("test_checks::test_chat", "server,client1,client2", "failed"),
        ("test_checks::test_playbook", "all", "passed"),
        ("test_checks::test_skipped", "-", "skipped"),
    ]
    table = summary_table(results)
    assert table[0].split() == ["check", "hosts", "result", "seconds"]
    assert table[3].split()[:3] == ["test_checks::test_chat", "server,client1,client2", "FAILED"]
    assert table[-1].startswith("2 passed, 1 failed, 1 skipped in ")


def test_results_table_names_the_first_hosts_of_a_check_on_a_large_lab_and_how_many() -> None:
    hosts = ",".join(["server", *(f"client{n}" for n in range(1, 21))])
    table = summary_table([CheckResult("test_cross_host::test_message", hosts, "passed", 0.8),
                           CheckResult("test_network::test_pair", "server,client1,client2,client3", "passed", 0.1)])
    assert table[2].split()[1:] == ["server,client1,client2,...", "(21", "hosts)", "passed", "0.8"]
    assert table[3].split()[1] == "server,client1,client2,client3"
