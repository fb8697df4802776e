"""External hosts (provider: external): the one command that authorizes the lab's key, and a VM lab of external
hosts only that starts no VM (no Vagrant run at all, so no stray NAME-default machine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.config import configure, up_request
from lab.plumbing.ssh import authorize_command
from lab.providers.external import external_targets
from lab.providers.libvirt.provider import LibvirtLab

TOPOLOGY = """\
name: ext
networks: {lan: {subnet: 192.168.182.0/24}}
hosts:
  server: {role: chat_server, provider: external, ssh: admin@192.168.182.50, networks: {lan: 192.168.182.50}}
  laptop: {role: chat_client, provider: external, ssh: 'me@192.168.182.51:2222', networks: {lan: 192.168.182.51}}
"""


def test_each_external_host_gets_the_command_that_authorizes_the_labs_key(tmp_path: Path) -> None:
    (tmp_path / "ext.yml").write_text(TOPOLOGY)
    config = configure(up_request({"LAB_TOPOLOGY": str(tmp_path / "ext.yml")}, root=tmp_path), "nspawn")
    commands = [authorize_command(config.key_path, user, address, port)
                for _, user, address, port in external_targets(config)]
    key = tmp_path / ".lab" / "ext" / "ssh" / "id_ed25519"
    assert commands == [f"ssh-copy-id -i {key}.pub admin@192.168.182.50",
                        f"ssh-copy-id -i {key}.pub -p 2222 me@192.168.182.51"]


def test_a_vm_lab_of_external_hosts_only_runs_no_vagrant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ext.yml").write_text(TOPOLOGY)
    config = configure(up_request({"LAB_TOPOLOGY": str(tmp_path / "ext.yml")}, root=tmp_path), "libvirt")
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # any vagrant, virsh or qemu run would fail
    lab = LibvirtLab(config, log=lambda line: None)
    assert lab.prepare() == config
    assert lab.up() == []
