"""site.yml run again changes nothing, check mode says so too, and it never cuts the branch Ansible sits on.

The rerun and the check-mode run only read a converged lab, so they run at the same time (each is one Python
interpreter per task on every host: under emulation that is most of the checks' time).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from lab_hosts import LabHost

SITE = Path(__file__).resolve().parents[2] / "ansible" / "site.yml"


def play(inventory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = shutil.which("ansible-playbook")
    if command is None:
        pytest.fail("ansible-playbook is not on PATH (use the project's venv: make lab-test)")
    env = {**os.environ, "ANSIBLE_CONFIG": str(SITE.parents[1] / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run([command, "-i", str(inventory), str(SITE), *extra],
                          capture_output=True, text=True, env=env, check=False)


def run_site(inventory: Path, *extra: str) -> dict[str, int]:
    result = play(inventory, *extra)
    assert result.returncode == 0, f"site.yml {' '.join(extra)} failed:\n{result.stdout[-3000:]}{result.stderr}"
    recap = dict(re.findall(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", result.stdout, re.MULTILINE))
    assert recap, f"no PLAY RECAP in the output:\n{result.stdout[-2000:]}"
    return {host: int(changed) for host, changed in recap.items()}


@pytest.fixture(scope="module")
def site_rerun_and_check_mode(inventory: Path) -> Iterator[dict[str, Future[dict[str, int]]]]:
    """The idempotence rerun and the check-mode run of site.yml, both started at once; each test waits for its own."""
    with ThreadPoolExecutor(max_workers=2) as runner:
        yield {"rerun": runner.submit(run_site, inventory),
               "check": runner.submit(run_site, inventory, "--check", "--diff")}


def test_site_rerun_reports_no_change(site_rerun_and_check_mode: dict[str, Future[dict[str, int]]]) -> None:
    changed = site_rerun_and_check_mode["rerun"].result()
    assert all(count == 0 for count in changed.values()), f"changed per host: {changed}"


def test_site_in_check_mode_reports_no_change(site_rerun_and_check_mode: dict[str, Future[dict[str, int]]]) -> None:
    changed = site_rerun_and_check_mode["check"].result()
    assert all(count == 0 for count in changed.values()), f"changed per host: {changed}"


def test_site_refuses_the_interface_ansible_uses_without_a_confirm_timeout(
    server: LabHost, inventory_data: dict[str, Any], inventory: Path
) -> None:
    """With static_ip_confirm_timeout 0 (no confirmed change) the interface Ansible uses is refused, and the task's
    msg is the reason itself. tests/infra/test_confirmed_apply.py moves it for real with a confirmed change."""
    management = inventory_data["_meta"]["hostvars"][server.name]["ansible_host"]
    holder = server.host.check_output(f"ip -o -4 addr show to {management}").split()
    assert holder, f"no interface of {server.name} holds {management}"
    before = server.host.file("/etc/network/interfaces").content_string
    wrong = json.dumps({"static_ip_interfaces": [{"interface": holder[1], "address": "198.51.100.77/24"}],
                        "static_ip_confirm_timeout": 0})
    result = play(inventory, "--limit", server.name, "-e", wrong)
    assert result.returncode != 0, "site.yml changed the interface Ansible is connected through"
    flat = " ".join(result.stdout.split())
    assert f"msg: 'refusing to change {holder[1]}: {holder[1]} holds {management}, the address of this SSH " in flat
    assert "'dict object'" not in result.stdout
    assert server.host.file("/etc/network/interfaces").content_string == before
