"""The cross-host checks' results as a CI reads them (pytest's JUnit XML) and as a person does (one table).

Reference: docs/lab.md
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from lab.plumbing.shell import aligned

HOSTS_PROPERTY = "hosts"  # written by the lab.pytest_hosts plugin
HOSTS_SHOWN = 3  # a check on more hosts shows the first ones and how many (the JUnit XML keeps them all)


@dataclass(frozen=True)
class CheckResult:
    check: str
    hosts: str
    result: str  # passed, failed, error, skipped
    seconds: float


def parse_junit(text: str) -> list[CheckResult]:
    """Every test case of a JUnit XML report, in its order."""
    results = []
    for case in ElementTree.fromstring(text).iter("testcase"):
        outcome = next((child.tag for child in case if child.tag in ("failure", "error", "skipped")), "passed")
        module = case.get("classname", "").rsplit(".", 1)[-1]
        hosts = next((p.get("value", "") for p in case.iter("property") if p.get("name") == HOSTS_PROPERTY), "")
        results.append(CheckResult(f"{module}::{case.get('name', '?')}" if module else case.get("name", "?"),
                                   hosts or "-", {"failure": "failed"}.get(outcome, outcome),
                                   float(case.get("time", "0") or 0)))
    return results


def short_hosts(hosts: str) -> str:
    """A table cell for the hosts of one check: 'server,client1,client2,... (21 hosts)' for a large lab."""
    names = hosts.split(",")
    return hosts if len(names) <= HOSTS_SHOWN + 1 else f"{','.join(names[:HOSTS_SHOWN])},... ({len(names)} hosts)"


def summary_table(results: list[CheckResult]) -> list[str]:
    rows = [("check", "hosts", "result", "seconds")]
    rows += [(r.check, short_hosts(r.hosts), r.result.upper() if r.result != "passed" else r.result, f"{r.seconds:.1f}")
             for r in results]
    lines = aligned(rows, rule=True)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.result] = counts.get(r.result, 0) + 1
    lines.append(", ".join(f"{n} {outcome}" for outcome, n in counts.items()) +
                 f" in {sum(r.seconds for r in results):.1f} s")
    return lines


def print_summary(path: Path) -> None:
    """The table of a JUnit report, if pytest wrote one."""
    if not path.is_file():
        return
    try:
        results = parse_junit(path.read_text())
    except ElementTree.ParseError as error:
        print(f"lab: {path} is not readable JUnit XML ({error})")
        return
    for line in summary_table(results):
        print(f"    {line}")
    print(f"    JUnit XML: {path}")
