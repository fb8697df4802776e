"""Which provider `lab up` uses: VMs by default (installing their tools when missing), containers when asked for
or when the VM tools cannot be had, and always the provider of a lab that is up."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.config import configure, up_request
from lab.errors import LabError
from lab.providers import decide_provider
from lab.state import save_state


class Machine:
    """A machine's VM tools: missing until installed (if installing works)."""

    def __init__(self, installed: bool, install_works: bool = True) -> None:
        self.installed, self.install_works, self.install_calls = installed, install_works, 0

    def missing(self) -> list[str]:
        return [] if self.installed else ["vagrant", "virsh"]

    def install(self) -> str | None:
        self.install_calls += 1
        if not self.install_works:
            return "E: Unable to locate package vagrant"
        self.installed = True
        return None


def decide(tmp_path: Path, machine: Machine, **environ: str) -> tuple[str, str]:
    return decide_provider(up_request(environ, root=tmp_path), machine.missing, machine.install)


def test_fresh_machine_installs_the_vm_tools_and_makes_vms(tmp_path: Path) -> None:
    machine = Machine(installed=False)
    provider, reason = decide(tmp_path, machine)
    assert provider == "libvirt" and machine.install_calls == 1
    assert "VMs, the default" in reason and "LAB_PROVIDER=nspawn" in reason


def test_machine_with_the_vm_tools_makes_vms_without_installing(tmp_path: Path) -> None:
    machine = Machine(installed=True)
    assert decide(tmp_path, machine)[0] == "libvirt" and machine.install_calls == 0


def test_vm_tools_that_cannot_be_installed_give_containers_and_say_why(tmp_path: Path) -> None:
    provider, reason = decide(tmp_path, Machine(installed=False, install_works=False))
    assert provider == "nspawn"
    assert "VM tools are missing (vagrant, virsh)" in reason and "Unable to locate package vagrant" in reason


def test_containers_when_asked_for_even_with_vm_tools(tmp_path: Path) -> None:
    machine = Machine(installed=False)
    assert decide(tmp_path, machine, LAB_PROVIDER="nspawn") == ("nspawn", "LAB_PROVIDER=nspawn")
    assert machine.install_calls == 0


def test_a_lab_that_is_up_keeps_its_provider_and_refuses_another(tmp_path: Path) -> None:
    save_state(configure(up_request({}, root=tmp_path), "nspawn"))
    assert decide(tmp_path, Machine(installed=True)) == ("nspawn", "the lab is already up with it")
    with pytest.raises(LabError, match="lab 'chatlab' is up with provider nspawn: 'make lab-down' first"):
        decide(tmp_path, Machine(installed=True), LAB_PROVIDER="libvirt")
