"""Snapshots of the whole lab: `lab snapshot save|restore|list|delete` for any provider.

A snapshot is a directory .lab/NAME/snapshots/SNAPSHOT/ with a manifest (provider, the lab's shape: its hosts and
their addresses, when it was taken, how long that took) and whatever the provider keeps there (containers: each
host's writable layer; VMs: nothing, libvirt keeps the snapshots inside the disks). A restore needs the lab's
shape to be the one of the snapshot: hosts added, removed or renumbered since are refused with one line.

Reference: docs/lab.md#operating-a-lab
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lab.errors import LabError
from lab.plumbing.shell import aligned
from lab.plumbing.ssh import close_control_masters
from lab.state import LabConfig

SNAPSHOT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")  # libvirt snapshot names and directories alike
MANIFEST = "manifest.json"
PARTIAL_PREFIX = ".partial-"

Shape = dict[str, dict[str, str]]


class SnapshotProvider(Protocol):
    name: str

    def save_snapshot(self, name: str, directory: Path) -> None: ...

    def restore_snapshot(self, name: str, directory: Path) -> None: ...

    def delete_snapshot(self, name: str) -> None: ...


@dataclass(frozen=True)
class Snapshot:
    name: str
    provider: str
    shape: Shape
    created: str  # ISO 8601, UTC
    save_seconds: float
    size_bytes: int  # what it takes in .lab/NAME/snapshots/ (VMs: libvirt keeps the disks' snapshots)


def lab_shape(config: LabConfig) -> Shape:
    """What a snapshot fits: the lab's hosts, their roles, interfaces (network and address) and management address."""
    return {host.name: {"role": host.role, "mgmt": str(host.mgmt_address),
                        "interfaces": " ".join(f"{i.name}:{i.network}:{i.address}" for i in host.interfaces)}
            for host in config.hosts}


def shape_difference(saved: Shape, current: Shape) -> str | None:
    """How the lab changed since a snapshot, in a few words; None when it did not."""
    added = sorted(set(current) - set(saved))
    removed = sorted(set(saved) - set(current))
    changed = sorted(name for name in set(saved) & set(current) if saved[name] != current[name])
    parts = ([f"hosts added: {', '.join(added)}"] if added else []) + \
            ([f"hosts gone: {', '.join(removed)}"] if removed else []) + \
            ([f"hosts changed: {', '.join(changed)}"] if changed else [])
    return "; ".join(parts) or None


def check_name(name: str) -> str:
    if not SNAPSHOT_NAME.match(name):
        raise LabError(f"snapshot name {name!r}: use 1-32 letters, digits, '-' or '_', starting with a letter or digit")
    return name


def snapshots_dir(config: LabConfig) -> Path:
    return config.snapshots_dir


def _size(directory: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(directory):
        for file in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, file)).st_size
    return total


def _read(directory: Path) -> Snapshot:
    data: dict[str, Any] = json.loads((directory / MANIFEST).read_text())
    return Snapshot(directory.name, data["provider"], data["shape"], data["created"], float(data["save_seconds"]),
                    _size(directory))


def list_snapshots(config: LabConfig) -> list[Snapshot]:
    base = snapshots_dir(config)
    directories = sorted(base.iterdir()) if base.is_dir() else []
    return [_read(d) for d in directories if (d / MANIFEST).is_file() and not d.name.startswith(PARTIAL_PREFIX)]


def _existing(config: LabConfig, name: str) -> Path:
    directory = snapshots_dir(config) / check_name(name)
    if not (directory / MANIFEST).is_file():
        known = ", ".join(s.name for s in list_snapshots(config)) or "none"
        raise LabError(f"lab '{config.name}' has no snapshot {name!r} (snapshots: {known})")
    return directory


def save(config: LabConfig, provider: SnapshotProvider, name: str) -> Snapshot:
    """Takes the snapshot: the provider writes into a partial directory that becomes the snapshot when done."""
    directory = snapshots_dir(config) / check_name(name)
    if directory.exists():
        raise LabError(f"lab '{config.name}' already has a snapshot {name!r}: delete it first "
                       f"(lab snapshot delete {name})")
    partial = directory.with_name(PARTIAL_PREFIX + name)
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    started = time.monotonic()
    try:
        provider.save_snapshot(name, partial)
        seconds = round(time.monotonic() - started, 2)
        manifest = {"provider": provider.name, "shape": lab_shape(config), "save_seconds": seconds,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        partial.rename(directory)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return _read(directory)


def restore(config: LabConfig, provider: SnapshotProvider, name: str) -> float:
    """Brings every host's disk back to the snapshot; refuses a snapshot of another shape. Returns its seconds."""
    directory = _existing(config, name)
    snapshot = _read(directory)
    if snapshot.provider != provider.name:
        raise LabError(f"snapshot {name!r} is of a {snapshot.provider} lab, this lab is {provider.name}")
    difference = shape_difference(snapshot.shape, lab_shape(config))
    if difference:
        raise LabError(f"the lab's shape changed since snapshot {name!r} was saved ({difference}): "
                       f"a restore needs the same hosts; 'make lab-up' with the snapshot's settings first, "
                       f"or delete the snapshot")
    started = time.monotonic()
    close_control_masters(config)  # shared SSH connections lead to hosts that are about to go back in time
    provider.restore_snapshot(name, directory)
    close_control_masters(config)
    return time.monotonic() - started


def delete(config: LabConfig, provider: SnapshotProvider, name: str) -> None:
    directory = _existing(config, name)
    provider.delete_snapshot(name)
    shutil.rmtree(directory)


def table(snapshots: list[Snapshot]) -> list[str]:
    """`lab snapshot list`: one line per snapshot under a header."""
    if not snapshots:
        return ["no snapshots (lab snapshot save NAME takes one)"]
    rows = [("name", "provider", "hosts", "created", "save s", "size")]
    rows += [(s.name, s.provider, ",".join(s.shape), s.created, f"{s.save_seconds:.2f}",
              f"{s.size_bytes / 2**20:.1f} MiB") for s in snapshots]
    return aligned(rows)
