"""Where the ``shipyard.deploy`` Ansible collection is, for ansible-playbook to find it.

An installed wheel carries a copy under ``shipyard/_collection``. A source checkout is linked
into ``build/collections/ansible_collections/shipyard/deploy`` (the path ansible.cfg names), so
`ansible-playbook` run from the checkout and the Python API see the same files.
"""

from __future__ import annotations

import os
from pathlib import Path

from shipyard.core.errors import SetupError

#: the ``shipyard`` package directory (this module is ``shipyard/core/collection.py``)
_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def _source_root() -> Path | None:
    root = _PACKAGE_DIR.parent.parent
    return root if (root / "galaxy.yml").is_file() and (root / "plugins").is_dir() else None


def collections_path() -> Path:
    """Return a directory that holds ``ansible_collections/shipyard/deploy``."""
    embedded = _PACKAGE_DIR / "_collection"
    if (embedded / "ansible_collections" / "shipyard" / "deploy" / "galaxy.yml").is_file():
        return embedded
    root = _source_root()
    if root is None:
        raise SetupError(
            "the shipyard.deploy collection is missing from this installation: "
            "reinstall with `pip install --force-reinstall shipyard`"
        )
    base = root / "build" / "collections"
    link = base / "ansible_collections" / "shipyard" / "deploy"
    if not link.is_symlink():
        link.parent.mkdir(parents=True, exist_ok=True)
        tmp = link.with_name(f".deploy.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.path.relpath(root, link.parent), target_is_directory=True)
        tmp.replace(link)
    return base


def collection_dir() -> Path:
    """The collection's own directory (``…/ansible_collections/shipyard/deploy``)."""
    return collections_path() / "ansible_collections" / "shipyard" / "deploy"


def playbook(name: str) -> Path:
    """Absolute path of one of the collection's playbooks, e.g. ``playbook("deploy")``."""
    path = collection_dir() / "playbooks" / f"{name}.yml"
    if not path.is_file():
        raise SetupError(f"playbook {name}.yml is missing from the collection at {path.parent}")
    return path
