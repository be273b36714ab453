"""LICENSE is the Apache License 2.0 that pyproject.toml and the file headers name, word for word."""

from __future__ import annotations

import hashlib
import tomllib

import yaml

from _root import ROOT

# sha256 of https://www.apache.org/licenses/LICENSE-2.0.txt (11357 bytes)
APACHE_2_0_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def test_license_is_the_apache_license_text() -> None:
    text = (ROOT / "LICENSE").read_bytes()
    assert text.startswith(
        b"\n                                 Apache License\n                           Version 2.0,"
    )
    assert hashlib.sha256(text).hexdigest() == APACHE_2_0_SHA256


def test_the_package_and_the_collection_name_that_license() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "Apache-2.0"
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))
    assert galaxy["license_file"] == "LICENSE"
    assert "license" not in galaxy, "galaxy.yml takes license or license_file, not both"
