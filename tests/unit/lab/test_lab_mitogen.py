"""When the lab's Ansible runs use Mitogen: only when it is installed, not turned off, and no strategy was chosen;
and Mitogen really runs a play under the pinned ansible-core."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lab.provision import (
    CONNECT_TIMEOUT_S,
    EMULATED_CONNECT_TIMEOUT_S,
    MAX_FORKS,
    STRATEGY,
    ansible_forks,
    connect_timeout,
    describe,
    mitogen_env,
    strategy_plugins,
)

PLUGINS = Path("/opt/mitogen/plugins/strategy")


def test_mitogen_is_used_when_installed() -> None:
    env = mitogen_env({}, PLUGINS)
    assert env == {"ANSIBLE_STRATEGY_PLUGINS": str(PLUGINS), "ANSIBLE_STRATEGY": STRATEGY,
                   "ANSIBLE_TIMEOUT": str(connect_timeout(1))}
    assert "Mitogen" in describe(env)


def test_emulated_hosts_get_a_longer_connection_timeout_unless_the_caller_set_one() -> None:
    assert mitogen_env({}, PLUGINS, emulated=True)["ANSIBLE_TIMEOUT"] == str(EMULATED_CONNECT_TIMEOUT_S)
    assert "ANSIBLE_TIMEOUT" not in mitogen_env({"ANSIBLE_TIMEOUT": "30"}, PLUGINS, emulated=True)  # caller's stays


def test_the_connection_timeout_grows_with_the_hosts_mitogen_reaches_at_once() -> None:
    """One multiplexer starts every host's interpreter at a play's first task: 10 s for 21 containers was not
    enough on a busy machine ("UNREACHABLE ... Connection timed out")."""
    assert connect_timeout(2) < connect_timeout(21) < connect_timeout(41)
    assert connect_timeout(1) >= CONNECT_TIMEOUT_S
    assert connect_timeout(21) >= 20
    assert int(mitogen_env({}, PLUGINS, hosts=41)["ANSIBLE_TIMEOUT"]) == connect_timeout(41)
    assert connect_timeout(200, emulated=True) > EMULATED_CONNECT_TIMEOUT_S  # grows beyond the floor too
    assert connect_timeout(2, emulated=True) == EMULATED_CONNECT_TIMEOUT_S


def test_a_lab_run_has_one_fork_per_host_up_to_a_cap() -> None:
    """ansible.cfg's forks = 20 made the 21st host of a classroom wait for every task's first wave."""
    assert ansible_forks(21) == 21
    assert ansible_forks(41) == 41
    assert ansible_forks(2) == 2
    assert ansible_forks(500) == MAX_FORKS


def test_plain_ansible_without_mitogen_or_when_turned_off_or_another_strategy_is_chosen() -> None:
    assert mitogen_env({}, None) == {}
    assert mitogen_env({"LAB_MITOGEN": "0"}, PLUGINS) == {}
    assert mitogen_env({"ANSIBLE_STRATEGY": "free"}, PLUGINS) == {}
    assert describe({}).startswith("plain Ansible")
    assert "free" in describe({"ANSIBLE_STRATEGY": "free"})


def test_mitogen_runs_a_play_under_the_pinned_ansible_core(tmp_path: Path) -> None:
    """ansible-core refuses an unknown strategy, and Mitogen refuses an ansible-core it does not support."""
    done = _play_with_the_lab_strategy(tmp_path,
                                       "    - ansible.builtin.command: echo mitogen-ran\n      register: echoed\n"
                                       "    - ansible.builtin.debug:\n        msg: \"{{ echoed.stdout }}\"\n")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert '"msg": "mitogen-ran"' in done.stdout or "msg: mitogen-ran" in done.stdout, done.stdout[-2000:]


def test_the_lab_strategy_leaves_the_controller_and_the_hosts_commands_on_every_cpu(tmp_path: Path) -> None:
    """Mitogen's own mitogen_linear pins the workers (which evaluate a lookup) to one CPU of a 2- or 3-CPU machine,
    and the commands it starts there too; the lab's strategy pins nothing."""
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2:
        pytest.skip(f"this process may use {len(allowed)} CPU: nothing to pin apart")
    done = _play_with_the_lab_strategy(
        tmp_path, "    - ansible.builtin.command: grep Cpus_allowed_list /proc/self/status\n"
                  "      register: module_cpus\n"
                  "    - ansible.builtin.debug:\n"
                  "        msg: \"CPUS worker={{ lookup('ansible.builtin.pipe', 'grep Cpus_allowed_list "
                  "/proc/self/status') | split | last }} command={{ module_cpus.stdout.split() | last }}\"\n")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    seen = re.search(r"CPUS worker=(\S+) command=(\S+?)\"?$", done.stdout, re.MULTILINE)
    assert seen is not None, done.stdout[-2000:]
    expected = cpu_list(allowed)
    assert (seen[1], seen[2]) == (expected, expected), f"allowed here {expected}; worker, command: {seen.groups()}"


def test_the_lab_strategy_forks_each_worker_with_the_controllers_objects_frozen(tmp_path: Path) -> None:
    """A worker's collector then leaves the inherited heap alone (its pages stay shared); the lookup runs in the
    worker, a command on the host would not."""
    lookups = tmp_path / "lookup_plugins"
    lookups.mkdir()
    (lookups / "frozen_objects.py").write_text(
        "import gc\nfrom ansible.plugins.lookup import LookupBase\n\n\n"
        "class LookupModule(LookupBase):\n    def run(self, terms, variables=None, **kwargs):\n"
        "        return [gc.get_freeze_count()]\n")
    done = _play_with_the_lab_strategy(
        tmp_path, "    - ansible.builtin.debug:\n        msg: \"FROZEN {{ lookup('frozen_objects') }}\"\n",
        ANSIBLE_LOOKUP_PLUGINS=str(lookups))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    seen = re.search(r"FROZEN (\d+)", done.stdout)
    assert seen is not None, done.stdout[-2000:]
    assert int(seen[1]) > 10_000, f"the worker inherited {seen[1]} frozen objects"


def cpu_list(cpus: set[int]) -> str:
    """The kernel's Cpus_allowed_list form of a set of CPUs: ranges, e.g. 0-1,4."""
    ranges: list[str] = []
    for cpu in sorted(cpus):
        if ranges and cpu - 1 in cpus:
            start = ranges[-1].split("-")[0]
            ranges[-1] = f"{start}-{cpu}"
        else:
            ranges.append(str(cpu))
    return ",".join(ranges)


def _play_with_the_lab_strategy(tmp_path: Path, tasks: str, **more_env: str) -> subprocess.CompletedProcess[str]:
    """ansible-playbook on localhost with the lab's strategy (as lab.provision sets it up): `tasks` as YAML lines,
    `more_env` added to its environment."""
    plugins = strategy_plugins()
    if plugins is None:
        pytest.fail("mitogen is not installed in this venv (it is a dev dependency: make venv)")
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n" + tasks)
    env = {**os.environ, "ANSIBLE_HOME": str(tmp_path / "ansible-home"), "ANSIBLE_NOCOLOR": "1",
           **mitogen_env({}, plugins), **more_env}
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
               "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
