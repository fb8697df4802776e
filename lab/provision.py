"""The lab's Ansible and pytest runs: ansible/site.yml against the lab's inventory, then the cross-host checks
(tests/infra, with the lab.pytest_hosts plugin; JUnit XML and a table of it, lab.outputs.results), each run as a
step whose output passes through as it comes.

Mitogen for Ansible in these runs: one Python interpreter per host for the whole play instead of one per task
(under software emulation a task's interpreter start alone takes over a second), through the lab's own strategy
plugin (lab/ansible_plugins/strategy): Mitogen's mitogen_linear without its CPU pinning. Only the lab driver turns
it on, through the environment of the Ansible runs it starts, and only when the `mitogen` package is importable:
ansible.cfg names no strategy, so `ansible-playbook` on real machines runs plain Ansible whether or not Mitogen is
installed. LAB_MITOGEN=0 turns it off; an ANSIBLE_STRATEGY of the caller wins.

Reference: docs/ansible.md#mitogen, docs/testing.md
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from lab.errors import LabError
from lab.outputs.results import print_summary
from lab.plumbing.progress import heartbeat
from lab.plumbing.shell import log
from lab.state import ANSIBLE_HOME, REPO, LabConfig

ANSIBLE_DIR = REPO / "ansible"
INFRA_TESTS = REPO / "tests" / "infra"
# mitogen_linear keeps the linear strategy's semantics (run_once, handlers); mitogen_free runs run_once tasks per host.
# The lab's plugin is mitogen_linear with every process left to the kernel's scheduler: Mitogen's own CPU pinning put
# all of a run's controller work on one CPU of this machine's two (the plugin's docstring).
STRATEGY = "chatlab_mitogen_linear"
STRATEGY_PLUGINS = REPO / "lab" / "ansible_plugins" / "strategy"
MITOGEN_STRATEGY = "mitogen_linear"  # what the lab's plugin extends
# Mitogen's connection timeout covers SSH and its interpreter's start on the host, and at a play's first task
# every host's interpreter is started through one multiplexer process at once: the hosts' first results arrive
# together, after a time that grows with the hosts and the machine's load (21 containers: 3.8 s on a fairly quiet
# machine, 12.5 s with six busy loops beside it). Ansible's default 10 s, the same for 2 hosts and for 41, is what
# made clients of a 20-client lab "UNREACHABLE ... Connection timed out" in the first play. So the timeout is sized
# to the hosts: CONNECT_TIMEOUT_S plus CONNECT_TIMEOUT_PER_HOST_S each. Emulated VMs (TCG) get 60 s at least
# ("Connection timed out" on the first task of a busy machine). Not more than that: every attempt to reach an
# address that does not answer (the confirmed change's reconnect) waits that long. A caller's ANSIBLE_TIMEOUT wins.
CONNECT_TIMEOUT_S = 10  # Ansible's default
CONNECT_TIMEOUT_PER_HOST_S = 0.5
EMULATED_CONNECT_TIMEOUT_S = 60
# ansible.cfg's forks (20) is for real machines; a lab's runs get one fork per host, so that each task reaches
# every host in one wave instead of a 21st host waiting for the first 20 (up to MAX_FORKS).
MAX_FORKS = 64


def connect_timeout(hosts: int, emulated: bool = False) -> int:
    """Seconds Mitogen may take to reach a host and start its interpreter, when `hosts` are reached at once."""
    sized = CONNECT_TIMEOUT_S + round(CONNECT_TIMEOUT_PER_HOST_S * hosts)
    return max(sized, EMULATED_CONNECT_TIMEOUT_S) if emulated else sized


def ansible_forks(hosts: int) -> int:
    """Forks for a lab's run over `hosts` hosts: one per host, at most MAX_FORKS."""
    return max(1, min(hosts, MAX_FORKS))


def strategy_plugins() -> Path | None:
    """The directory of the lab's strategy plugin, or None when Mitogen (with its mitogen_linear) is not installed."""
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or not spec.submodule_search_locations:
        return None
    mitogen_plugins = Path(next(iter(spec.submodule_search_locations))) / "plugins" / "strategy"
    return STRATEGY_PLUGINS if (mitogen_plugins / f"{MITOGEN_STRATEGY}.py").is_file() else None


