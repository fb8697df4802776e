"""Runs of ansible/site.yml against the inventory under check, and the idempotence rerun and check-mode run that
start with the session.

The rerun and the check-mode run only read a converged lab, so they run at the same time as each other and as the
other read-only checks (an Ansible run over the hosts is most of the checks' time). The fault drills (marked
disruptive) change the lab, so they run after these two are done.

Check mode covers one host of each kind: whether check mode tells the truth is a property of the tasks, and hosts of
the same group with the same shape of interfaces (names, subnets, routes, gateway) run the same tasks with the same
arguments but for their addresses. A 20-client lab's check-mode run reaches 2 hosts instead of 21. The rerun covers
every host (a second run that changes nothing anywhere) unless the session asks for one host of each kind
(--rerun-on=one-of-each-kind): `lab up`, whose hosts were all provisioned by the run just before, from the same
image, asks for it; `lab test` and the checks of real machines (make check) rerun on every host.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from repo_paths import REPO

SITE = REPO / "ansible" / "site.yml"
EVERY_HOST, ONE_OF_EACH_KIND = "every-host", "one-of-each-kind"  # --rerun-on
RERUN_SCOPES = (EVERY_HOST, ONE_OF_EACH_KIND)


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


def host_kind(group: str, variables: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a host's site.yml tasks depend on but for its addresses: its group, and per static interface its name,
    subnet, routed networks and whether it has a gateway."""
    entries = variables.get("static_ip_interfaces") or [
        {"interface": variables.get("static_ip_interface"), "address": variables.get("static_ip_address")}]
    shape = []
    for entry in entries:
        address = entry.get("address")
        subnet = str(ipaddress.ip_interface(address).network) if address else None
        shape.append((entry.get("interface"), subnet, tuple(sorted(route["to"] for route in entry.get("routes", []))),
                      bool(entry.get("gateway"))))
    return group, tuple(shape)


def one_of_each_kind(groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The first host of each kind (host_kind), in inventory order; a host in two groups counts in its first."""
    chosen: dict[tuple[Any, ...], str] = {}
    seen: set[str] = set()
    for group, names in groups.items():
        for name in names:
            if name not in seen:
                seen.add(name)
                chosen.setdefault(host_kind(group, hostvars.get(name, {})), name)
    return list(chosen.values())


def rerun_hosts(scope: str, groups: Mapping[str, Sequence[str]],
                hostvars: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The hosts of the idempotence rerun for a --rerun-on `scope` (RERUN_SCOPES): every host of the groups, once
    each, in inventory order; or one host of each kind."""
    if scope == ONE_OF_EACH_KIND:
        return one_of_each_kind(groups, hostvars)
    return list(dict.fromkeys(name for names in groups.values() for name in names))


class ConvergedRuns:
    """The idempotence rerun of site.yml on `rerun_hosts` and its check-mode run (--check --diff) on `check_hosts`,
    both started at once."""

    def __init__(self, inventory: Path, *, check_hosts: Sequence[str], rerun_hosts: Sequence[str]) -> None:
        self.check_hosts = list(check_hosts)
        self.rerun_hosts = list(rerun_hosts)
        self._runner = ThreadPoolExecutor(max_workers=2, thread_name_prefix="site")
        self.rerun: Future[dict[str, int]] = self._runner.submit(
            changed_per_host, inventory, "--limit", ",".join(self.rerun_hosts))
        self.check_mode: Future[dict[str, int]] = self._runner.submit(
            changed_per_host, inventory, "--check", "--diff", "--limit", ",".join(self.check_hosts))

    def wait(self) -> None:
        """Until both have ended (whatever their outcome)."""
        wait([self.rerun, self.check_mode])

    def close(self) -> None:
        self._runner.shutdown(wait=True)
