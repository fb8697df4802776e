"""The Vagrant side of the VM lab: where vagrant/Vagrantfile is, what the lab's VMs default to, and reading
Vagrant's output. The Vagrantfile reads the lab's record (.lab/NAME/topology.json) for its machines."""

from __future__ import annotations

import re

from lab.images.box import BOX_NAME, PUBLIC_BOX, installed_boxes
from lab.state import REPO, LabConfig

VAGRANT_DIR = REPO / "vagrant"
DEFAULT_VM_MEMORY_MIB = 768
# vagrant up's chatter that says nothing new (upload progress, the domain settings table)
QUIET_LINE = re.compile(r"Progress: \d+%|^==> [\w-]+:\s+-- |No version detected|generating a local metadata|"
                        r"See https://www.vagrantup.com/docs/boxes")


def parse_ssh_config(text: str) -> dict[str, dict[str, str]]:
    """`vagrant ssh-config` output: {machine: {option (lowercase): value}}."""
    machines: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        fields = line.strip().split(None, 1)
        if len(fields) != 2:
            continue
        key, value = fields[0].lower(), fields[1].strip().strip('"')
        if key == "host":
            current = machines.setdefault(value, {})
        elif current is not None:
            current[key] = value
    return machines



def manual_settings(config: LabConfig) -> dict[str, str]:
    """Provider settings for `cd vagrant && vagrant up` by hand: LAB_BOX, else the local box when it is built, else
    the public one; LAB_LIBVIRT_DRIVER, else kvm (qemu where KVM guests do not boot)."""
    settings = dict(config.provider_settings)
    if "LAB_BOX" not in settings:
        settings["LAB_BOX"] = BOX_NAME if (BOX_NAME, "libvirt") in installed_boxes() else PUBLIC_BOX
    settings.setdefault("LAB_LIBVIRT_DRIVER", "kvm")
    settings.setdefault("LAB_VM_MEMORY", str(DEFAULT_VM_MEMORY_MIB))
    return settings
