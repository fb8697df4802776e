#!/usr/bin/python
"""Ansible module: static interfaces in /etc/network/interfaces, applied and rolled back with netconfig's own code."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: chatlab_static_ip
short_description: Static IPv4 stanzas (address, gateway, routes) of interfaces in an interfaces(5) file, applied
description:
  - Replaces each interface's C(inet) stanza and its C(auto)/C(allow-hotplug) line instead of appending a duplicate;
    every other byte of the file is kept. A second run with the same values changes nothing.
  - Refuses (unless I(force)) to change an interface that a file the interfaces file sources configures too:
    ifupdown would apply both stanzas.
  - Everything is netconfig's code, shipped as module_utils (links to netconfig's files): the format
    (chatlab_interfaces), the safe writes (chatlab_files), the lock-out policy (chatlab_guard), the SSH session
    it runs in (chatlab_session, also under become), the decision what to write, refuse and confirm
    (chatlab_plan, the same as the netconfig command's), apply, verify, rollback and confirmed changes
    (chatlab_apply).
  - With I(apply), changed interfaces are brought down and up with ifupdown and checked; on failure the previous
    configuration is put back and the module fails with the reason.
  - An interface that carries the default route or an address Ansible is connected through gets a confirmed change
    (unless I(force)) - the module arms a rollback on the host, returns, and applies the change a second later in
    the background; the caller reconnects (to I(reconnect_address)) and runs the module with I(confirm). Without
    the confirm within I(confirm_timeout) seconds the host rolls back by itself. I(confirm_timeout=0) refuses such
    a change instead.
options:
  interfaces:
    description: The interfaces to set.
    type: list
    elements: dict
    suboptions:
      interface: {description: Interface name, e.g. eth1., type: str, required: true}
      address: {description: Address with prefix, e.g. 192.168.56.10/24., type: str, required: true}
      gateway: {description: Optional default gateway inside the subnet., type: str}
      routes:
        description: Static routes, written as C(up ip route replace)/C(down ip route del) lines.
        type: list
        elements: dict
        default: []
        suboptions:
          to: {description: Destination network, e.g. 192.168.57.0/24., type: str, required: true}
          via: {description: Gateway on the interface's subnet., type: str, required: true}
  path: {description: The interfaces(5) file., type: path, default: /etc/network/interfaces}
  apply: {description: Bring changed interfaces down and up so the file takes effect., type: bool, default: false}
  protect_addresses: {description: Addresses Ansible reaches the host by., type: list, elements: str, default: []}
  force:
    description: Change a protected interface without a confirmed change, or one a sourced file configures too.
    type: bool
    default: false
  confirm_timeout:
    description: Seconds to confirm a change of a protected interface in; 0 refuses such a change.
    type: int
    default: 120
  state_dir:
    description: ifupdown's state directory (netconfig keeps a change to confirm in its netconfig/).
    type: path
  confirm:
    description: Confirm the change waiting for confirmation (the other options are ignored).
    type: bool
    default: false
supports_check_mode: true
"""

RETURN = r"""
pending: {description: A confirmed change waits for I(confirm)., type: bool, returned: always}
reconnect_address: {description: Where to reach the host from now on., type: str, returned: when pending}
rollback_at:
  description: When the host rolls back by itself (HH:MM:SS, its local time).
  type: str
  returned: when pending
reconnect_delay:
  description: Seconds to wait before reconnecting (the change goes live in the meantime).
  type: int
  returned: when pending
reconnect_timeout:
  description: Seconds left to reconnect in (after reconnect_delay), leaving time for the confirm.
  type: int
  returned: when pending
unreachable_msg:
  description: The one line to fail with when the host cannot be reached in time.
  type: str
  returned: when pending
"""

import contextlib
import ipaddress
import socket
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.chatlab_apply import (
    ApplyError,
    Armed,
    Change,
    ConfirmError,
    Ifupdown,
    apply_change,
    confirm,
    observe,
    preflight,
    start_confirmed,
)
from ansible.module_utils.chatlab_files import ENCODING, ERRORS, FilesError, read_text, sourced_texts, write_with_backup
from ansible.module_utils.chatlab_interfaces import InterfacesError, parse_static_address, validate_interface_name
from ansible.module_utils.chatlab_plan import FORCED, FileState, Plan, Request, Target, decide, missing_interface

APPLY_DELAY = 1.0  # seconds: this module's result reaches the controller before the connection's interface changes
RECONNECT_DELAY = 2  # seconds before the first attempt to reconnect: the change is live by then
CONFIRM_MARGIN = 5  # seconds of the confirm timeout kept for the confirm itself, after reconnecting

ARGUMENT_SPEC = {
    "interfaces": {"type": "list", "elements": "dict", "options": {
        "interface": {"type": "str", "required": True},
        "address": {"type": "str", "required": True},
        "gateway": {"type": "str"},
        "routes": {"type": "list", "elements": "dict", "default": [], "options": {
            "to": {"type": "str", "required": True},
            "via": {"type": "str", "required": True},
        }},
    }},
    "path": {"type": "path", "default": "/etc/network/interfaces"},
    "apply": {"type": "bool", "default": False},
    "protect_addresses": {"type": "list", "elements": "str", "default": []},
    "force": {"type": "bool", "default": False},
    "confirm_timeout": {"type": "int", "default": 120},
    "state_dir": {"type": "path"},
    "confirm": {"type": "bool", "default": False},
}
HINTS = {"conflict": "or force", "lockout": "a confirm_timeout above 0 for a confirmed change, or force for an "
                                            "unconfirmed one"}


