"""The static_ip role's module, run by a real `ansible` on this machine: against a file of the test's own
(never applied to this machine's interfaces), and applied for real inside a network namespace of the test's own.

Every module_utils it needs is a link to netconfig's own file: a run with the system's python3 (where netconfig
is not installed) proves they are shipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from netns_helpers import Netns
from repo_paths import REPO

ROLE = REPO / "ansible" / "roles" / "static_ip"
SYSTEM_PYTHON = "/usr/bin/python3"


def run_module(tmp_path: Path, args: dict, ssh_connection: str | None = None, netns: str | None = None,
               check: bool = False) -> tuple[str, dict]:
    """(status, result) of one module run: status is CHANGED, SUCCESS or FAILED!."""
    ansible = Path(sys.executable).parent / "ansible"  # the venv's, beside this interpreter
    if not ansible.exists():
        pytest.fail(f"{ansible} does not exist (use the project's venv: make unit)")
    env = {**os.environ, "ANSIBLE_LIBRARY": str(ROLE / "library"), "ANSIBLE_MODULE_UTILS": str(ROLE / "module_utils"),
           "ANSIBLE_HOME": str(tmp_path / "ansible-home"), "ANSIBLE_STDOUT_CALLBACK": "minimal",
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}
    env.pop("SSH_CONNECTION", None)
    if ssh_connection is not None:
        env["SSH_CONNECTION"] = ssh_connection
    interpreter = SYSTEM_PYTHON if Path(SYSTEM_PYTHON).exists() else sys.executable
    command = [*(["ip", "netns", "exec", netns] if netns else []),
               str(ansible), "localhost", "-c", "local", "-i", "localhost,", "-m", "chatlab_static_ip",
               "-e", f"ansible_python_interpreter={interpreter}", "-a", json.dumps(args),
               *(["--check"] if check else [])]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    head, arrow, result = done.stdout.partition(" => ")  # minimal: "localhost | CHANGED => {...}"
    assert arrow, f"no module result in the output:\n{done.stdout}{done.stderr}"
    return head.split("|")[-1].strip(), json.loads(result)


def test_module_keeps_crlf_and_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "interfaces"
    original = b"# caf\xe9 (latin-1)\r\nauto eth9\r\niface eth9 inet dhcp\r\n"
    path.write_bytes(original)
    args = {"interfaces": [{"interface": "lo", "address": "10.77.7.7/24",
                            "routes": [{"to": "10.78.0.0/16", "via": "10.77.7.1"}]}], "path": str(path)}
    status, result = run_module(tmp_path, args, check=True)
    assert status == "CHANGED" and path.read_bytes() == original, result  # check mode writes nothing
    status, result = run_module(tmp_path, args)
    assert status == "CHANGED", result
    written = path.read_bytes()
    assert written.startswith(original)  # every byte of the other stanzas as it was
    assert b"    address 10.77.7.7/24\n    up ip route replace 10.78.0.0/16 via 10.77.7.1\n" in written
    assert (tmp_path / ".interfaces.netconfig.bak").read_bytes() == original
    status, _ = run_module(tmp_path, args)
    assert status == "SUCCESS" and path.read_bytes() == written


def test_module_refuses_the_interface_of_the_ssh_session_without_a_confirm_timeout(tmp_path: Path) -> None:
    path = tmp_path / "interfaces"
    path.write_text("auto lo\niface lo inet loopback\n")
    status, result = run_module(tmp_path, {"interfaces": [{"interface": "lo", "address": "10.77.7.7/24"}],
                                           "path": str(path), "apply": True, "confirm_timeout": 0},
                                ssh_connection="192.0.2.9 50000 127.0.0.1 22")  # "we" are on lo's 127.0.0.1
    assert status == "FAILED!"
    assert result["msg"].startswith("refusing to change lo: lo holds 127.0.0.1, the address of this SSH session")
    assert path.read_text() == "auto lo\niface lo inet loopback\n"


def test_check_mode_refuses_what_the_real_run_refuses(tmp_path: Path) -> None:
    path = tmp_path / "interfaces"
    path.write_text("auto lo\niface lo inet loopback\n")
    status, result = run_module(tmp_path, {"interfaces": [{"interface": "lo", "address": "10.77.7.7/24"}],
                                           "path": str(path), "apply": True, "confirm_timeout": 0},
                                ssh_connection="192.0.2.9 50000 127.0.0.1 22", check=True)
    assert status == "FAILED!", result
    assert result["msg"].startswith("refusing to change lo: lo holds 127.0.0.1, the address of this SSH session")
    assert path.read_text() == "auto lo\niface lo inet loopback\n"


def test_module_refuses_an_interface_a_sourced_file_configures_too(tmp_path: Path) -> None:
    """As the CLI does: ifupdown would apply both stanzas (check mode says so too). force changes it anyway."""
    (tmp_path / "interfaces.d").mkdir()
    fragment = tmp_path / "interfaces.d" / "50-cloud-init"
    fragment.write_text("iface lo inet dhcp\n")
    path = tmp_path / "interfaces"
    path.write_text("source-directory interfaces.d\n")
    args = {"interfaces": [{"interface": "lo", "address": "10.77.7.7/24"}], "path": str(path)}
    for check in (True, False):
        status, result = run_module(tmp_path, args, check=check)
        assert status == "FAILED!", result
        assert result["msg"] == (f"refusing to change lo: {fragment} (sourced by {path}) also configures lo inet "
                                 "and ifupdown would apply both: fix that file first (or force)")
        assert path.read_text() == "source-directory interfaces.d\n"
    status, result = run_module(tmp_path, {**args, "force": True})
    assert status == "CHANGED", result
    assert "10.77.7.7/24" in path.read_text()


def test_module_and_cli_refuse_the_default_route_interface_alike(tmp_path: Path) -> None:
    """One lock-out policy: this machine's real default-route interface, a file of the test's own."""
    route = subprocess.run(["ip", "-4", "route", "show", "default"], capture_output=True, text=True, check=True)
    if not route.stdout.split():
        pytest.skip("this machine has no IPv4 default route")
    iface = route.stdout.split()[route.stdout.split().index("dev") + 1]
    path = tmp_path / "interfaces"
    status, result = run_module(tmp_path, {"interfaces": [{"interface": iface, "address": "10.77.7.7/24"}],
                                           "path": str(path)})
    assert status == "FAILED!"
    assert result["msg"].startswith(f"refusing to change {iface}: {iface} carries the default route")
    cli = subprocess.run([sys.executable, "-m", "netconfig", "set", iface, "--address", "10.77.7.7/24",
                          "--file", str(path)], capture_output=True, text=True, check=False)
    assert cli.returncode == 1 and f"{iface} carries the default route" in cli.stderr
    assert not path.exists()


def test_module_failures_are_one_line_messages(tmp_path: Path) -> None:
    status, result = run_module(tmp_path, {"interfaces": [{"interface": "lo", "address": "10.77.7.0/24"}],
                                           "path": str(tmp_path / "interfaces")})
    assert (status, result["msg"]) == ("FAILED!", "lo: address 10.77.7.0 is the network address of 10.77.7.0/24; "
                                                  "use a host address (10.77.7.1-10.77.7.254)")
    status, result = run_module(tmp_path, {"confirm": True, "state_dir": str(tmp_path)})
    assert status == "FAILED!"
    assert result["msg"] == "nothing to confirm: no change is waiting for confirmation"


def test_module_confirmed_change_of_the_connected_interface(netns: Netns, tmp_path: Path) -> None:
    """For real in a namespace: Ansible is "connected" through the interface (SSH_CONNECTION names its address),
    so the module arms the rollback, returns, applies a second later, and a confirm keeps the change."""
    original = f"auto {netns.iface}\niface {netns.iface} inet static\n    address 10.77.0.4/24\n"
    netns.file.write_text(original)
    netns.ifup()
    args = {"interfaces": [{"interface": netns.iface, "address": "10.77.0.5/24"}], "path": str(netns.file),
            "apply": True, "confirm_timeout": 30, "state_dir": str(netns.state_dir), "protect_addresses": ["10.77.0.4"]}
    session = "10.77.0.9 50000 10.77.0.4 22"
    status, result = run_module(tmp_path, args, ssh_connection=session, netns=netns.name)
    assert status == "CHANGED", result
    assert result["pending"] and result["reconnect_address"] == "10.77.0.5"
    assert result["unreachable_msg"] == (f"{netns.iface}: 10.77.0.5 not reachable from here; the host rolls back to "
                                         f"10.77.0.4 by itself at {result['rollback_at']}")
    deadline = time.monotonic() + 10
    while netns.ipv4() != {"10.77.0.5/24"}:
        assert time.monotonic() < deadline, f"the change never went live: {netns.ipv4()}"
        time.sleep(0.2)
    assert netns.file.read_text() == original  # until confirmed
    status, done = run_module(tmp_path, {"confirm": True, "state_dir": str(netns.state_dir)}, netns=netns.name)
    assert status == "CHANGED", done
    assert "    address 10.77.0.5/24\n" in netns.file.read_text()
    status, again = run_module(tmp_path, args, ssh_connection="10.77.0.9 50000 10.77.0.5 22", netns=netns.name)
    assert (status, again["pending"]) == ("SUCCESS", False)
