"""Packaging: the wheel carries the collection; the collection builds; the API finds it."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from _root import ROOT
from shipyard.core import collection

BIN = Path(sys.executable).parent
#: where ansible-core's sys.path scan finds a collection (site-packages/ansible_collections/…)
PREFIX = "ansible_collections/shipyard/deploy/"


def test_wheel_carries_the_collection(tmp_path: Path) -> None:
    subprocess.run(
        [
            str(BIN / "pip"),
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("shipyard-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "shipyard/cli/__init__.py" in names
    assert PREFIX + "galaxy.yml" in names
    assert PREFIX + "meta/runtime.yml" in names
    assert PREFIX + "plugins/modules/service_instances.py" in names
    assert PREFIX + "playbooks/deploy.yml" in names
    assert any(n.startswith(PREFIX + "roles/") for n in names)
    # a bake from a pip install finds its template (shipyard.core.collection.packer_dir)
    assert PREFIX + "packer/service.pkr.hcl" in names
    assert PREFIX + "packer/variables.pkr.hcl" in names
    assert PREFIX + "plugins/action/shipyard_spec.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert not any(n.startswith("shipyard/_collection/") for n in names)
    entry = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "shipyard = shipyard.cli:main" in entry


def test_collection_tarball_builds(tmp_path: Path) -> None:
    subprocess.run(
        [
            str(BIN / "ansible-galaxy"),
            "collection",
            "build",
            "--force",
            "--output-path",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (tarball,) = tmp_path.glob("shipyard-deploy-*.tar.gz")
    names = tarfile.open(tarball).getnames()
    assert "plugins/modules/service_instances.py" in names
    assert "MANIFEST.json" in names
    assert not any(n.startswith(("src/", "tests/", ".venv/")) for n in names)


def test_source_checkout_collection_path_points_at_this_repo() -> None:
    path = collection.collection_dir()
    assert (path / "galaxy.yml").resolve() == (ROOT / "galaxy.yml").resolve()
    assert collection.playbook("deploy").name == "deploy.yml"
    assert (collection.packer_dir() / "service.pkr.hcl").resolve() == (ROOT / "packer" / "service.pkr.hcl").resolve()
