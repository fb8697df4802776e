"""lab.plumbing.ssh: the options every lab SSH connection gets, the ControlMaster sockets' path, and waiting for
SSH against real local listeners (one that is not SSH, a closed port). This machine has no sshd (openssh-server
is not installed; installing it would start a daemon on the shared machine), so the case of a host whose SSH
answers runs in the lab's e2e checks, not here."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.config import configure, up_request
from lab.errors import LabError
from lab.plumbing import ssh
from lab.state import LabConfig

SUN_PATH_MAX = 107  # bytes of a unix socket's path on Linux (sun_path is 108, with its NUL)
SSH_TEMP_SUFFIX = 17  # ssh binds ControlPath + ".XXXXXXXXXXXXXXXX" first, then renames it


def lab(tmp_path: Path, name: str = "mylab") -> LabConfig:
    return configure(up_request({"LAB_NAME": name}, root=tmp_path), "nspawn")


def test_every_connection_checks_the_host_key_against_the_labs_own_known_hosts(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    config = lab(tmp_path)
    command = ssh.ssh_command(config, "chatlab", "10.0.0.5", 2222)
    options = dict(command[i + 1].split("=", 1) for i, word in enumerate(command) if word == "-o")
    assert options == {
        "UserKnownHostsFile": f"{config.known_hosts_path} {config.external_known_hosts_path}",
        "StrictHostKeyChecking": "yes",
        "ControlMaster": "auto", "ControlPath": f"{tmp_path}/run/chatlab-mylab-cp/%C",
        "ControlPersist": ssh.CONTROL_PERSIST,
        "ConnectTimeout": str(ssh.CONNECT_TIMEOUT_S), "BatchMode": "yes", "LogLevel": "ERROR"}
    assert command[0] == "ssh" and command[-5:] == ["-i", str(config.key_path), "-p", "2222", "chatlab@10.0.0.5"]
    control = tmp_path / "run" / "chatlab-mylab-cp"
    assert control.is_dir() and control.stat().st_mode & 0o777 == 0o700  # made, and private
    assert ssh.ssh_command(config, "root", "h", key="/k")[-5:] == ["-i", "/k", "-p", "22", "root@h"]


@pytest.mark.parametrize("runtime_dir", [None, "/run/user/1000"])
def test_the_control_socket_of_the_longest_lab_name_fits_a_unix_socket_path(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch,
                                                                           runtime_dir: str | None) -> None:
    """Not under the lab's state directory (a checkout's path can be long): %C is 40 characters, and ssh binds
    a temporary name 17 longer first. Bound here for real, at that length."""
    if runtime_dir is None:
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    else:
        monkeypatch.setenv("XDG_RUNTIME_DIR", runtime_dir)
    config = lab(tmp_path / ("deep" * 20), name="abcdefgh")  # the longest name a topology allows
    directory = ssh.control_dir(config)
    longest = f"{directory}/{'c' * 40}.{'x' * 16}"
    assert len(longest.encode()) <= SUN_PATH_MAX, longest
    if runtime_dir is not None:
        return  # not made on this machine: /run/user/1000 may not exist
    directory.mkdir(parents=True, exist_ok=True)
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(longest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(longest).unlink()
        with contextlib.suppress(OSError):
            directory.rmdir()


@contextlib.contextmanager
def listener(banner: bytes) -> Iterator[tuple[int, list[bytes]]]:
    """A real TCP listener on 127.0.0.1 that sends `banner` to each connection and closes it; yields its port and
    what each connection sent first."""
    server = socket.create_server(("127.0.0.1", 0))
    heard: list[bytes] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                with conn:
                    conn.sendall(banner)
                    conn.settimeout(0.5)
                    with contextlib.suppress(OSError):
                        heard.append(conn.recv(256))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], heard
    finally:
        server.close()
        thread.join(5)


def test_a_port_that_answers_but_not_ssh_is_not_ssh(tmp_path: Path) -> None:
    config = lab(tmp_path)
    ssh.ensure_keypair(config)
    with listener(b"HTTP/1.0 400 Bad Request\r\n\r\n") as (port, heard):
        assert ssh.port_open("127.0.0.1", port) is None
        with pytest.raises(LabError) as raised:
            ssh.wait_until_ready(config, [ssh.ReadyTarget("client1", "127.0.0.1", user="chatlab", port=port)],
                                 timeout=2)
    message = str(raised.value)
    assert message.startswith(f"client1: not ready at 127.0.0.1:{port} within 2 s; last seen: no SSH login ("), message
    assert any(first.startswith(b"SSH-2.0-") for first in heard), heard  # ssh itself was tried, not just the port


def test_a_closed_port_is_waited_for_until_the_deadline_and_named(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    assert ssh.port_open("127.0.0.1", port) == "Connection refused"
    closed = (rf"^client1: not ready at 127\.0\.0\.1:{port} within 1 s; "
              rf"last seen: port {port} not open \(Connection refused\)$")
    with pytest.raises(LabError, match=closed):
        ssh.wait_until_ready(lab(tmp_path), [ssh.ReadyTarget("client1", "127.0.0.1", user="chatlab", port=port)],
                             timeout=1)


def test_a_host_that_stopped_booting_is_reported_at_once(tmp_path: Path) -> None:
    stopped = r"^client1: stopped while booting \(step: boot\); last seen: not probed yet$"
    with listener(b"") as (port, heard), pytest.raises(LabError, match=stopped):
        target = ssh.ReadyTarget("client1", "127.0.0.1", still_booting=lambda: False, user="chatlab", port=port)
        ssh.wait_until_ready(lab(tmp_path), [target], timeout=20)
    assert heard == []  # it did not even try
