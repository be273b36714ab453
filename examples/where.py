#!/usr/bin/env python3
"""Print where a deployed service answers: every host and port of the inventory, probed once.

Usage: ``where.py SPEC INVENTORY``. Exit 1 when an instance does not answer its health check.
"""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

import yaml

from shipyard.core.spec import load_spec


def _hosts(inventory: dict) -> dict[str, str]:
    found: dict[str, str] = {}

    def walk(group: dict) -> None:
        for name, hostvars in (group.get("hosts") or {}).items():
            found[name] = (hostvars or {}).get("ansible_host", name)
        for child in (group.get("children") or {}).values():
            walk(child or {})

    walk(inventory.get("all", inventory))
    return found


def main() -> int:
    spec = load_spec(sys.argv[1]).service
    inventory = yaml.safe_load(Path(sys.argv[2]).read_text())
    bad = 0
    for host, address in sorted(_hosts(inventory).items()):
        for port in spec.port_list():
            url = f"http://{address}:{port}"
            try:
                with urllib.request.urlopen(url + "/", timeout=3) as resp:  # noqa: S310 - lab URL
                    body = resp.read().decode().strip()
                print(f"{spec.name} on {host}: {url}/ -> {body}")
            except OSError as exc:
                bad += 1
                print(f"{spec.name} on {host}: {url}/ does not answer ({exc})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
