#!/usr/bin/env python3
"""Check that ansible-doc renders every module, lookup and filter of the collection and every role's argument spec.

Run with ANSIBLE_COLLECTIONS_PATH pointing at a directory holding
ansible_collections/shipyard/deploy (``make lint`` does). Exit 1 naming what failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from _root import ROOT

DOC = Path(sys.executable).parent / "ansible-doc"


def main() -> int:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(ROOT / "build" / "collections"))
    failed = []
    checked = 0
    # every plugin with its own documentation: modules, lookups and filters (one YAML file per filter)
    for kind, directory, pattern in (
        ("module", "modules", "*.py"),
        ("lookup", "lookup", "*.py"),
        ("filter", "filter", "*.yml"),
    ):
        for plugin in sorted((ROOT / "plugins" / directory).glob(pattern)):
            name = f"shipyard.deploy.{plugin.stem}"
            proc = subprocess.run(
                [str(DOC), "-t", kind, name], capture_output=True, text=True, env=env, check=False
            )
            checked += 1
            if (
                proc.returncode != 0
                or "ERROR" in proc.stderr
                or name not in proc.stdout
                or "UNDOCUMENTED" in proc.stdout
            ):
                failed.append(f"{kind} {name}: {proc.stderr.strip() or proc.stdout[:200]}")
    for role in sorted(
        p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file()
    ):
        name = f"shipyard.deploy.{role}"
        proc = subprocess.run(
            [str(DOC), "-t", "role", name], capture_output=True, text=True, env=env, check=False
        )
        checked += 1
        if proc.returncode != 0 or "ERROR" in proc.stderr:
            failed.append(f"role {name}: {proc.stderr.strip()}")
    for line in failed:
        print(f"ansible-doc failed: {line}", file=sys.stderr)
    print(f"ansible-doc rendered {checked - len(failed)} of {checked} modules, lookups, filters and roles")
    return 1 if failed or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
