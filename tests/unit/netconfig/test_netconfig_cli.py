"""The netconfig command, run as a subprocess: output, files, error lines and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from repo_paths import REPO

from netconfig import apply, cli, session

ROOT = REPO
CORPUS = Path(__file__).parent / "corpus"
IFACE = "ncfgoffline0"  # no such interface here: the commands that need one get --offline


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SSH_CONNECTION"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-m", "netconfig.cli", *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def one_error_line(result: subprocess.CompletedProcess[str], status: int, text: str) -> None:
    assert result.returncode == status, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("netconfig: error: ")
    assert text in result.stderr


def test_render() -> None:
    result = run("render", "eth1", "--address", "192.168.56.10", "--netmask", "255.255.255.0",
                 "--gateway", "192.168.56.1")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == ("auto eth1\niface eth1 inet static\n    address 192.168.56.10/24\n"
                             "    gateway 192.168.56.1\n")


@pytest.mark.parametrize(("args", "status", "text"), [
    (["render", "eth1", "--address", "192.168.56.0/24"], 2, "is the network address of 192.168.56.0/24"),
    (["render", "eth1", "--address", "192.168.56.255/24"], 2, "is the broadcast address"),
    (["render", "eth1", "--address", "192.168.56.300/24"], 2, "invalid address '192.168.56.300'"),
    (["render", "eth1", "--address", "192.168.56.10"], 2, "has no prefix length"),
    (["render", "eth1", "--address", "192.168.56.10", "--netmask", "255.0.255.0"], 2, "not contiguous"),
    (["render", "eth1", "--address", "192.168.56.10/24", "--gateway", "10.0.0.1"], 2,
     "gateway 10.0.0.1 is outside the subnet 192.168.56.0/24"),
    (["render", "eth1", "--address", "192.168.56.10/24", "--gateway", "192.168.56.10"], 2,
     "is the address itself"),
    (["render", "eth1:0", "--address", "192.168.56.10/24"], 2, "alias labels"),
    (["render", "eth1", "--address", "192.168.56.10/24", "--route", "192.168.57.0/24", "by", "192.168.56.1"], 2,
     "NET via GW"),
    (["render", "eth1", "--address", "192.168.56.10/24", "--route", "192.168.57.0/33", "via", "192.168.56.1"], 2,
     "invalid route '192.168.57.0/33 via 192.168.56.1'"),
    (["render", "eth1"], 2, "the following arguments are required: --address"),
    (["render", "eth1", "--address", "192.168.56.10/24", "--bogus"], 2, "unrecognized arguments: --bogus"),
    (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
    ([], 2, "the following arguments are required: COMMAND"),
    (["set", "ncfg-absent0", "--address", "10.1.0.5/24", "--file", "/nonexistent/x"], 1,
     "there is no interface ncfg-absent0 on this machine"),
    (["set", IFACE, "--address", "10.1.0.5/24", "--offline", "--apply", "--file", "/nonexistent/x"], 2,
     "--apply and --offline exclude each other"),
    (["set", IFACE, "--address", "10.1.0.5/24", "--offline", "--file", "/nonexistent/dir/interfaces"], 1,
     "cannot write /nonexistent/dir/interfaces: No such file or directory"),
    (["set", IFACE, "--address", "10.1.0.5/24", "--offline", "--file", "/"], 1,
     "cannot read /: it is a directory"),
])
def test_errors_are_one_line_with_a_status(args: list[str], status: int, text: str) -> None:
    one_error_line(run(*args), status, text)


def test_set_then_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "interfaces"
    original = (CORPUS / "debian-installer.interfaces").read_text()
    path.write_text(original.replace("ens3", IFACE))
    args = ("set", IFACE, "--address", "10.1.0.5/24", "--gateway", "10.1.0.1", "--offline",
            "--file", str(path))
    result = run(*args)
    assert (result.returncode, result.stderr) == (0, "")
    backup = tmp_path / ".interfaces.netconfig.bak"
    assert result.stdout == f"wrote {path}: {IFACE} 10.1.0.5/24 via 10.1.0.1 (previous file: {backup})\n"
    assert backup.read_text() == original.replace("ens3", IFACE)
    written = path.read_text()
    stanza = f"auto {IFACE}\niface {IFACE} inet static\n    address 10.1.0.5/24\n    gateway 10.1.0.1\n"
    assert stanza in written
    stamp = path.stat().st_mtime_ns, backup.stat().st_mtime_ns

    again = run(*args, "--diff")
    assert (again.returncode, again.stderr) == (0, "")
    assert again.stdout == f"unchanged: {path} already has 10.1.0.5/24 via 10.1.0.1 for {IFACE}\n"
    assert path.read_text() == written
    assert (path.stat().st_mtime_ns, backup.stat().st_mtime_ns) == stamp

    check = run("check", IFACE, "--address", "10.1.0.5/24", "--gateway", "10.1.0.1", "--file", str(path))
    assert check.returncode == 1
    assert check.stdout == f"MISMATCH live: there is no interface {IFACE} on this machine\n"


def test_diff_and_dry_run_write_nothing(tmp_path: Path) -> None:
    path = tmp_path / "interfaces"
    text = f"auto lo {IFACE}\niface lo inet loopback\n\niface {IFACE} inet dhcp\n    hostname box\n"
    path.write_text(text)
    result = run("set", IFACE, "--address", "10.1.0.5/24", "--offline", "--file", str(path), "--diff",
                 "--dry-run")
    assert result.returncode == 0
    assert result.stdout == (
        f"--- {path}\n+++ {path} (new)\n@@ -1,5 +1,6 @@\n-auto lo {IFACE}\n+auto lo\n"
        " iface lo inet loopback\n"
        f" \n-iface {IFACE} inet dhcp\n-    hostname box\n+auto {IFACE}\n+iface {IFACE} inet static\n"
        f"+    address 10.1.0.5/24\n"
        f"dry run: {path} not written\n")
    assert result.stderr == "netconfig: note: the old stanza's option 'hostname box' is dropped\n"
    assert path.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["interfaces"]


def test_new_file_is_created(tmp_path: Path) -> None:
    path = tmp_path / "eth9"
    result = run("set", IFACE, "--address", "10.1.0.5/24", "--offline", "--file", str(path))
    assert result.returncode == 0
    assert result.stdout == f"wrote {path}: {IFACE} 10.1.0.5/24 (no gateway)\n"
    assert path.read_text() == f"auto {IFACE}\niface {IFACE} inet static\n    address 10.1.0.5/24\n"


def test_a_sourced_file_configuring_the_interface_is_refused(tmp_path: Path) -> None:
    (tmp_path / "interfaces.d").mkdir()
    fragment = tmp_path / "interfaces.d" / "50-cloud-init"
    fragment.write_text(f"auto {IFACE}\niface {IFACE} inet dhcp\n")
    path = tmp_path / "interfaces"
    path.write_text("source-directory interfaces.d\n")
    args = ("set", IFACE, "--address", "10.1.0.5/24", "--offline", "--file", str(path))
    one_error_line(run(*args), 1, f"refusing to change {IFACE}: {fragment} (sourced by {path}) also "
                   f"configures {IFACE} inet and ifupdown would apply both")
    dry = run(*args, "--dry-run")
    assert dry.returncode == 0
    assert dry.stderr.startswith("netconfig: note: without --force, this would be refused: ")
    assert path.read_text() == "source-directory interfaces.d\n"
    assert run(*args, "--force").returncode == 0
    assert "10.1.0.5/24" in path.read_text()


def test_check_reports_every_reason(tmp_path: Path) -> None:
    path = tmp_path / "interfaces"
    path.write_text(f"iface {IFACE} inet static\n    address 10.1.0.4/24\n")
    result = run("check", IFACE, "--address", "10.1.0.5/24", "--file", str(path))
    assert result.returncode == 1
    assert result.stdout == (
        f"MISMATCH file: {path}: the file has 10.1.0.4/24 (no gateway), not 10.1.0.5/24 (no gateway)\n"
        f"MISMATCH live: there is no interface {IFACE} on this machine\n")
    result = run("check", IFACE, "--address", "10.1.0.5/24", "--file", str(tmp_path / "none"))
    assert f"MISMATCH file: {tmp_path / 'none'} does not exist\n" in result.stdout


def test_list() -> None:
    table = run("list")
    assert table.returncode == 0
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["IFACE", "STATE", "MAC", "IPV4", "IPV6", "DEFAULT"]
    lo = next(row.split() for row in rows if row.startswith("lo "))
    assert lo[1] == "up" and "127.0.0.1/8" in lo[3]
    as_json = json.loads(run("list", "--json").stdout)
    names = [i["name"] for i in as_json]
    assert sorted(names) == sorted(p.name for p in Path("/sys/class/net").iterdir())
    assert set(as_json[0]) == {"name", "mac", "state", "ipv4", "ipv6", "default_route"}


def test_python_dash_m_netconfig() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SSH_CONNECTION"}
    result = subprocess.run([sys.executable, "-m", "netconfig", "--help"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert "set" in result.stdout and "check" in result.stdout


def test_missing_netifaces_is_one_clear_line() -> None:
    code = ("import sys\nsys.modules['netifaces'] = None  # as if not installed\n"
            "from netconfig.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    result = subprocess.run([sys.executable, "-c", code, "list"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 1
    assert result.stderr == ("netconfig: error: netifaces is not installed: pip install netifaces-plus "
                             "(or pip install 'chatlab[netconfig]')\n")


@pytest.mark.parametrize(("fake", "message"), [
    ("not-root", "--apply needs root"),
    ("no-ifupdown", "--apply needs ifup, which is not installed (apt-get install ifupdown)"),
])
def test_apply_preflight_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str], fake: str, message: str) -> None:
    """In-process: what cannot be arranged for real here (a non-root user, a machine without ifupdown)."""
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    monkeypatch.setattr(session, "ancestor_ssh_connection", lambda: None)
    if fake == "not-root":
        monkeypatch.setattr(apply.os, "geteuid", lambda: 1000)
    else:
        monkeypatch.setattr(apply.shutil, "which", lambda tool: None)
    path = tmp_path / "interfaces"
    path.write_text("auto lo\niface lo inet loopback\n")
    assert cli.main(["set", "lo", "--address", "10.254.0.5/24", "--file", str(path), "--apply"]) == 1
    assert capsys.readouterr().err.startswith(f"netconfig: error: {message}")
    assert path.read_text() == "auto lo\niface lo inet loopback\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["interfaces"]
