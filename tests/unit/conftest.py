"""Fixtures shared by more than one part: netns, a network namespace of the test's own (netconfig's ifupdown tests
and the static_ip module's, see netns_helpers). Each part's own fixtures live in its folder's conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from netns_helpers import Netns, namespace


@pytest.fixture
def netns(tmp_path: Path) -> Iterator[Netns]:
    with namespace(tmp_path) as ns:
        yield ns
