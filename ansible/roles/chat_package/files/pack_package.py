#!/usr/bin/env python3
"""Packs a Python package directory into a reproducible zip (sorted, fixed timestamps) for zipimport.

Usage: pack_package.py SOURCE_DIR ARCHIVE. Rewrites ARCHIVE only when its bytes would change, so Ansible's copy
of it reports a change only when the code really changed. Runs on the Ansible controller.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def pack(source: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.glob("*.py")):
            info = zipfile.ZipInfo(f"{source.name}/{path.name}", date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: pack_package.py SOURCE_DIR ARCHIVE", file=sys.stderr)
        return 2
    source, target = Path(argv[1]).resolve(), Path(argv[2])
    if not (source / "__init__.py").is_file():
        print(f"pack_package: {source} is not a Python package (no __init__.py)", file=sys.stderr)
        return 1
    data = pack(source)
    if target.is_file() and target.read_bytes() == data:
        print("unchanged")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".tmp")
    temporary.write_bytes(data)
    temporary.replace(target)
    print("packed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
