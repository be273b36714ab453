"""The example service's release tarballs (``make examples`` builds them into examples/dist)."""

from __future__ import annotations

from _root import ROOT

DIST = ROOT / "examples" / "dist"


def sha(version: str) -> str:
    """The pinned sha256 of ``hello-<version>.tar``."""
    return (DIST / f"hello-{version}.tar.sha256").read_text().split()[0]
