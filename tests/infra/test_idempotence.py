"""Running site.yml again changes nothing, and check mode says so too."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

SITE = Path(__file__).resolve().parents[2] / "ansible" / "site.yml"


def run_site(inventory: Path, *extra: str) -> dict[str, int]:
    command = shutil.which("ansible-playbook")
    if command is None:
        pytest.fail("ansible-playbook is not on PATH (use the project's venv: make lab-test)")
    env = {**os.environ, "ANSIBLE_CONFIG": str(SITE.parent / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    result = subprocess.run([command, "-i", str(inventory), str(SITE), *extra],
                            capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, f"site.yml {' '.join(extra)} failed:\n{result.stdout[-3000:]}{result.stderr}"
    recap = dict(re.findall(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", result.stdout, re.MULTILINE))
    assert recap, f"no PLAY RECAP in the output:\n{result.stdout[-2000:]}"
    return {host: int(changed) for host, changed in recap.items()}


def test_site_rerun_reports_no_change(inventory: Path) -> None:
    changed = run_site(inventory)
    assert all(count == 0 for count in changed.values()), f"changed per host: {changed}"


def test_site_in_check_mode_reports_no_change(inventory: Path) -> None:
    changed = run_site(inventory, "--check", "--diff")
    assert all(count == 0 for count in changed.values()), f"changed per host: {changed}"
