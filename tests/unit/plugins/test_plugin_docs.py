"""Every plugin of the collection is documented, and its version_added is a version of the collection.

ansible-test's validate-modules compares ``version_added`` only against a base branch, and never
looks at filters; these tests hold the collection to galaxy.yml and changelogs/changelog.yaml.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.version import Version

from _root import ROOT

PLUGINS = ROOT / "plugins"
DOCUMENTED_DIRS = ("modules", "lookup", "doc_fragments")


def galaxy_version() -> str:
    return str(yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))["version"])


def collection_versions() -> set[str]:
    """The versions a plugin or option may have been added in: released ones and the one in galaxy.yml."""
    versions = {galaxy_version()}
    changes = ROOT / "changelogs" / "changelog.yaml"
    if changes.is_file():
        versions |= {
            str(v) for v in (yaml.safe_load(changes.read_text(encoding="utf-8")) or {}).get("releases", {})
        }
    return versions


def python_docs(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, parsed YAML) of each DOCUMENTATION string in a plugin file, module- or class-level."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == "DOCUMENTATION":
                    yield target.id, yaml.safe_load(node.value.value)


def all_docs() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for directory in DOCUMENTED_DIRS:
        for path in sorted((PLUGINS / directory).glob("*.py")):
            for _, doc in python_docs(path):
                docs.append((f"{directory}/{path.name}", doc))
    for path in sorted((PLUGINS / "filter").glob("*.yml")):
        docs.append(
            (f"filter/{path.name}", yaml.safe_load(path.read_text(encoding="utf-8"))["DOCUMENTATION"])
        )
    return docs


def version_added_values(doc: Any, where: str) -> Iterator[tuple[str, Any]]:
    """(where, value) for every version_added in a documentation tree, options and suboptions included."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "version_added":
                yield where, value
            else:
                yield from version_added_values(value, f"{where}.{key}")
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from version_added_values(value, f"{where}[{index}]")


def filter_names() -> dict[str, str]:
    """Filter name -> the plugin file that defines it (FilterModule.filters() of every filter file)."""
    names = {}
    for path in sorted((PLUGINS / "filter").glob("*.py")):
        spec = importlib.util.spec_from_file_location(
            f"ansible_collections.shipyard.deploy.plugins.filter.{path.stem}", path
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name in module.FilterModule().filters():
            names[name] = path.name
    return names


def test_there_are_documented_plugins() -> None:
    docs = all_docs()
    assert len([d for d in docs if d[0].startswith("modules/")]) >= 10
    assert [d for d in docs if d[0].startswith("filter/")], "no filter documentation found"


@pytest.mark.parametrize(("where", "doc"), all_docs(), ids=[d[0] for d in all_docs()])
def test_version_added_is_a_version_of_this_collection(where: str, doc: dict[str, Any]) -> None:
    allowed = collection_versions()
    newest = max(Version(v) for v in allowed)
    if not where.startswith("doc_fragments/"):
        assert "version_added" in doc, f"{where}: the plugin has no version_added"
    bad = [
        f"{place}: {value!r}"
        for place, value in version_added_values(doc, where)
        if str(value) not in allowed or Version(str(value)) > newest
    ]
    assert not bad, (
        f"version_added must be one of {sorted(allowed)} (galaxy.yml, changelogs/changelog.yaml): {bad}"
    )


@pytest.mark.parametrize(("name", "source"), sorted(filter_names().items()))
def test_every_filter_has_its_documentation_file(name: str, source: str) -> None:
    doc_file = PLUGINS / "filter" / f"{name}.yml"
    assert doc_file.is_file(), f"filter {name} (plugins/filter/{source}) has no documentation {doc_file.name}"
    data = yaml.safe_load(doc_file.read_text(encoding="utf-8"))
    assert set(data) >= {"DOCUMENTATION", "EXAMPLES", "RETURN"}, f"{doc_file.name}: {sorted(data)}"
    assert data["DOCUMENTATION"]["name"] == name
    assert data["DOCUMENTATION"]["short_description"]
    positional = [p.strip() for p in data["DOCUMENTATION"]["positional"].split(",")]
    assert positional[0] == "_input", positional  # the value filtered, then the arguments in order
    assert set(positional) <= set(data["DOCUMENTATION"]["options"]), positional
    assert "_input" in data["DOCUMENTATION"]["options"]
    assert "_value" in data["RETURN"]
