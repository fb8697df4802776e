"""The static_ip role's module, run by a real `ansible` on this machine against a file of the test's own
(interface lo, never applied): it writes the stanza and keeps every other byte, CRLF and non-UTF-8 included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROLE = Path(__file__).resolve().parents[2] / "ansible" / "roles" / "static_ip"


def run_module(tmp_path: Path, *args: str, ssh_connection: str | None = None) -> tuple[str, dict]:
    """(status, result) of one module run: status is CHANGED, SUCCESS or FAILED!."""
    ansible = Path(sys.executable).parent / "ansible"  # the venv's, beside this interpreter
    if not ansible.exists():
        pytest.fail(f"{ansible} does not exist (use the project's venv: make unit)")
    env = {**os.environ, "ANSIBLE_LIBRARY": str(ROLE / "library"), "ANSIBLE_MODULE_UTILS": str(ROLE / "module_utils"),
           "ANSIBLE_HOME": str(tmp_path / "ansible-home"), "ANSIBLE_STDOUT_CALLBACK": "minimal",
           "ANSIBLE_NOCOLOR": "1"}
    env.pop("SSH_CONNECTION", None)
    if ssh_connection is not None:
        env["SSH_CONNECTION"] = ssh_connection
    command = [str(ansible), "localhost", "-c", "local", "-i", "localhost,", "-m", "chatlab_static_ip",
               "-e", f"ansible_python_interpreter={sys.executable}", "-a", " ".join(args)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    head, arrow, result = done.stdout.partition(" => ")  # minimal: "localhost | CHANGED => {...}"
    assert arrow, f"no module result in the output:\n{done.stdout}{done.stderr}"
    return head.split("|")[-1].strip(), json.loads(result)


def test_module_keeps_crlf_and_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "interfaces"
    original = b"# caf\xe9 (latin-1)\r\nauto eth9\r\niface eth9 inet dhcp\r\n"
    path.write_bytes(original)
    status, result = run_module(tmp_path, "interface=lo", "address=10.77.7.7/24", f"path={path}", "backup=false")
    assert status == "CHANGED", result
    assert result["address"] == "10.77.7.7/24"
    written = path.read_bytes()
    assert written.startswith(original)  # every byte of the other stanzas as it was
    assert b"address 10.77.7.7/24" in written
    status, _ = run_module(tmp_path, "interface=lo", "address=10.77.7.7/24", f"path={path}", "backup=false")
    assert status == "SUCCESS" and path.read_bytes() == written


def test_module_refuses_the_interface_of_the_ssh_session(tmp_path: Path) -> None:
    path = tmp_path / "interfaces"
    path.write_text("auto lo\niface lo inet loopback\n")
    status, result = run_module(tmp_path, "interface=lo", "address=10.77.7.7/24", f"path={path}",
                                ssh_connection="192.0.2.9 50000 127.0.0.1 22")  # "we" are on lo's 127.0.0.1
    assert status == "FAILED!"
    assert result["msg"].startswith("refusing to change lo: Ansible is connected through it (127.0.0.1)")
    assert path.read_text() == "auto lo\niface lo inet loopback\n"
