"""Every lab operation against the real container lab: exec, logs, capture, status, snapshot round trip, a dead
container booted again with its disk, the JUnit results of `lab test`, `lab provision` (converge only), and the
chat port's errors up front (a port below 1024 works, a used port is refused at once, a server that does not start is
reported with its journal)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from lab_run import lab
from pcap import tcp_segments

from lab.outputs.results import parse_junit
from lab.provision import ANSIBLE_DIR, tool_env
from lab.state import LabConfig

WAIT_S = 20


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def addresses(config: LabConfig) -> tuple[str, str]:
    """The LAN addresses of the server and of client1 (the seed's lab, which `make lab-e2e` brings up)."""
    hosts = {host.name: str(host.lab_address.ip) for host in config.hosts}
    assert {"server", "client1"} <= set(hosts), f"these tests drive the seed's lab (server, client1), not {hosts}"
    return hosts["server"], hosts["client1"]


def chat_from_client1(nick: str, port: int | None = None) -> str:
    """A short chat session from client1 to the server over the LAN; what client1 printed."""
    flag = f" --port {port}" if port else ""
    return lab("exec", "client1", "--", f"(echo '/nick {nick}'; sleep 0.5) | chat-client{flag}", check=True).stdout


def playbook(config: LabConfig, *extra: str) -> subprocess.CompletedProcess[str]:
    """site.yml against the lab, as `lab provision` runs it, with extra arguments."""
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(config.inventory_path),
                           str(ANSIBLE_DIR / "site.yml"), *extra], env=tool_env(config), capture_output=True,
                          text=True, timeout=600, check=False)


def recap_changed(output: str, host: str) -> int:
    match = re.search(rf"^{host}\s+:.*changed=(\d+)", output, flags=re.MULTILINE)
    assert match, f"no PLAY RECAP line for {host}:\n{output[-2000:]}"
    return int(match.group(1))


def one_line(text: str) -> str:
    return " ".join(text.split())


