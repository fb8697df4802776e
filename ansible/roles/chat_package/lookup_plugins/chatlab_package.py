"""Lookup `chatlab_package`: packs a Python package directory on the controller into a reproducible zip (sorted,
fixed timestamps) for zipimport, in Ansible's own process.

lookup('chatlab_package', SOURCE_DIR, ARCHIVE) rewrites ARCHIVE (atomically) only when its bytes would change, so
that the copy of it reports a change only when the code really changed; it returns 'packed' or 'unchanged'. Like
the password lookup, it writes a file on the controller: a build artifact.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

DOCUMENTATION = """
name: chatlab_package
short_description: Packs a Python package directory into a reproducible zip on the controller
description:
  - Rewrites the archive only when its bytes would change; returns C(packed) or C(unchanged).
options:
  _terms:
    description: The package's source directory, then the archive to write.
    required: true
"""

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


def pack_into(source: Path, target: Path) -> str:
    if not (source / "__init__.py").is_file():
        raise AnsibleLookupError(f"chatlab_package: {source} is not a Python package (no __init__.py)")
    data = pack(source)
    if target.is_file() and target.read_bytes() == data:
        return "unchanged"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_bytes(data)
        temporary.replace(target)
    except OSError as error:
        raise AnsibleLookupError(f"chatlab_package: cannot write {target}: {error.strerror}") from None
    return "packed"


class LookupModule(LookupBase):
    def run(self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any) -> list[str]:
        if len(terms) != 2:
            raise AnsibleLookupError("chatlab_package: give the package's source directory and the archive to write")
        return [pack_into(Path(str(terms[0])).resolve(), Path(str(terms[1])))]
