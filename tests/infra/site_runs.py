"""Runs of ansible/site.yml against the inventory under check, and the idempotence rerun and check-mode run that
start with the session.

The rerun and the check-mode run only read a converged lab, so they run at the same time as each other and as the
other read-only checks (each is an Ansible run over every host: most of the checks' time). The fault drills
(marked disruptive) change the lab, so they run after these two are done.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from repo_paths import REPO

SITE = REPO / "ansible" / "site.yml"


class SiteRunError(Exception):
    """site.yml could not be run, or its output has no recap."""


def play(inventory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = shutil.which("ansible-playbook")
    if command is None:
        raise SiteRunError("ansible-playbook is not on PATH (use the project's venv: make lab-test)")
    env = {**os.environ, "ANSIBLE_CONFIG": str(SITE.parents[1] / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run([command, "-i", str(inventory), str(SITE), *extra],
                          capture_output=True, text=True, env=env, check=False)


def changed_per_host(inventory: Path, *extra: str) -> dict[str, int]:
    """Runs site.yml with `extra` arguments; how many tasks each host reported changed."""
    result = play(inventory, *extra)
    if result.returncode != 0:
        raise SiteRunError(f"site.yml {' '.join(extra)} failed:\n{result.stdout[-3000:]}{result.stderr}")
    recap = dict(re.findall(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", result.stdout, re.MULTILINE))
    if not recap:
        raise SiteRunError(f"no PLAY RECAP in the output:\n{result.stdout[-2000:]}")
    return {host: int(changed) for host, changed in recap.items()}


class ConvergedRuns:
    """The idempotence rerun and the check-mode run (--check --diff) of site.yml, both started at once."""

    def __init__(self, inventory: Path) -> None:
        self._runner = ThreadPoolExecutor(max_workers=2, thread_name_prefix="site")
        self.rerun: Future[dict[str, int]] = self._runner.submit(changed_per_host, inventory)
        self.check_mode: Future[dict[str, int]] = self._runner.submit(changed_per_host, inventory, "--check", "--diff")

    def wait(self) -> None:
        """Until both have ended (whatever their outcome)."""
        wait([self.rerun, self.check_mode])

    def close(self) -> None:
        self._runner.shutdown(wait=True)
