"""The chatlab role, run by a real ansible-playbook on this machine (connection local, nothing changed): it checks
the inventory's chatlab settings and, when chatlab_server_address is not set, uses the chat server's one static
address; with several (or none) it fails with one line naming them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from infra.outputs import failure_messages
from repo_paths import REPO

PLAY = [{"name": "Complete the chatlab settings", "hosts": "all", "gather_facts": False,
         "roles": ["chatlab"],
         "tasks": [{"name": "Show the address",
                    "ansible.builtin.debug": {"msg": "ADDRESS={{ chatlab_server_address }}"}}]}]


def run_role(tmp_path: Path, server: dict[str, Any], common: dict[str, Any] | None = None,
             client: dict[str, Any] | None = None) -> tuple[int, str]:
    """Runs the role for a chat server (its inventory variables `server`) and one client (`client`, beside its
    static address); (exit status, output)."""
    playbook = Path(sys.executable).parent / "ansible-playbook"
    if not playbook.exists():
        pytest.fail(f"{playbook} does not exist (use the project's venv: make unit)")
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {"all": {"vars": {"chatlab_chat_port": 5000, **local, **(common or {})}, "children": {
        "chat_servers": {"hosts": {"server1": server}},
        "chat_clients": {"hosts": {"client1": {"static_ip_address": "192.168.182.11/24", **(client or {})}}}}}}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(yaml.safe_dump(PLAY, sort_keys=False))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_ROLES_PATH": str(REPO / "ansible/roles"),
           "ANSIBLE_HOME": str(tmp_path / "ansible-home"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}
    done = subprocess.run([str(playbook), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    return done.returncode, done.stdout


def shown(output: str) -> dict[str, str]:
    """{host: chatlab_server_address} as the play's last task showed it."""
    return dict(re.findall(r'^ok: \[(\S+)\] => \{\s*"msg": "ADDRESS=([^"]*)"', output, re.MULTILINE))


def test_the_servers_one_static_address_is_where_the_clients_reach_it(tmp_path: Path) -> None:
    status, output = run_role(tmp_path, {"static_ip_interfaces": [
        {"interface": "eth0", "address": "192.168.182.10/24", "gateway": "192.168.182.1"}]})
    assert status == 0, output
    assert shown(output) == {"server1": "192.168.182.10", "client1": "192.168.182.10"}


def test_the_one_interface_form_counts_too(tmp_path: Path) -> None:
    status, output = run_role(tmp_path, {"static_ip_interface": "eth0", "static_ip_address": "192.168.182.10/24"})
    assert status == 0, output
    assert shown(output) == {"server1": "192.168.182.10", "client1": "192.168.182.10"}


def test_an_address_the_inventory_sets_is_kept(tmp_path: Path) -> None:
    status, output = run_role(tmp_path, {"static_ip_interfaces": [
        {"interface": "eth1", "address": "192.168.182.10/24"}, {"interface": "eth2", "address": "192.168.185.10/24"}]},
        common={"chatlab_server_address": "192.168.185.10"})
    assert status == 0, output
    assert shown(output) == {"server1": "192.168.185.10", "client1": "192.168.185.10"}


def test_a_host_that_sets_its_own_address_keeps_it_and_the_others_get_the_servers(tmp_path: Path) -> None:
    """The settings are checked once for the inventory, but completed host by host."""
    status, output = run_role(tmp_path, {"static_ip_address": "192.168.182.10/24"},
                              client={"chatlab_server_address": "192.168.185.10"})
    assert status == 0, output
    assert shown(output) == {"server1": "192.168.182.10", "client1": "192.168.185.10"}


@pytest.mark.parametrize(("server", "listed"), [
    ({"static_ip_interfaces": [{"interface": "eth1", "address": "192.168.182.10/24"},
                               {"interface": "eth2", "address": "192.168.185.10/24"}]},
     "2 static addresses (192.168.182.10, 192.168.185.10)"),
    ({}, "0 static addresses (none)"),
])
def test_an_ambiguous_server_fails_with_one_line(tmp_path: Path, server: dict[str, Any], listed: str) -> None:
    status, output = run_role(tmp_path, server)
    assert status != 0
    messages = failure_messages(output)
    assert len(messages) == 1, output  # checked once, for the whole inventory (run_once) ...
    assert shown(output) == {}, output  # ... and every host of the play fails
    assert next(iter(messages.values())) == (
        f"the inventory does not set chatlab_server_address and the chat server server1 "
        f"has {listed}: set chatlab_server_address to the one the clients reach")
