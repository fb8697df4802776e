"""site.yml run again changes nothing (on every host, or on one of each kind: site_runs.py), check mode says so too
(on one host of each kind), and it never cuts the branch Ansible sits on.

The rerun and the check-mode run start with the session (tests/infra/site_runs.py, conftest's converged_runs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lab_hosts import LabHost
from outputs import failure_messages, refusal
from site_runs import ConvergedRuns, play


def test_site_refuses_the_interface_ansible_uses_without_a_confirm_timeout(
    server: LabHost, inventory_data: dict[str, Any], inventory: Path
) -> None:
    """With static_ip_confirm_timeout 0 (no confirmed change) the interface Ansible uses is refused, and the task's
    msg is the reason itself: among its reasons (a host that got eth0 by DHCP also has the default route there),
    that the interface holds the address Ansible is connected to. tests/infra/test_confirmed_apply.py moves it for
    real with a confirmed change."""
    management = inventory_data["_meta"]["hostvars"][server.name]["ansible_host"]
    holder = server.host.check_output(f"ip -o -4 addr show to {management}").split()
    assert holder, f"no interface of {server.name} holds {management}"
    before = server.host.file("/etc/network/interfaces").content_string
    wrong = json.dumps({"static_ip_interfaces": [{"interface": holder[1], "address": "198.51.100.77/24"}],
                        "static_ip_confirm_timeout": 0})
    result = play(inventory, "--limit", server.name, "-e", wrong)
    assert result.returncode != 0, "site.yml changed the interface Ansible is connected through"
    message = failure_messages(result.stdout).get(server.name, "")
    refused = refusal(message)
    assert refused is not None and holder[1] in refused.interfaces, f"not a refusal of {holder[1]}: {message!r}"
    assert refused.names_address(holder[1], management), f"the refusal does not give {management}: {message!r}"
    assert "'dict object'" not in result.stdout
    assert server.host.file("/etc/network/interfaces").content_string == before


def test_site_rerun_reports_no_change(converged_runs: ConvergedRuns) -> None:
    changed = converged_runs.rerun.result()
    assert sorted(changed) == sorted(converged_runs.rerun_hosts), f"the rerun ran on {sorted(changed)}"
    assert all(count == 0 for count in changed.values()), f"changed per host: {changed}"


def test_site_in_check_mode_reports_no_change_on_one_host_of_each_kind(converged_runs: ConvergedRuns) -> None:
    changed = converged_runs.check_mode.result()
    assert sorted(changed) == sorted(converged_runs.check_hosts), f"check mode ran on {sorted(changed)}"
    assert all(count == 0 for count in changed.values()), f"changed per host: {changed}"
