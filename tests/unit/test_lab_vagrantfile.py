"""vagrant/Vagrantfile: valid for any lab size, and strict about the libvirt driver (needs vagrant; else skipped)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

VAGRANT_DIR = Path(__file__).resolve().parents[2] / "vagrant"

pytestmark = pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant is not installed")


def validate(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VAGRANT_CWD": str(VAGRANT_DIR), "VAGRANT_DOTFILE_PATH": str(tmp_path / "dot"),
           "VAGRANT_CHECKPOINT_DISABLE": "1", **settings}
    return subprocess.run(["vagrant", "validate", "--no-color"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_vagrantfile_is_valid_with_three_clients(tmp_path: Path) -> None:
    result = validate(tmp_path, LAB_NAME="unitlab", LAB_CLIENTS="3", LAB_SUBNET="10.42.0.0/16",
                      LAB_LIBVIRT_DRIVER="qemu", LAB_CONSOLE_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr or result.stdout


def test_vagrantfile_refuses_an_unknown_driver(tmp_path: Path) -> None:
    result = validate(tmp_path, LAB_LIBVIRT_DRIVER="host")
    assert result.returncode != 0
    assert "LAB_LIBVIRT_DRIVER must be kvm or qemu" in result.stdout + result.stderr
