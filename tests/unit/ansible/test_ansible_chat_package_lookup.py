"""The chat_package role's lookup, run by a real `ansible` on this machine: it packs a package directory into a
reproducible zip, rewrites it only when the code changed, and fails in one line on a directory that is no package."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from repo_paths import REPO

ROLE = REPO / "ansible" / "roles" / "chat_package"


def lookup(tmp_path: Path, source: Path, archive: Path) -> subprocess.CompletedProcess[str]:
    ansible = Path(sys.executable).parent / "ansible"  # the venv's, beside this interpreter
    if not ansible.exists():
        pytest.fail(f"{ansible} does not exist (use the project's venv: make unit)")
    env = {**os.environ, "ANSIBLE_LOOKUP_PLUGINS": str(ROLE / "lookup_plugins"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_HOME": str(tmp_path / "ansible-home"), "ANSIBLE_STDOUT_CALLBACK": "minimal",
           "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}
    expression = f"{{{{ lookup('chatlab_package', '{source}', '{archive}') }}}}"
    return subprocess.run([str(ansible), "localhost", "-c", "local", "-i", "localhost,", "-m", "ansible.builtin.debug",
                           "-a", f"msg={expression}"], capture_output=True, text=True, env=env, check=False)


def package(tmp_path: Path) -> Path:
    source = tmp_path / "chat"
    source.mkdir()
    (source / "__init__.py").write_text("")
    (source / "server.py").write_text("print('hello')\n")
    return source


def test_packs_the_package_then_leaves_an_unchanged_archive_alone(tmp_path: Path) -> None:
    source, archive = package(tmp_path), tmp_path / "build" / "chat.zip"
    first = lookup(tmp_path, source, archive)
    assert '"msg": "packed"' in first.stdout, first.stdout + first.stderr
    assert sorted(zipfile.ZipFile(archive).namelist()) == ["chat/__init__.py", "chat/server.py"]
    before = archive.stat().st_mtime_ns
    second = lookup(tmp_path, source, archive)
    assert '"msg": "unchanged"' in second.stdout, second.stdout + second.stderr
    assert archive.stat().st_mtime_ns == before


def test_the_same_code_packs_to_the_same_bytes(tmp_path: Path) -> None:
    source, archive = package(tmp_path), tmp_path / "chat.zip"
    lookup(tmp_path, source, archive)
    packed = archive.read_bytes()
    os.utime(source / "server.py", (0, 0))  # another timestamp, the same code
    archive.unlink()
    lookup(tmp_path, source, archive)
    assert archive.read_bytes() == packed


def test_changed_code_is_packed_again(tmp_path: Path) -> None:
    source, archive = package(tmp_path), tmp_path / "chat.zip"
    lookup(tmp_path, source, archive)
    (source / "server.py").write_text("print('changed')\n")
    assert '"msg": "packed"' in lookup(tmp_path, source, archive).stdout
    assert zipfile.ZipFile(archive).read("chat/server.py") == b"print('changed')\n"


def test_a_directory_that_is_no_package_fails_with_the_reason(tmp_path: Path) -> None:
    result = lookup(tmp_path, tmp_path, tmp_path / "chat.zip")
    assert result.returncode != 0
    assert f"chatlab_package: {tmp_path} is not a Python package (no __init__.py)" in result.stdout + result.stderr
    assert not (tmp_path / "chat.zip").exists()