class Lines:
    """The lines a child process prints, collected by a thread, awaited with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        stream = process.stdout
        self.thread = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self.thread.start()

    def wait_for(self, text: str) -> bool:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if any(text in line for line in list(self.lines)):
                return True
            time.sleep(0.1)
        return False


def test_status_exits_0_when_every_host_answers(lab_config: LabConfig) -> None:
    result = lab("status")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("running, ssh ok") == len(lab_config.hosts), result.stdout
    addresses(lab_config)


def test_exec_runs_on_every_host_and_prefixes_each_line_with_it(lab_config: LabConfig) -> None:
    result = lab("exec", "all", "--", 'hostname; echo on-stderr >&2; test "$(hostname)" = server')
    assert result.returncode == 1, "client1 failed: lab exec must exit non-zero"
    assert sorted(result.stdout.splitlines()) == ["client1 | client1", "server  | server"]
    errors = result.stderr.splitlines()
    assert "server  | on-stderr" in errors and "client1 | on-stderr" in errors, result.stderr
    assert "lab: client1: exit status 1" in errors and not any(e.startswith("lab: server:") for e in errors)
    words = lab("exec", "server,client1", "--", "printf", "%s\\n", "a b", "it's")
    assert words.returncode == 0, words.stderr
    assert words.stdout.splitlines().count("server  | a b") == 1 and "client1 | it's" in words.stdout
    unknown = lab("exec", "client9", "--", "true")
    assert unknown.returncode == 1 and unknown.stderr.strip().startswith("lab: error: no host client9"), unknown.stderr


def test_logs_shows_and_follows_the_chat_service_journal(lab_config: LabConfig) -> None:
    _, client = addresses(lab_config)
    follow = subprocess.Popen([sys.executable, "-m", "lab", "logs", "server", "-f", "-n", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        lines = Lines(follow)
        assert lines.wait_for("python3"), f"lab logs -f printed no journal line: {lines.lines}"
        chat_from_client1(unique("log"))
        assert lines.wait_for(f"connected from {client}"), f"the new connection never showed: {lines.lines}"
    finally:
        os.killpg(follow.pid, signal.SIGINT)
        follow.wait(timeout=WAIT_S)
    assert follow.returncode == 0
    recent = lab("logs", "server")
    assert recent.returncode == 0 and f"connected from {client}" in recent.stdout, recent.stdout[-1000:]
    journald = lab("logs", "client1", "systemd-journald")
    assert journald.returncode == 0 and "client1 systemd-journald" in journald.stdout, journald.stdout[-1000:]
    on_server = lab("logs", "--unit", "systemd-journald")  # make lab-logs UNIT=...: the chat server's
    assert on_server.returncode == 0 and "server systemd-journald" in on_server.stdout, on_server.stdout[-1000:]
    missing = lab("logs", "client1", "no-such-unit")
    assert missing.returncode == 1 and missing.stderr.strip() == "lab: error: client1 has no unit 'no-such-unit'"


def test_capture_holds_the_chat_tcp_packets_between_two_hosts(lab_config: LabConfig, tmp_path: Path) -> None:
    server, client = addresses(lab_config)
    port = lab_config.chat_port
    pcap = tmp_path / "chat.pcap"
    network = lab_config.topology.chat_server.interfaces[0].network
    capture = subprocess.Popen([sys.executable, "-m", "lab", "capture", network, "-w", str(pcap), "tcp", "port",
                                str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + WAIT_S
        while not (pcap.is_file() and pcap.stat().st_size >= 24) and time.monotonic() < deadline:  # header: listening
            time.sleep(0.1)
        nick = unique("cap")
        assert "welcome to chatlab" in chat_from_client1(nick)
        deadline = time.monotonic() + WAIT_S
        while nick.encode() not in pcap.read_bytes() and time.monotonic() < deadline:  # tcpdump may lag (-U)
            time.sleep(0.1)
    finally:
        os.killpg(capture.pid, signal.SIGINT)  # what Ctrl-C does
        output = capture.communicate(timeout=WAIT_S)[0]
    assert capture.returncode == 0, output
    assert f"wrote {pcap}" in output, output
    segments = tcp_segments(pcap.read_bytes())
    to_server = b"".join(s.payload for s in segments
                         if (s.source, s.destination, s.destination_port) == (client, server, port))
    to_client = b"".join(s.payload for s in segments
                         if (s.source, s.source_port, s.destination) == (server, port, client))
    assert f"/nick {nick}".encode() in to_server, f"client1's line is not in the capture: {to_server!r}"
    assert b"* welcome to chatlab!" in to_client, f"the server's greeting is not in the capture: {to_client!r}"
    listing = subprocess.run(["tcpdump", "-nr", str(pcap)], capture_output=True, text=True, check=True).stdout
    assert f"{client}." in listing and f"{server}.{port}:" in listing, listing


def test_snapshot_round_trip_brings_every_disk_back_and_the_checks_pass(lab_config: LabConfig) -> None:
    name = unique("t")
    marker = f"/root/snapshot-{name}"
    lab("exec", "all", "--", f"echo kept > {marker}", check=True)
    saved = lab("snapshot", "save", name, check=True)
    assert f"snapshot '{name}' of {', '.join(h.name for h in lab_config.hosts)} saved in" in saved.stdout
    assert name in lab("snapshot", "list", check=True).stdout
    try:
        lab("exec", "all", "--", f"rm {marker}; touch /root/after-{name}", check=True)
        restored = lab("snapshot", "restore", name, check=True)
        assert f"restored to snapshot '{name}'" in restored.stdout
        converged = lab("provision")  # Ansible alone, straight after the restore (its SSH connections are new)
        assert converged.returncode == 0 and recap_changed(converged.stdout, "server") == 0, converged.stdout[-3000:]
        back = lab("exec", "all", "--", f"cat {marker} && test ! -e /root/after-{name}", check=True)
        width = max(len(h.name) for h in lab_config.hosts)  # lab exec pads the host names to one width
        assert sorted(back.stdout.splitlines()) == sorted(f"{h.name:<{width}} | kept" for h in lab_config.hosts), \
            back.stdout
        service = lab("exec", "server", "--", "systemctl is-active chatlab-chat", check=True)
        assert service.stdout.strip() == "server | active"
        checks = lab("test")
        assert checks.returncode == 0, checks.stdout[-3000:] + checks.stderr
    finally:
        lab("snapshot", "delete", name, check=True)
    assert name not in lab("snapshot", "list", check=True).stdout
    gone = lab("snapshot", "restore", name)
    assert gone.returncode == 1 and f"has no snapshot '{name}'" in gone.stderr
    # lab test also wrote its results for a CI, and printed them as one table
    results = parse_junit(lab_config.results_path.read_text())
    assert {r.result for r in results} <= {"passed", "skipped"} and any(r.result == "passed" for r in results), results
    assert re.search(r"check\s+hosts\s+result\s+seconds", checks.stdout), checks.stdout[-2000:]
    assert any(set(r.hosts.split(",")) >= {"server", "client1"} for r in results), results  # a cross-host check


def test_a_dead_container_boots_again_with_its_disk(container_lab: LabConfig) -> None:
    lab_config = container_lab
    marker = f"/root/{unique('disk')}"
    lab("exec", "client1", "--", f"echo survived > {marker}", check=True)
    host_dir = lab_config.hosts_dir / "client1"
    pids = [int((host_dir / record).read_text().split()[0]) for record in ("nspawn.pid", "init")]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)  # the container dies (its nspawn and its init): its disk stays
    status = lab("status")
    assert status.returncode == 1, f"lab status must fail while client1 is absent:\n{status.stdout}"
    assert re.search(r"^\s+client1 .* absent$", status.stdout, flags=re.MULTILINE), status.stdout
    up = lab("up", timeout=600)
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr
    assert "client1: its container had stopped: booting it again with its disk" in up.stdout
    assert recap_changed(up.stdout, "client1") == 0, "client1 was rebuilt, not booted with its disk"
    assert lab("exec", "client1", "--", f"cat {marker}", check=True).stdout.strip() == "client1 | survived"
    assert lab("status").returncode == 0


def test_a_chat_port_below_1024_works_and_a_port_in_use_is_refused_at_once(lab_config: LabConfig) -> None:
    try:
        low = playbook(lab_config, "-e", "chatlab_chat_port=80")
        assert low.returncode == 0, low.stdout[-3000:]
        assert "* welcome to chatlab!" in chat_from_client1(unique("low"), port=80)
    finally:
        converged = lab("provision")  # make lab-provision: converge only, back to the lab's own port
        assert converged.returncode == 0, converged.stdout[-3000:]
    assert recap_changed(converged.stdout, "server") > 0 and "cross-host checks" not in converged.stdout
    used = playbook(lab_config, "-e", "chatlab_chat_port=22", "--limit", "server")
    assert used.returncode != 0
    assert "port 22 on server is already used by sshd" in one_line(used.stdout), used.stdout[-3000:]
    assert recap_changed(used.stdout, "server") == 0, "the refused port changed the server"


def test_a_server_that_does_not_start_is_reported_with_its_journal(lab_config: LabConfig) -> None:
    try:
        broken = playbook(lab_config, "--limit", "server", "-e",
                          '{"chat_server_extra_args": ["--no-such-flag"], "chat_server_start_timeout": 5}')
        assert broken.returncode != 0
        message = one_line(broken.stdout)
        assert "did not greet on" in message and "unrecognized arguments: --no-such-flag" in message, message[-3000:]
    finally:
        back = lab("provision")
        assert back.returncode == 0, back.stdout[-3000:]
