"""Mitogen's mitogen_linear strategy without Mitogen's CPU pinning, and with workers forked from a frozen heap: the
strategy of the lab's Ansible runs (lab/provision.py).

Mitogen pins the processes of a run to CPUs (ansible_mitogen.affinity): on a machine with 2 or 3 CPUs its
multiplexer to CPU 0, and Ansible's top-level process, every worker (one forked per task and host) and every SSH
client to CPU 1, whatever else runs. Ansible's controller work is most of a lab run's cost, so a run used one CPU of
two, and the checks' two runs side by side (the idempotence rerun and check mode) shared that one CPU. Mitogen's own
no-op policy, set before the run starts, leaves every process to the kernel's scheduler.

Ansible forks a worker per task and host from a controller that holds the whole play (inventory, variables,
templates: a large heap). A worker's garbage collector walks every object it inherited and so touches, and copies,
the pages of all of them; forking while those objects are frozen (gc.freeze: moved to a generation no collection
walks) spares the workers that work. The controller unfreezes right after the fork, so its own collections go on as
before. The rest is mitogen_linear.

Reference: docs/ansible.md#mitogen
"""

from __future__ import annotations

import gc
from typing import Any

import ansible_mitogen.affinity
from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule as MitogenLinear

ansible_mitogen.affinity.policy = ansible_mitogen.affinity.Policy()  # pins nothing


class StrategyModule(MitogenLinear):
    """mitogen_linear, each process on any CPU, each worker forked with the controller's objects frozen."""

    def _queue_task(self, host: Any, task: Any, task_vars: dict[str, Any], play_context: Any) -> None:
        gc.freeze()
        try:
            super()._queue_task(host, task, task_vars, play_context)
        finally:
            gc.unfreeze()
