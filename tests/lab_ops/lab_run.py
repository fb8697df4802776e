"""Running the lab driver as a user does, from the tests."""

from __future__ import annotations

import subprocess
import sys

import pytest
from repo_paths import REPO


def lab(*args: str, timeout: float = 300, check: bool = False) -> subprocess.CompletedProcess[str]:
    """`python -m lab ARGS` as a user types it (the environment names the lab), its output captured."""
    result = subprocess.run([sys.executable, "-m", "lab", *args], cwd=REPO, capture_output=True, text=True,
                            timeout=timeout, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"lab {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result
