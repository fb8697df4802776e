"""Mitogen for Ansible in the lab's own runs: one Python interpreter per host for the whole play instead of one per
task (under software emulation a task's interpreter start alone takes over a second).

Only the lab driver turns it on, through the environment of the Ansible runs it starts, and only when the
`mitogen` package is importable: ansible.cfg names no strategy, so `ansible-playbook` on real machines runs plain
Ansible whether or not Mitogen is installed. LAB_MITOGEN=0 turns it off; an ANSIBLE_STRATEGY of the caller wins.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path

# mitogen_linear keeps the linear strategy's semantics (run_once, handlers); mitogen_free runs run_once tasks per host
STRATEGY = "mitogen_linear"
# Mitogen's connection timeout covers SSH and its interpreter's start on the host: Ansible's default 10 s was too
# short for an emulated VM on a busy machine ("Connection timed out" on the first task), so emulated hosts get 60 s.
# Not more, and not for containers or KVM: every attempt to reach an address that does not answer (the confirmed
# change's reconnect) waits that long. A caller's ANSIBLE_TIMEOUT wins.
EMULATED_CONNECT_TIMEOUT_S = 60


def strategy_plugins() -> Path | None:
    """The directory of Mitogen's Ansible strategy plugins, or None when Mitogen is not installed."""
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or not spec.submodule_search_locations:
        return None
    directory = Path(next(iter(spec.submodule_search_locations))) / "plugins" / "strategy"
    return directory if (directory / f"{STRATEGY}.py").is_file() else None


def mitogen_env(environ: Mapping[str, str], plugins: Path | None, emulated: bool = False) -> dict[str, str]:
    """The variables that make Ansible use Mitogen (empty: plain Ansible), given Mitogen's plugin directory and
    whether the hosts are emulated VMs (TCG)."""
    if plugins is None or environ.get("LAB_MITOGEN", "1") == "0" or environ.get("ANSIBLE_STRATEGY"):
        return {}
    env = {"ANSIBLE_STRATEGY_PLUGINS": str(plugins), "ANSIBLE_STRATEGY": STRATEGY}
    if emulated and not environ.get("ANSIBLE_TIMEOUT"):
        env["ANSIBLE_TIMEOUT"] = str(EMULATED_CONNECT_TIMEOUT_S)
    return env


def describe(env: Mapping[str, str]) -> str:
    """One phrase for the log: which strategy the lab's Ansible runs use."""
    strategy = env.get("ANSIBLE_STRATEGY")
    if strategy == STRATEGY:
        return f"Ansible with Mitogen ({STRATEGY}; LAB_MITOGEN=0 for plain Ansible)"
    if strategy:
        return f"Ansible strategy {strategy} (ANSIBLE_STRATEGY)"
    return "plain Ansible (Mitogen is not installed, or LAB_MITOGEN=0)"