def displayable(text: str) -> str:
    """`text` as valid UTF-8 for the diff (ansible-core 2.19 refuses a result holding a lone surrogate): every byte
    that is not UTF-8 shows as U+FFFD; the file itself is written from the undecoded text."""
    return text.encode(ENCODING, ERRORS).decode(ENCODING, "replace")


def connected_addresses(names: list[str]) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """protect_addresses as addresses (host names resolved)."""
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for name in names:
        try:
            found.append(ipaddress.ip_address(name))
        except ValueError:
            with contextlib.suppress(OSError):
                found.extend(ipaddress.ip_address(info[4][0]) for info in socket.getaddrinfo(name, None))
    return list(dict.fromkeys(found))


def targets_of(module: AnsibleModule) -> list[Target]:
    targets: list[Target] = []
    for item in module.params["interfaces"] or []:
        name = item["interface"]
        try:
            validate_interface_name(name)
            static = parse_static_address(item["address"], gateway=item.get("gateway") or None,
                                          routes=[(r["to"], r["via"]) for r in item.get("routes") or []])
        except InterfacesError as error:
            module.fail_json(msg=f"{name}: {error}")
        if any(t.iface == name for t in targets):
            module.fail_json(msg=f"{name} is listed twice")
        targets.append(Target(name, static))
    if not targets:
        module.fail_json(msg="no interface to set: give static_ip_interfaces (or static_ip_interface and "
                             "static_ip_address)")
    return targets


def state_dir(module: AnsibleModule) -> Path | None:
    return Path(module.params["state_dir"]) if module.params["state_dir"] else None


def run_confirm(module: AnsibleModule) -> None:
    if module.check_mode:
        module.exit_json(changed=False, msg="check mode: nothing to confirm")
    try:
        message = confirm(Ifupdown(state_dir=state_dir(module)))
    except (ConfirmError, FilesError) as error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=True, msg=message)


def plan_of(module: AnsibleModule) -> Plan:
    """Gather the file and the live state, decide (netconfig.plan), and fail on what the plan refuses."""
    params = module.params
    request = Request(tuple(targets_of(module)), apply=params["apply"], force=params["force"],
                      confirm_seconds=params["confirm_timeout"], protect_addresses=tuple(params["protect_addresses"]))
    live = observe(request.targets, connected_addresses(params["protect_addresses"]))
    missing = missing_interface(request, live)
    if missing:
        module.fail_json(msg=f"interface {missing} does not exist on this host")
    path = Path(params["path"])
    try:
        text = read_text(path)
        plan = decide(request, FileState(path, text, sourced_texts(path, text)), live)
    except FilesError as error:
        module.fail_json(msg=str(error))
    except InterfacesError as error:
        module.fail_json(msg=f"{path}: {error}")
    for objection in plan.objections:
        if objection.refused:
            module.fail_json(msg=f"refusing to change {', '.join(objection.ifaces)}: {objection.describe()} "
                                 f"({HINTS[objection.kind]})")
        if objection.outcome == FORCED:
            module.warn(f"force: {objection.describe()}")
    return plan


def pending_result(plan: Plan, armed: Armed) -> dict:
    """What the caller needs to reconnect and confirm (see RETURN)."""
    reconnect = plan.reconnect
    assert reconnect is not None  # a confirmed plan says where to reconnect
    previous = reconnect.previous if reconnect.previous else "its previous configuration"
    return {"pending": True, "reconnect_address": reconnect.address, "rollback_at": armed.at,
            "reconnect_delay": RECONNECT_DELAY,
            "reconnect_timeout": max(1, int(plan.request.confirm_seconds - RECONNECT_DELAY - CONFIRM_MARGIN)),
            "unreachable_msg": f"{reconnect.where} not reachable from here; the host rolls back to {previous} by "
                               f"itself at {armed.at}"}


def carry_out(module: AnsibleModule, plan: Plan, result: dict) -> None:
    """Write the file, or apply the change (a confirmed one returns at once, pending)."""
    path = plan.file.path
    if not plan.request.apply:
        try:
            backup = write_with_backup(path, plan.new_text, plan.file.text)
        except FilesError as error:
            module.fail_json(msg=str(error))
        module.exit_json(backup_file=str(backup) if backup else None, **result)
    problem = preflight("applying")
    if problem:
        module.fail_json(msg=problem)
    lines: list[str] = []
    tools = Ifupdown(interfaces_file=path, state_dir=state_dir(module), log=lines.append)
    change = Change(path, plan.file.text, plan.new_text, plan.touched)
    try:
        if not plan.confirmed:
            apply_change(change, tools)
            module.exit_json(log=lines, **result)
        armed = start_confirmed(change, plan.request.confirm_seconds, tools, APPLY_DELAY)
    except (ApplyError, ConfirmError, FilesError) as error:
        module.fail_json(msg=str(error), log=lines)
    module.exit_json(**{**result, **pending_result(plan, armed), "log": lines})


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if module.params["confirm"]:
        run_confirm(module)
    plan = plan_of(module)
    path = str(plan.file.path)
    result = {"changed": plan.changed, "pending": False, "interfaces": [t.iface for t in plan.touched],
              "diff": {"before": displayable(plan.old_text), "after": displayable(plan.new_text),
                       "before_header": path, "after_header": path}}
    if not plan.changed or module.check_mode:  # check mode after the refusals (they only read): it fails where
        module.exit_json(**result)  # the real run would
    carry_out(module, plan, result)


if __name__ == "__main__":
    main()