def mitogen_env(environ: Mapping[str, str], plugins: Path | None, hosts: int = 1,
                emulated: bool = False) -> dict[str, str]:
    """The variables that make Ansible use Mitogen (empty: plain Ansible), given Mitogen's plugin directory, the
    number of hosts its runs reach, and whether they are emulated VMs (TCG)."""
    if plugins is None or environ.get("LAB_MITOGEN", "1") == "0" or environ.get("ANSIBLE_STRATEGY"):
        return {}
    env = {"ANSIBLE_STRATEGY_PLUGINS": str(plugins), "ANSIBLE_STRATEGY": STRATEGY}
    if not environ.get("ANSIBLE_TIMEOUT"):
        env["ANSIBLE_TIMEOUT"] = str(connect_timeout(hosts, emulated))
    return env


def describe(env: Mapping[str, str]) -> str:
    """One phrase for the log: which strategy the lab's Ansible runs use."""
    strategy = env.get("ANSIBLE_STRATEGY")
    if strategy == STRATEGY:
        return f"Ansible with Mitogen ({STRATEGY}: {MITOGEN_STRATEGY}, unpinned; LAB_MITOGEN=0 for plain Ansible)"
    if strategy:
        return f"Ansible strategy {strategy} (ANSIBLE_STRATEGY)"
    return "plain Ansible (Mitogen is not installed, or LAB_MITOGEN=0)"


# ---- the runs -------------------------------------------------------------------------------------------------
def tool_env(config: LabConfig) -> dict[str, str]:
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = f"{venv_bin}:{env.get('PATH', '')}"  # testinfra's ansible backend calls ansible-inventory
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env.setdefault("ANSIBLE_HOME", str(ANSIBLE_HOME))
    env["CHATLAB_INVENTORY"] = str(config.inventory_path)
    emulated = config.provider_settings.get("LAB_LIBVIRT_DRIVER") == "qemu"
    hosts = len(config.topology.hosts)
    env.update(mitogen_env(env, strategy_plugins(), hosts=hosts, emulated=emulated))
    env.setdefault("ANSIBLE_FORKS", str(ansible_forks(hosts)))
    return env


def run_step(config: LabConfig, step: str, args: list[str]) -> None:
    """Runs one step's command, its output passed through as it comes (a heartbeat line when it is silent)."""
    started = time.monotonic()
    log(f"{step} ...")
    env = {**tool_env(config), "PYTHONUNBUFFERED": "1"}  # pytest's output reaches the pipe as it is printed
    if sys.stdout.isatty():
        env.setdefault("ANSIBLE_FORCE_COLOR", "1")  # its output goes through a pipe now
    with heartbeat(step) as beat:
        process = subprocess.Popen(args, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert process.stdout is not None
        for chunk in iter(lambda: os.read(process.stdout.fileno(), 65536), b""):  # pytest's dots end no line
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            beat.output()
        code = process.wait()
    if code != 0:
        raise LabError(f"step '{step}' failed (see above); the lab stays up: fix, then 'make lab-up' again "
                       f"or 'make lab-down'")
    log(f"{step}: done in {time.monotonic() - started:.1f} s")


def provision(config: LabConfig) -> None:
    log(describe(tool_env(config)))
    run_step(config, "provision (ansible-playbook site.yml)",
             [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(config.inventory_path),
              str(ANSIBLE_DIR / "site.yml")])


def check(config: LabConfig, *, drills: bool = True) -> None:
    """The cross-host checks; without `drills`, not the fault drills (tests marked disruptive: they change the
    lab and put it back, and take the longest), which `lab up` leaves to `lab test`, and the idempotence rerun of
    site.yml on one host of each kind instead of every host (tests/infra/site_runs.py says why)."""
    results = config.results_path  # JUnit XML for a CI, and a table of it after pytest's own summary
    results.unlink(missing_ok=True)
    selection = [] if drills else ["-m", "not disruptive", "--rerun-on=one-of-each-kind"]
    step = "cross-host checks (pytest tests/infra)" if drills else \
        "cross-host checks (pytest tests/infra; the fault drills: make lab-test)"
    try:
        run_step(config, step,
                 [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "lab.pytest_hosts", "-q",
                  *selection, str(INFRA_TESTS), f"--inventory={config.inventory_path}", f"--junitxml={results}"])
    finally:
        print_summary(results)
