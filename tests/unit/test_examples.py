"""The example's release tarballs are reproducible and match the sha256 pinned in its spec."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from _root import ROOT
from shipyard.core.spec import load_spec


def _build() -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "build.py")], capture_output=True, text=True, check=True
    ).stdout
    return {line.split()[0]: line.split()[1] for line in out.splitlines()}


def test_build_is_reproducible_and_matches_the_spec() -> None:
    first = _build()
    second = _build()
    assert first == second
    spec = load_spec(ROOT / "services" / "hello.yml")
    path = spec.artifact_path()
    assert path is not None
    assert spec.service.artifact is not None
    assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.service.artifact.sha256, (
        "examples/hello changed: update artifact.sha256 in services/hello.yml"
    )
