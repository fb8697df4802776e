"""The VM provider's lab snapshots: libvirt's own snapshots of every domain under one name.

Save pauses every VM first (a lab-wide moment), takes `virsh snapshot-create-as DOMAIN NAME --atomic` of each
(internal disk and memory snapshot of the qcow2 guest) and resumes them whatever happened; when one fails, the
snapshots already taken under that name are deleted again. Restore reverts every VM (`snapshot-revert --running`:
the VMs run afterwards although they were paused when saved). A VM's snapshots are deleted before the VM is
removed (libvirt refuses to undefine a domain that has snapshots).
"""

from __future__ import annotations

from collections.abc import Callable

from lab.errors import LabError

Virsh = Callable[..., str]  # lab.providers.libvirt.tools.virsh: virsh(*args, check=True) -> its stdout


def snapshot_names(listing: str) -> list[str]:
    """`virsh snapshot-list DOMAIN --name`: one name a line (and an empty line at the end)."""
    return [line.strip() for line in listing.splitlines() if line.strip()]


class DomainSnapshots:
    """Snapshots under one name across the lab's domains."""

    def __init__(self, virsh: Virsh, domains: list[str]) -> None:
        self.virsh = virsh
        self.domains = domains

    def names(self, domain: str, check: bool = True) -> list[str]:
        return snapshot_names(self.virsh("snapshot-list", domain, "--name", check=check))

    def _state(self, domain: str) -> str:
        return self.virsh("domstate", domain).strip()

    def save(self, name: str) -> None:
        states = {domain: self._state(domain) for domain in self.domains}
        stopped = [domain for domain, state in states.items() if state not in ("running", "paused")]
        if stopped:
            raise LabError(f"VM {', '.join(stopped)} is not running: 'make lab-up' first")
        taken = [domain for domain in self.domains if name in self.names(domain)]
        if taken:
            raise LabError(f"VM {', '.join(taken)} already has a snapshot {name!r}")
        paused: list[str] = []
        created: list[str] = []
        try:
            for domain in self.domains:
                if states[domain] == "running":
                    self.virsh("suspend", domain)
                    paused.append(domain)
            for domain in self.domains:
                self.virsh("snapshot-create-as", domain, name, "--atomic")
                created.append(domain)
        except LabError:
            for domain in created:
                self.virsh("snapshot-delete", domain, name, check=False)
            raise
        finally:
            for domain in paused:
                self.virsh("resume", domain, check=False)

    def restore(self, name: str) -> None:
        missing = [domain for domain in self.domains if name not in self.names(domain)]
        if missing:
            raise LabError(f"VM {', '.join(missing)} has no snapshot {name!r} (taken before it was rebuilt?)")
        for domain in self.domains:
            self.virsh("snapshot-revert", domain, name, "--running")

    def delete(self, name: str) -> None:
        for domain in self.domains:
            if name in self.names(domain):
                self.virsh("snapshot-delete", domain, name)

    def delete_all(self) -> None:
        """Every snapshot of the domains, before they are removed."""
        for domain in self.domains:  # on the way to removing the VMs: what fails here, the removal reports
            for name in self.names(domain, check=False):
                self.virsh("snapshot-delete", domain, name, check=False)
