"""Reading and safely writing the interfaces file: atomic replace, backup, and the files it sources.

Stdlib only at run time (with netconfig's ``interfaces``): also the static_ip role's module_utils.

Bytes are kept as they are: files are read and written as UTF-8 with surrogateescape (any byte
survives) and without newline translation.

Backup: before a change, the previous content is written (atomically, same mode and owner) to
``.NAME.netconfig.bak`` next to the file, e.g. ``/etc/network/.interfaces.netconfig.bak``, replacing
the previous backup. It is a hidden file on purpose: ``source /etc/network/interfaces.d/*`` would pick
up a visible ``eth1.bak`` and configure the interface twice (glob skips dot files, and
``source-directory`` only reads names made of letters, digits, ``_`` and ``-``).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import re
import stat
import tempfile
from pathlib import Path

if __name__.startswith("ansible."):  # shipped as the static_ip role's module_utils (chatlab_files)
    from ansible.module_utils.chatlab_interfaces import source_patterns
else:
    from netconfig.interfaces import source_patterns

ENCODING = "utf-8"
ERRORS = "surrogateescape"
NEW_FILE_MODE = 0o644
# source-directory reads only these names (run-parts style), see interfaces(5)
_SOURCE_DIRECTORY_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")


class FilesError(OSError):
    """A file cannot be read or written; ``str(e)`` is one clear line."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "file error"


def _why(e: OSError) -> str:
    return e.strerror or str(e)


def target(path: Path) -> Path:
    """The file to write: `path` with symlinks resolved (a rename must not replace the link itself)."""
    return Path(os.path.realpath(path))


def backup_path(path: Path) -> Path:
    real = target(path)
    return real.with_name(f".{real.name}.netconfig.bak")


def read_text(path: Path) -> str | None:
    """The file's text, or None when it does not exist."""
    try:
        with open(path, encoding=ENCODING, errors=ERRORS, newline="") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise FilesError(f"cannot read {path}: it is a directory") from None
    except OSError as e:
        raise FilesError(f"cannot read {path}: {_why(e)}") from None


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, text: str, like: Path | None = None) -> None:
    """Replace `path` with `text` atomically: a temp file in the same directory, fsync, rename, fsync
    of the directory. Mode and owner are those of `like` (default: `path` itself; 0644 for a new file).

    On any failure the temp file is removed and `path` is left as it was; raises FilesError.
    """
    real = target(path)
    directory = real.parent
    try:
        reference = os.stat(like if like is not None else real)
    except FileNotFoundError:
        reference = None
    except OSError as e:
        raise FilesError(f"cannot write {path}: {_why(e)}") from None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise FilesError(f"cannot write {path}: {_why(e)}") from None
    try:
        with os.fdopen(fd, "w", encoding=ENCODING, errors=ERRORS, newline="") as f:
            f.write(text)
            f.flush()
            if reference is None:
                os.fchmod(f.fileno(), NEW_FILE_MODE)
            else:
                os.fchmod(f.fileno(), stat.S_IMODE(reference.st_mode))
                mine = os.fstat(f.fileno())
                if (mine.st_uid, mine.st_gid) != (reference.st_uid, reference.st_gid):
                    os.fchown(f.fileno(), reference.st_uid, reference.st_gid)
            os.fsync(f.fileno())
        os.replace(tmp, real)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if e.errno == errno.EPERM:
            raise FilesError(f"cannot write {path} with its owner/mode kept: {_why(e)}") from None
        raise FilesError(f"cannot write {path}: {_why(e)}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    try:
        fsync_dir(directory)
    except OSError as e:
        raise FilesError(f"wrote {path} but could not fsync {directory}: {_why(e)}") from None


def write_with_backup(path: Path, text: str, old_text: str | None) -> Path | None:
    """Write the backup of `old_text` (when there was a file), then `text` to `path`, both atomically.

    Returns the backup path (None for a new file). If writing `path` fails, it still holds `old_text`.
    """
    backup: Path | None = None
    if old_text is not None:
        backup = backup_path(path)
        atomic_write(backup, old_text, like=target(path))
    atomic_write(path, text)
    return backup


def restore(path: Path, old_text: str | None) -> None:
    """Put back the previous content (remove the file when there was none)."""
    if old_text is not None:
        atomic_write(path, old_text)
        return
    try:
        os.unlink(target(path))
    except FileNotFoundError:
        pass
    except OSError as e:
        raise FilesError(f"cannot remove {path}: {_why(e)}") from None


def sourced_files(path: Path, text: str) -> list[Path]:
    """The existing files that `text` (the content of `path`) includes with source/source-directory.

    Relative patterns are taken relative to the directory of `path`, as ifupdown does. One level deep.
    """
    base = target(path).parent
    found: list[Path] = []
    for keyword, pattern in source_patterns(text):
        full = pattern if os.path.isabs(pattern) else str(base / pattern)
        if keyword == "source":
            candidates = [Path(p) for p in sorted(glob.glob(full))]
        else:
            directory = Path(full)
            try:
                names = sorted(os.listdir(directory))
            except OSError:
                continue
            candidates = [directory / n for n in names if _SOURCE_DIRECTORY_NAME.match(n)]
        found.extend(p for p in candidates if p.is_file() and target(p) != target(path) and p not in found)
    return found


def sourced_texts(path: Path, text: str | None) -> dict[Path, str]:
    """The texts of the files that `text` (the content of `path`) sources, for netconfig.plan (which looks for
    a stanza of the interface there too: ifupdown would apply both). A sourced file that cannot be read is
    passed over."""
    texts: dict[Path, str] = {}
    for sourced in sourced_files(path, text or ""):
        try:
            content = read_text(sourced)
        except FilesError:
            continue
        if content is not None:
            texts[sourced] = content
    return texts
