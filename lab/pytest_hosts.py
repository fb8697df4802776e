"""pytest plugin for the cross-host checks: records which lab hosts each check used, as the JUnit property
'hosts' (lab.outputs.results shows it). A host is a fixture value with a name and a testinfra handle (tests/infra's
LabHost), or a list of them; a check that uses none works on the whole inventory ('all')."""

from __future__ import annotations

from typing import Any

import pytest

from lab.outputs.results import HOSTS_PROPERTY


def _host_names(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [v.name for v in values if hasattr(v, "name") and hasattr(v, "host")]


def host_names(funcargs: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for value in funcargs.values():
        names += [name for name in _host_names(value) if name not in names]
    return names


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    funcargs = getattr(item, "funcargs", {})
    item.user_properties.append((HOSTS_PROPERTY, ",".join(host_names(funcargs)) or "all"))
