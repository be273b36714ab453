"""One version: ``__version__`` in src/shipyard/__init__.py; pyproject and galaxy.yml follow it."""

from __future__ import annotations

import re
import tomllib

import yaml
from hatchling.metadata.core import ProjectMetadata
from hatchling.plugin.manager import PluginManager

import shipyard
from _root import ROOT


def init_version() -> str:
    match = re.search(
        r'^__version__ = "([^"]+)"$',
        (ROOT / "src" / "shipyard" / "__init__.py").read_text(encoding="utf-8"),
        re.M,
    )
    assert match, 'src/shipyard/__init__.py has no __version__ = "..." line'
    return match.group(1)


def test_pyproject_takes_its_version_from_init() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"], "pyproject.toml must not repeat the version"
    assert "version" in project["project"].get("dynamic", [])
    assert project["tool"]["hatch"]["version"]["path"] == "src/shipyard/__init__.py"
    # what the build backend computes is what the wheel and sdist are named after
    metadata = ProjectMetadata(str(ROOT), PluginManager())
    assert metadata.version == init_version()


def test_galaxy_version_equals_the_package_version() -> None:
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))
    assert str(galaxy["version"]) == init_version(), (
        f"galaxy.yml version {galaxy['version']} differs from __version__ {init_version()} in "
        "src/shipyard/__init__.py (the one source): change galaxy.yml"
    )


def test_the_imported_package_reports_that_version() -> None:
    assert shipyard.__version__ == init_version()
