#!/usr/bin/python
"""Ansible module: the static stanza of one interface in /etc/network/interfaces, written with netconfig's parser."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: chatlab_static_ip
short_description: Set (and optionally apply) the static IPv4 stanza of one interface in an interfaces(5) file
description:
  - Replaces the interface's C(inet) stanza and its C(auto)/C(allow-hotplug) line instead of appending a duplicate;
    every other byte of the file is kept. A second run with the same values changes nothing.
  - The file format logic is netconfig's (module_utils chatlab_interfaces, a link to netconfig/interfaces.py).
  - Refuses to touch the interface that holds an address Ansible is connected through, unless I(force).
  - Returns the interface's live IPv4 addresses (live_addresses) and whether ifupdown is installed
    (ifupdown_installed), so the role needs no extra commands to decide whether to install or apply.
  - With I(apply), brings the interface down and up with ifupdown and checks the address is there; when that
    fails and I(restore_from) is given, restores that file, re-applies the previous configuration and fails.
options:
  interface: {description: Interface name, e.g. eth1., type: str, required: true}
  address: {description: Address with prefix, e.g. 192.168.56.10/24., type: str, required: true}
  gateway: {description: Optional gateway inside the subnet., type: str}
  path: {description: The interfaces(5) file., type: path, default: /etc/network/interfaces}
  backup: {description: Keep a timestamped backup of the previous file., type: bool, default: true}
  apply: {description: Bring the interface down and up so the file takes effect., type: bool, default: false}
  restore_from: {description: Backup to restore when applying fails., type: path}
  protect_addresses: {description: Addresses Ansible reaches the host by., type: list, elements: str, default: []}
  force: {description: Change the interface even if Ansible is connected through it., type: bool, default: false}
supports_check_mode: true
"""

import contextlib
import ipaddress
import os
import socket

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.chatlab_guard import ssh_local_address
from ansible.module_utils.chatlab_interfaces import (
    InterfacesError,
    parse_static_address,
    set_static,
    validate_interface_name,
)

# as netconfig/files.py reads and writes the file: bytes that are not UTF-8 survive, line ends are not translated
ENCODING = "utf-8"
ERRORS = "surrogateescape"


def interface_addresses(module: AnsibleModule) -> dict[str, list[str]]:
    """Live IPv4 addresses (with prefix) by interface, from `ip -o -4 addr show`."""
    _, out, _ = module.run_command(["ip", "-o", "-4", "addr", "show"], check_rc=True)
    addresses: dict[str, list[str]] = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "inet":
            addresses.setdefault(fields[1].split("@")[0], []).append(fields[3])
    return addresses


def connected_addresses(module: AnsibleModule) -> set[str]:
    """The addresses this host is reached by: protect_addresses (resolved) and SSH_CONNECTION's local address."""
    found: set[str] = set()
    for name in module.params["protect_addresses"]:
        try:
            found.add(str(ipaddress.ip_address(name)))
        except ValueError:
            with contextlib.suppress(OSError):
                found.update(info[4][0] for info in socket.getaddrinfo(name, None, socket.AF_INET))
    local = ssh_local_address(os.environ.get("SSH_CONNECTION"))
    if local is not None:
        found.add(str(local))
    return found


def bounce(module: AnsibleModule, interface: str, path: str) -> None:
    """ifdown (the old stanza may not match the file any more: ignored), flush IPv4, ifup with the file as it is now."""
    extra = [] if path == "/etc/network/interfaces" else ["-i", path]
    module.run_command(["ifdown", "--force", *extra, interface])
    module.run_command(["ip", "-4", "addr", "flush", "dev", interface])
    rc, out, err = module.run_command(["ifup", *extra, interface])
    if rc != 0:
        raise RuntimeError((err or out).strip().splitlines()[-1] if (err or out).strip() else f"ifup exit {rc}")


def apply(module: AnsibleModule, interface: str, address: str, path: str) -> None:
    try:
        bounce(module, interface, path)
        if address not in interface_addresses(module).get(interface, []):
            raise RuntimeError(f"{interface} does not hold {address} after ifup")
    except RuntimeError as error:
        restore_from = module.params["restore_from"]
        if restore_from and os.path.isfile(restore_from):
            module.atomic_move(module.backup_local(restore_from), path)
            try:
                bounce(module, interface, path)
                outcome = "re-applied the previous configuration"
            except RuntimeError as again:
                outcome = f"re-applying the previous configuration failed too: {again}"
            module.fail_json(msg=f"applying {address} to {interface} failed: {error}; restored {path} from "
                                 f"{restore_from} and {outcome}")
        module.fail_json(msg=f"applying {address} to {interface} failed: {error}")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "interface": {"type": "str", "required": True},
            "address": {"type": "str", "required": True},
            "gateway": {"type": "str"},
            "path": {"type": "path", "default": "/etc/network/interfaces"},
            "backup": {"type": "bool", "default": True},
            "apply": {"type": "bool", "default": False},
            "restore_from": {"type": "path"},
            "protect_addresses": {"type": "list", "elements": "str", "default": []},
            "force": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    params = module.params
    path = params["path"]
    try:
        interface = validate_interface_name(params["interface"])
        static = parse_static_address(params["address"], gateway=params["gateway"] or None)
    except InterfacesError as error:
        module.fail_json(msg=str(error))
    if not os.path.exists(f"/sys/class/net/{interface}"):
        module.fail_json(msg=f"interface {interface} does not exist on this host")
    live = interface_addresses(module)
    holding = [a for a in connected_addresses(module)
               if any(a == held.split("/")[0] for held in live.get(interface, []))]
    if holding and not params["force"]:
        module.fail_json(msg=f"refusing to change {interface}: Ansible is connected through it ({holding[0]}); "
                             f"use another interface or force=true")

    before = ""
    if os.path.exists(path):
        with open(path, encoding=ENCODING, errors=ERRORS, newline="") as handle:  # every byte kept, CRLF too
            before = handle.read()
    try:
        after = set_static(before, interface, static)
    except InterfacesError as error:
        module.fail_json(msg=f"{path}: {error}")
    result = {
        "changed": after != before,
        "interface": interface,
        "address": str(static.interface),
        "live_addresses": live.get(interface, []),
        "ifupdown_installed": module.get_bin_path("ifup") is not None,
        "diff": {"before": before, "after": after, "before_header": path, "after_header": path},
    }
    if result["changed"] and not module.check_mode:
        if params["backup"] and before:
            result["backup_file"] = module.backup_local(path)
        temporary = f"{path}.chatlab-tmp"
        with open(temporary, "w", encoding=ENCODING, errors=ERRORS, newline="") as handle:
            handle.write(after)
            handle.flush()
            os.fsync(handle.fileno())
        module.atomic_move(temporary, path)
    if params["apply"]:
        result["changed"] = True
        if not module.check_mode:
            apply(module, interface, str(static.interface), path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
