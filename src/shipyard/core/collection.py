"""Where the ``shipyard.deploy`` Ansible collection is, for ansible-playbook to find it.

An installed wheel puts the collection at ``site-packages/ansible_collections/shipyard/deploy``,
beside the ``shipyard`` package: where ansible-core's own ``sys.path`` scan finds it
(``ANSIBLE_COLLECTIONS_SCAN_SYS_PATH``, on by default), so plain ``ansible-playbook
shipyard.deploy.deploy`` and ``ansible-doc shipyard.deploy.service_instances`` work after
``pip install shipyard``. A source checkout is linked into
``build/collections/ansible_collections/shipyard/deploy`` (the path ansible.cfg names), so
`ansible-playbook` run from the checkout and the Python API see the same files. An editable
install carries no copy (``hatch_build.py``): it would be a stale one.
"""

from __future__ import annotations

import os
from pathlib import Path

from shipyard.core.errors import SetupError

#: the ``shipyard`` package directory (this module is ``shipyard/core/collection.py``)
_PACKAGE_DIR = Path(__file__).resolve().parent.parent
#: the collection's directory below a collections path
_RELATIVE = Path("ansible_collections") / "shipyard" / "deploy"
#: the Packer template directory, relative to the collection
PACKER_DIR = "packer"
PACKER_TEMPLATE = "service.pkr.hcl"


def _source_root() -> Path | None:
    root = _PACKAGE_DIR.parent.parent
    return root if (root / "galaxy.yml").is_file() and (root / "plugins").is_dir() else None


def _installed() -> Path | None:
    """The ``site-packages`` directory holding the wheel's copy of the collection, if any."""
    site = _PACKAGE_DIR.parent
    return site if (site / _RELATIVE / "galaxy.yml").is_file() else None


def collections_path() -> Path:
    """Return a directory that holds ``ansible_collections/shipyard/deploy``."""
    installed = _installed()
    if installed is not None:
        return installed
    root = _source_root()
    if root is None:
        raise SetupError(
            "the shipyard.deploy collection is missing from this installation "
            f"(no {_PACKAGE_DIR.parent / _RELATIVE}): "
            "reinstall with `pip install --force-reinstall shipyard`"
        )
    base = root / "build" / "collections"
    link = base / _RELATIVE
    if not link.is_symlink():
        link.parent.mkdir(parents=True, exist_ok=True)
        tmp = link.with_name(f".deploy.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.path.relpath(root, link.parent), target_is_directory=True)
        tmp.replace(link)
    return base


def collection_dir() -> Path:
    """The collection's own directory (``…/ansible_collections/shipyard/deploy``)."""
    return collections_path() / _RELATIVE


def playbook(name: str) -> Path:
    """Absolute path of one of the collection's playbooks, e.g. ``playbook("deploy")``."""
    path = collection_dir() / "playbooks" / f"{name}.yml"
    if not path.is_file():
        raise SetupError(f"playbook {name}.yml is missing from the collection at {path.parent}")
    return path


def packer_dir() -> Path:
    """The directory of the Packer template (``packer/`` in the checkout and in the wheel)."""
    path = collection_dir().resolve() / PACKER_DIR
    if not (path / PACKER_TEMPLATE).is_file():
        raise SetupError(
            f"the Packer template {PACKER_DIR}/{PACKER_TEMPLATE} is missing from the collection at "
            f"{path.parent}: reinstall with `pip install --force-reinstall shipyard`"
        )
    return path
