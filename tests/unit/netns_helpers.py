"""A network namespace of a test's own, with a veth end in it, for netconfig's real ifupdown tests
(test_netconfig_apply_netns.py, test_ansible_static_ip_module.py).

A namespace ``ncfgtest-XXXXXX`` and a veth pair ``ncfgXXXXXXh``/``ncfgXXXXXXi`` with the ``i`` end moved in;
ifupdown's state lives in the test's temporary directory and the interfaces file is a temporary file.
Everything is deleted on the way out.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from repo_paths import REPO

ROOT = REPO


def _skip_reason() -> str | None:
    if sys.platform != "linux":
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "needs root (ip netns, ifup/ifdown); run the unit tests as root to include them"
    for tool, package in (("ip", "iproute2"), ("ifup", "ifupdown"), ("ifdown", "ifupdown"),
                          ("ifquery", "ifupdown")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install {package})"
    return None


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=check)


@dataclass
class Netns:
    name: str
    iface: str  # the veth end inside the namespace
    host_end: str
    tag: str
    file: Path
    state_dir: Path

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.name, *argv, check=check)

    def netconfig(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "SSH_CONNECTION"}
        env["PYTHONPATH"] = str(ROOT)
        argv = ["ip", "netns", "exec", self.name, sys.executable, "-m", "netconfig.cli", *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def set(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.netconfig("set", self.iface, "--file", str(self.file), "--state-dir", str(self.state_dir),
                              *args)

    def ifup(self) -> None:
        self.run("ifup", "-i", str(self.file), "--state-dir", str(self.state_dir), self.iface)

    def ipv4(self, iface: str | None = None) -> set[str]:
        out = self.run("ip", "-4", "-o", "addr", "show", "dev", iface or self.iface).stdout
        return {w[w.index("inet") + 1] for w in (line.split() for line in out.splitlines())}

    def default_route(self) -> str:
        return self.run("ip", "-4", "route", "show", "default").stdout.strip()

    def ifupdown_has_it_up(self) -> bool:
        result = self.run("ifquery", "--state", "--state-dir", str(self.state_dir), self.iface, check=False)
        return result.returncode == 0 and bool(result.stdout.strip())

    def other_default_route(self) -> None:
        """A second link inside the namespace holding the default route: ifup of a stanza with a gateway
        then fails ("RTNETLINK answers: File exists"), as it does on a real host with two gateways."""
        other, peer = f"ncfg{self.tag}o", f"ncfg{self.tag}p"
        self.run("ip", "link", "add", other, "type", "veth", "peer", "name", peer)
        self.run("ip", "addr", "add", "10.88.0.2/24", "dev", other)
        self.run("ip", "link", "set", other, "up")
        self.run("ip", "link", "set", peer, "up")
        self.run("ip", "route", "add", "default", "via", "10.88.0.1", "dev", other)


@contextlib.contextmanager
def namespace(tmp_path: Path) -> Iterator[Netns]:
    """A fresh namespace (skips the test where that cannot be)."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    tag = uuid.uuid4().hex[:6]
    ns = Netns(f"ncfgtest-{tag}", f"ncfg{tag}i", f"ncfg{tag}h", tag, tmp_path / "interfaces",
               tmp_path / "ifstate")
    ns.state_dir.mkdir()
    created = sh("ip", "netns", "add", ns.name, check=False)
    if created.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {created.stderr.strip()}")
    try:
        sh("ip", "link", "add", ns.host_end, "type", "veth", "peer", "name", ns.iface)
        Path(f"/proc/sys/net/ipv6/conf/{ns.host_end}/disable_ipv6").write_text("1\n")
        sh("ip", "link", "set", ns.iface, "netns", ns.name)
        sh("ip", "link", "set", ns.host_end, "up")
        ns.run("ip", "link", "set", "lo", "up")
        yield ns
    finally:
        sh("ip", "netns", "del", ns.name, check=False)
        sh("ip", "link", "del", ns.host_end, check=False)  # gone with its peer already, normally
        assert ns.name not in sh("ip", "netns", "list").stdout
        assert ns.host_end not in sh("ip", "-o", "link").stdout
