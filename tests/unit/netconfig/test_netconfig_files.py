"""netconfig.files: atomic write, backup, byte preservation, sourced files."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netconfig import files

OLD = "auto lo\niface lo inet loopback\n# caf\udce9 in latin-1\n"  # a stray latin-1 byte (0xe9)


def _no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_read_keeps_every_byte(tmp_path: Path) -> None:
    path = tmp_path / "interfaces"
    raw = b"auto lo\r\n# caf\xe9\n\xff\xfe\ntail without newline"
    path.write_bytes(raw)
    text = files.read_text(path)
    assert text is not None
    files.atomic_write(path, text)
    assert path.read_bytes() == raw


def test_read_missing_and_unreadable(tmp_path: Path) -> None:
    assert files.read_text(tmp_path / "nope") is None
    with pytest.raises(files.FilesError, match="it is a directory"):
        files.read_text(tmp_path)


def test_atomic_write_keeps_mode_and_owner(tmp_path: Path) -> None:
    path = tmp_path / "interfaces"
    path.write_text(OLD, errors="surrogateescape")
    os.chmod(path, 0o640)
    if os.geteuid() == 0:
        os.chown(path, 1234, 4321)
    files.atomic_write(path, "new\n")
    st = path.stat()
    assert path.read_text() == "new\n"
    assert stat.S_IMODE(st.st_mode) == 0o640
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (1234, 4321)
    assert _no_temp_files(tmp_path)


def test_new_file_is_0644(tmp_path: Path) -> None:
    path = tmp_path / "interfaces"
    old_umask = os.umask(0o077)
    try:
        files.atomic_write(path, "x\n")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_symlink_is_followed_not_replaced(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.write_text("old\n")
    link = tmp_path / "interfaces"
    link.symlink_to(real)
    backup = files.write_with_backup(link, "new\n", "old\n")
    assert link.is_symlink()
    assert real.read_text() == "new\n"
    assert backup == tmp_path / ".real.netconfig.bak"


def test_backup_holds_the_previous_file_with_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "interfaces"
    path.write_text(OLD, errors="surrogateescape")
    os.chmod(path, 0o600)
    backup = files.write_with_backup(path, "new\n", files.read_text(path))
    assert backup == tmp_path / ".interfaces.netconfig.bak"
    assert backup.read_text(errors="surrogateescape") == OLD
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert path.read_text() == "new\n"
    # the next change replaces the backup with the file as it was just before
    assert files.write_with_backup(path, "newer\n", "new\n") == backup
    assert backup.read_text() == "new\n"


def test_new_file_has_no_backup(tmp_path: Path) -> None:
    assert files.write_with_backup(tmp_path / "interfaces", "x\n", None) is None
    assert [p.name for p in tmp_path.iterdir()] == ["interfaces"]


@pytest.mark.parametrize(("failing", "nth"), [
    ("fsync", 3),  # backup file, its directory, then the new file: fails before the rename
    ("replace", 2),  # the backup's rename works, the new file's fails
    ("write", 2),  # half of the new text is written, then the disk is full
])
def test_failure_mid_write_leaves_the_original_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     failing: str, nth: int) -> None:
    path = tmp_path / "interfaces"
    path.write_text(OLD, errors="surrogateescape")
    calls = 0

    def fail_on_nth(real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == nth:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(*args, **kwargs)
        return wrapper

    if failing == "write":
        real_fdopen = os.fdopen

        def half_writer(*args: Any, **kwargs: Any) -> Any:
            f = real_fdopen(*args, **kwargs)
            real_write = f.write

            def write(text: str) -> int:
                real_write(text[: len(text) // 2])
                f.flush()
                return fail_on_nth(real_write)(text[len(text) // 2:])

            f.write = write
            return f

        monkeypatch.setattr(files.os, "fdopen", half_writer)
    else:
        monkeypatch.setattr(files.os, failing, fail_on_nth(getattr(os, failing)))
    with pytest.raises(files.FilesError, match="No space left on device"):
        files.write_with_backup(path, "auto eth1\niface eth1 inet static\n    address 10.0.0.2/24\n", OLD)
    monkeypatch.undo()
    assert calls == nth  # it did fail where meant to: after the backup was written
    assert path.read_text(errors="surrogateescape") == OLD
    assert files.backup_path(path).read_text(errors="surrogateescape") == OLD
    assert _no_temp_files(tmp_path)


def test_unwritable_directory_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(files.FilesError, match=r"cannot write .*: No such file or directory"):
        files.atomic_write(tmp_path / "missing-dir" / "interfaces", "x\n")


def test_restore(tmp_path: Path) -> None:
    path = tmp_path / "interfaces"
    path.write_text("new\n")
    files.restore(path, "old\n")
    assert path.read_text() == "old\n"
    files.restore(path, None)
    assert not path.exists()
    files.restore(path, None)  # already gone: fine


def test_sourced_files(tmp_path: Path) -> None:
    d = tmp_path / "interfaces.d"
    d.mkdir()
    for name in ("eth1", "eth2.cfg", "50-cloud-init", ".eth1.netconfig.bak", "eth1.bak"):
        (d / name).write_text("iface x inet dhcp\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a_b-c").write_text("\n")
    (tmp_path / "other" / "a.b").write_text("\n")
    main = tmp_path / "interfaces"
    text = ("source interfaces.d/*.cfg\nsource-directory other\nsource /nonexistent/*\n"
            f"source {d}/*\nsource-directory /nonexistent\n")
    main.write_text(text)
    found = files.sourced_files(main, text)
    # relative to the file's directory; glob skips dot files (the backup); source-directory reads only
    # names of letters, digits, _ and -
    assert found == [d / "eth2.cfg", tmp_path / "other" / "a_b-c", d / "50-cloud-init", d / "eth1",
                     d / "eth1.bak"]
    assert files.backup_path(d / "eth1") not in files.sourced_files(main, f"source {d}/*\n")
