"""Hatchling build hook: the wheel carries the Ansible collection ``shipyard.deploy``.

It goes to ``site-packages/ansible_collections/shipyard/deploy``, where ansible-core's
``sys.path`` scan finds it, so ``pip install shipyard`` alone gives ``ansible-playbook
shipyard.deploy.deploy`` (see ``shipyard.core.collection``), with ``packer/`` for a bake.
An editable install gets no copy: ansible would find that stale copy before the checkout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

TARGET = "ansible_collections/shipyard/deploy"
#: the collection's content (what galaxy.yml's build keeps that the wheel needs)
CONTENT = ("galaxy.yml", "README.md", "LICENSE", "meta", "plugins", "roles", "playbooks", "packer")


def collection_files(root: Path) -> dict[str, str]:
    """Every file of the collection, by source path, with its path in the wheel."""
    out: dict[str, str] = {}
    for name in CONTENT:
        path = root / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            rel = file.relative_to(root)
            if "__pycache__" in rel.parts or file.suffix == ".pyc":
                continue
            out[str(file)] = f"{TARGET}/{rel.as_posix()}"
    return out


class CollectionBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Add the collection to a standard (not editable) wheel."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        build_data["force_include"].update(collection_files(Path(self.root)))
