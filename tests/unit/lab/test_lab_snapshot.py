"""Whole-lab snapshots: names, the lab's shape and its refusal, the manifest and partial directories
(lab.ops.snapshot), the VM provider's libvirt snapshot sequence (lab.providers.libvirt.snapshot) and the container
provider's freezing and copying (lab.providers.nspawn.snapshot: real processes and files, as root)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lab.config import configure, up_request
from lab.errors import LabError
from lab.ops import snapshot
from lab.providers.libvirt.snapshot import DomainSnapshots, snapshot_names
from lab.providers.nspawn.snapshot import copy_tree, frozen_containers, process_state, processes_in, to_stop
from lab.state import LabConfig


def lab(tmp_path: Path, clients: int = 1, subnet: str = "192.168.56.0/24") -> LabConfig:
    return configure(up_request({"LAB_NAME": "snap", "LAB_CLIENTS": str(clients), "LAB_SUBNET": subnet}, root=tmp_path),
                     "nspawn")


class DirectoryProvider:
    """A provider that keeps a snapshot as files in its directory, as the container provider does, and records
    its calls (the real providers need root and a lab: tests/lab_ops runs them)."""

    name = "nspawn"

    def __init__(self, fail_on_save: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail_on_save = fail_on_save

    def save_snapshot(self, name: str, directory: Path) -> None:
        self.calls.append(("save", name))
        (directory / "server").mkdir()
        (directory / "server" / "disk").write_text("x" * 1000)
        if self.fail_on_save:
            raise LabError("copy failed")

    def restore_snapshot(self, name: str, directory: Path) -> None:
        self.calls.append(("restore", name))
        assert (directory / "server" / "disk").is_file()

    def delete_snapshot(self, name: str) -> None:
        self.calls.append(("delete", name))


def test_snapshot_names_fit_libvirt_and_directories() -> None:
    assert snapshot.check_name("before-upgrade_2") == "before-upgrade_2"
    for bad in ("", "-x", "a/b", "..", "a b", "x" * 33, ".partial-x"):
        with pytest.raises(LabError, match="snapshot name"):
            snapshot.check_name(bad)


def test_shape_difference_names_added_gone_and_renumbered_hosts(tmp_path: Path) -> None:
    one, two = snapshot.lab_shape(lab(tmp_path, 1)), snapshot.lab_shape(lab(tmp_path, 2))
    assert snapshot.shape_difference(one, one) is None
    assert snapshot.shape_difference(one, two) == "hosts added: client2"
    assert snapshot.shape_difference(two, one) == "hosts gone: client2"
    moved = snapshot.lab_shape(lab(tmp_path, 1, "192.168.77.0/24"))
    assert snapshot.shape_difference(one, moved) == "hosts changed: client1, server"


def test_save_list_restore_delete(tmp_path: Path) -> None:
    config, provider = lab(tmp_path), DirectoryProvider()
    taken = snapshot.save(config, provider, "first")
    assert taken.name == "first" and list(taken.shape) == ["server", "client1"] and taken.size_bytes >= 1000
    assert [s.name for s in snapshot.list_snapshots(config)] == ["first"]
    assert snapshot.table(snapshot.list_snapshots(config))[1].split()[:3] == ["first", "nspawn", "server,client1"]
    with pytest.raises(LabError, match="already has a snapshot 'first'"):
        snapshot.save(config, provider, "first")
    snapshot.restore(config, provider, "first")
    snapshot.delete(config, provider, "first")
    assert provider.calls == [("save", "first"), ("restore", "first"), ("delete", "first")]
    assert snapshot.list_snapshots(config) == []
    with pytest.raises(LabError, match="has no snapshot 'first' \\(snapshots: none\\)"):
        snapshot.restore(config, provider, "first")


def test_a_failed_save_leaves_no_snapshot_behind(tmp_path: Path) -> None:
    config = lab(tmp_path)
    with pytest.raises(LabError, match="copy failed"):
        snapshot.save(config, DirectoryProvider(fail_on_save=True), "broken")
    assert snapshot.list_snapshots(config) == []
    assert list(snapshot.snapshots_dir(config).iterdir()) == []


def test_restore_refuses_a_lab_whose_hosts_changed(tmp_path: Path) -> None:
    provider = DirectoryProvider()
    snapshot.save(lab(tmp_path, 1), provider, "small")
    with pytest.raises(LabError, match=r"shape changed since snapshot 'small' was saved \(hosts added: client2\)"):
        snapshot.restore(lab(tmp_path, 2), provider, "small")
    assert ("restore", "small") not in provider.calls


def test_restore_refuses_a_snapshot_of_the_other_provider(tmp_path: Path) -> None:
    config = lab(tmp_path)
    snapshot.save(config, DirectoryProvider(), "box")
    vms = DirectoryProvider()
    vms.name = "libvirt"
    with pytest.raises(LabError, match="is of a nspawn lab, this lab is libvirt"):
        snapshot.restore(config, vms, "box")


class FakeLibvirt:
    """virsh's answers for a few domains (no VM can run in the unit tests): states and snapshots, and every call.
    `fail` makes one call (a tuple of its arguments) fail as virsh does."""

    def __init__(self, domains: list[str], fail: tuple[str, ...] | None = None) -> None:
        self.state = dict.fromkeys(domains, "running")
        self.snapshots: dict[str, list[str]] = {domain: [] for domain in domains}
        self.calls: list[tuple[str, ...]] = []
        self.fail = fail

    def __call__(self, *args: str, check: bool = True) -> str:
        self.calls.append(args)
        if args == self.fail:
            raise LabError(f"virsh {' '.join(args)} failed: error")
        command, domain = args[0], args[1]
        if command == "domstate":
            return self.state[domain] + "\n"
        if command == "snapshot-list":
            return "".join(f"{name}\n" for name in self.snapshots[domain]) + "\n"
        if command == "suspend":
            self.state[domain] = "paused"
        elif command == "resume":
            self.state[domain] = "running"
        elif command == "snapshot-create-as":
            self.snapshots[domain].append(args[2])
        elif command == "snapshot-delete":
            self.snapshots[domain].remove(args[2])
        elif command == "snapshot-revert":
            self.state[domain] = "running"
        return ""


DOMAINS = ["lab-server", "lab-client1"]


def test_snapshot_names_parses_virsh_snapshot_list() -> None:
    assert snapshot_names("one\ntwo\n\n") == ["one", "two"]
    assert snapshot_names("\n") == []


def test_vm_save_pauses_every_vm_takes_atomic_snapshots_then_resumes_them() -> None:
    virsh = FakeLibvirt(DOMAINS)
    DomainSnapshots(virsh, DOMAINS).save("s1")
    changes = [call for call in virsh.calls if call[0] not in ("domstate", "snapshot-list")]
    assert changes == [("suspend", "lab-server"), ("suspend", "lab-client1"),
                       ("snapshot-create-as", "lab-server", "s1", "--atomic"),
                       ("snapshot-create-as", "lab-client1", "s1", "--atomic"),
                       ("resume", "lab-server"), ("resume", "lab-client1")]
    assert virsh.state == dict.fromkeys(DOMAINS, "running")


def test_a_failed_vm_snapshot_is_undone_on_every_vm_and_the_vms_run_again() -> None:
    virsh = FakeLibvirt(DOMAINS, fail=("snapshot-create-as", "lab-client1", "s1", "--atomic"))
    with pytest.raises(LabError, match="snapshot-create-as lab-client1"):
        DomainSnapshots(virsh, DOMAINS).save("s1")
    assert virsh.snapshots == {domain: [] for domain in DOMAINS}
    assert virsh.state == dict.fromkeys(DOMAINS, "running")


def test_vm_save_refuses_a_vm_that_is_off_or_a_name_taken() -> None:
    virsh = FakeLibvirt(DOMAINS)
    virsh.state["lab-client1"] = "shut off"
    with pytest.raises(LabError, match="VM lab-client1 is not running"):
        DomainSnapshots(virsh, DOMAINS).save("s1")
    virsh.state["lab-client1"] = "running"
    virsh.snapshots["lab-server"].append("s1")
    with pytest.raises(LabError, match="VM lab-server already has a snapshot 's1'"):
        DomainSnapshots(virsh, DOMAINS).save("s1")
    assert not any(call[0] == "suspend" for call in virsh.calls)


def test_vm_restore_reverts_every_vm_to_running_and_refuses_a_missing_snapshot() -> None:
    virsh = FakeLibvirt(DOMAINS)
    snapshots = DomainSnapshots(virsh, DOMAINS)
    snapshots.save("s1")
    virsh.snapshots["lab-client1"].remove("s1")
    with pytest.raises(LabError, match="VM lab-client1 has no snapshot 's1'"):
        snapshots.restore("s1")
    assert not any(call[0] == "snapshot-revert" for call in virsh.calls)
    virsh.snapshots["lab-client1"].append("s1")
    snapshots.restore("s1")
    assert [c for c in virsh.calls if c[0] == "snapshot-revert"] == [
        ("snapshot-revert", domain, "s1", "--running") for domain in DOMAINS]


def test_vm_delete_all_removes_every_snapshot_before_the_vms_go() -> None:
    virsh = FakeLibvirt(DOMAINS)
    snapshots = DomainSnapshots(virsh, DOMAINS)
    snapshots.save("a")
    snapshots.save("b")
    snapshots.delete("a")
    assert virsh.snapshots == {domain: ["b"] for domain in DOMAINS}
    snapshots.delete_all()
    assert virsh.snapshots == {domain: [] for domain in DOMAINS}


def test_to_stop_skips_processes_stopped_already_gone_or_ours() -> None:
    states = {1: "S", 2: "T", 3: "R", 5: "Z"}
    assert to_stop([1, 2, 3, 4, 5], {3}, states) == [1]


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a PID namespace, trusted xattrs, mknod)")


@needs_root
def test_frozen_containers_stops_every_process_of_a_pid_namespace_and_only_those_continue() -> None:
    # a little container: an init (PID 1 of a new PID namespace) with two children, one stopped by its owner
    tree = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", "sh", "-c",
                             "sleep 60 & sleep 60 & kill -STOP $!; wait"], start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        init = None
        while time.monotonic() < deadline and init is None:
            children = Path(f"/proc/{tree.pid}/task/{tree.pid}/children").read_text().split()
            init = int(children[0]) if children else None
            time.sleep(0.05)
        assert init is not None, "the namespace's init did not start"
        namespace = os.readlink(f"/proc/{init}/ns/pid")
        while time.monotonic() < deadline and len(processes_in({namespace})) < 3:
            time.sleep(0.05)
        members = processes_in({namespace})
        assert len(members) == 3 and os.getpid() not in members
        before = {pid: process_state(pid) for pid in members}
        assert sorted(before.values()) == ["S", "S", "T"]
        with frozen_containers([init]):
            assert {process_state(pid) for pid in members} == {"T"}
        running = [pid for pid in members if before[pid] == "S"]
        deadline = time.monotonic() + 30  # SIGCONT is delivered when the kernel gets to it: wait for it
        while any(process_state(pid) == "T" for pid in running) and time.monotonic() < deadline:
            time.sleep(0.05)
        # running again (S, or R while it wakes), but the owner's stopped child stays stopped
        stopped = {pid: state == "T" for pid, state in before.items()}
        assert {pid: process_state(pid) == "T" for pid in members} == stopped
    finally:
        os.killpg(tree.pid, signal.SIGKILL)
        tree.wait()


@needs_root
def test_copy_tree_keeps_what_overlayfs_stores_in_an_upper_layer(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "secret").write_text("s")
    os.chmod(upper / "etc" / "secret", 0o600)
    os.chown(upper / "etc" / "secret", 101, 102)
    os.mknod(upper / "etc" / "deleted", 0o600 | 0o020000, os.makedev(0, 0))  # a whiteout: a file deleted below
    os.setxattr(upper / "etc", "trusted.overlay.opaque", b"y")  # an opaque directory: hides the one below
    os.symlink("/dev/null", upper / "masked.service")
    copy = tmp_path / "snapshots" / "s" / "upper"
    copy_tree(upper, copy)
    secret = (copy / "etc" / "secret").stat()
    assert (secret.st_mode & 0o777, secret.st_uid, secret.st_gid) == (0o600, 101, 102)
    whiteout = os.lstat(copy / "etc" / "deleted")
    assert (whiteout.st_mode & 0o170000, whiteout.st_rdev) == (0o020000, os.makedev(0, 0))
    assert os.getxattr(copy / "etc", "trusted.overlay.opaque") == b"y"
    assert os.readlink(copy / "masked.service") == "/dev/null"
