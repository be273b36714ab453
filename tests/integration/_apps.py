"""Spec and app files for the app tests (tests/integration/apps/): the example service, its ports,
small limits, and an app file naming specs relative to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from _hello import DIST, sha


def write_spec(
    tmp: Path,
    name: str,
    base: int,
    *,
    version: str = "1.0.0",
    instances: int = 2,
    memory: str = "48M",
    start_timeout: float = 5,
    **extra: Any,
) -> Path:
    """``tmp/services/<name>.yml``: hello ``version`` with ``instances`` from port ``base``."""
    doc = {
        "name": name,
        "version": version,
        "artifact": {"path": str(DIST / f"hello-{version}.tar"), "sha256": sha(version)},
        "command": "/usr/bin/python3 server.py --port {port}",
        "instances": instances,
        "ports": {"base": base},
        "env": {"HELLO_NAME": name},
        "resources": {"memory": memory, "cpu": "25%", "tasks": 64},
        "health": {"path": "/health", "timeout": 2, "interval": 0.2, "start_timeout": start_timeout},
        **extra,
    }
    path = tmp / "services" / f"{name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def write_app(tmp: Path, name: str, services: list[dict[str, Any]]) -> Path:
    """``tmp/apps/<name>.yml`` with ``services`` (spec paths relative to it: ``../services/…``)."""
    path = tmp / "apps" / f"{name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"name": name, "services": services}))
    return path
