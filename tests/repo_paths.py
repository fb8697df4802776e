"""Where the tests find the repository: REPO is its top, for every test that names one of its files."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
