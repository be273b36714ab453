"""Helpers shared by the reliability tests (faults, locks, secrets, hardening) on the lab.

Service names start with ``rel`` and ports are 10000-10999, so these tests never meet the
other integration tests' services on the shared session lab.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from _hello import DIST, sha

from shipyard.lab import Lab, LabStatus


def make_spec(
    tmp: Path,
    *,
    name: str,
    version: str = "1.0.0",
    instances: int = 2,
    base: int,
    secrets: dict[str, Any] | None = None,
    rollout: dict[str, Any] | None = None,
    start_timeout: float = 20,
) -> Path:
    doc: dict[str, Any] = {
        "name": name,
        "version": version,
        "artifact": {"path": str(DIST / f"hello-{version}.tar"), "sha256": sha(version)},
        "command": "/usr/bin/python3 server.py --port {port}",
        "instances": instances,
        "ports": {"base": base},
        "env": {"HELLO_NAME": name},
        "secrets": secrets or {},
        "resources": {"memory": "64M", "cpu": "50%", "tasks": 64},
        "health": {"path": "/health", "timeout": 2, "interval": 0.2, "start_timeout": start_timeout},
        "keep_releases": 3,
    }
    if rollout is not None:
        doc["rollout"] = rollout
    path = tmp / f"{name}-{version}.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def ssh(lab: LabStatus, host: str, argv: list[str], timeout: float = 60) -> str:
    proc = Lab(lab.name).ssh(host, argv, timeout=timeout)
    assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)
    return proc.stdout


def version_at(address: str, port: int, timeout: float = 3) -> str | None:
    """The version instance ``address:port`` answers with, or None when it does not answer 200."""
    try:
        with urllib.request.urlopen(f"http://{address}:{port}/", timeout=timeout) as resp:
            return str(json.loads(resp.read())["version"]) if resp.status == 200 else None
    except (OSError, urllib.error.URLError, ValueError, KeyError):
        return None
