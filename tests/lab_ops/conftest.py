"""The lab operations end to end, against the lab that is up (LAB_NAME picks it; `make lab-e2e` runs these
against its container lab between `lab up` and `lab down`; against a VM lab, by hand, all but the container's
restart run too). Each test leaves the lab as whole as it found it."""

from __future__ import annotations

import os

import pytest

from lab.config import existing_lab
from lab.state import LabConfig


@pytest.fixture(scope="session")
def lab_config() -> LabConfig:
    if os.geteuid() != 0:
        pytest.skip("the lab operations end to end need root and a container lab (sudo make test)")
    name, config = existing_lab()
    if config is None or not config.inventory_path.is_file():
        pytest.skip(f"lab '{name}' is not up: run 'make lab-up LAB_PROVIDER=nspawn' first (or make test)")
    return config


@pytest.fixture(scope="session")
def container_lab(lab_config: LabConfig) -> LabConfig:
    if lab_config.provider != "nspawn":
        pytest.skip(f"lab '{lab_config.name}' is a VM lab: this test kills a container")
    return lab_config
