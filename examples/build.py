#!/usr/bin/env python3
"""Build the example service's release tarballs, reproducibly (same input, same sha256).

``python3 examples/build.py`` writes ``examples/dist/hello-<version>.tar`` for every version in
VERSIONS plus ``<name>.sha256`` files. Entries are sorted, owned by root, with fixed modes and
mtime; the tar is not compressed, so the bytes do not depend on the zlib of the machine.
"""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DIST = HERE / "dist"
EPOCH = 1_700_000_000
#: version -> extra files; "9.9.9-broken" fails its health check on purpose (rollback demos).
VERSIONS: dict[str, dict[str, bytes]] = {
    "1.0.0": {},
    "2.0.0": {},
    "9.9.9-broken": {"BROKEN": b"this build fails its health check on purpose\n"},
}


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = EPOCH
    info.mode = mode
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    tar.addfile(info, io.BytesIO(data))


def build(version: str, extra: dict[str, bytes]) -> Path:
    files = {
        "server.py": ((HERE / "hello" / "server.py").read_bytes(), 0o755),
        "VERSION": (version.encode() + b"\n", 0o644),
    }
    files.update({name: (data, 0o644) for name, data in extra.items()})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            data, mode = files[name]
            _add(tar, name, data, mode)
    DIST.mkdir(exist_ok=True)
    out = DIST / f"hello-{version}.tar"
    out.write_bytes(buf.getvalue())
    digest = hashlib.sha256(buf.getvalue()).hexdigest()
    (DIST / f"hello-{version}.tar.sha256").write_text(f"{digest}  {out.name}\n")
    return out


def main() -> int:
    for version, extra in VERSIONS.items():
        out = build(version, extra)
        print(f"{out.relative_to(HERE.parent)} {hashlib.sha256(out.read_bytes()).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
