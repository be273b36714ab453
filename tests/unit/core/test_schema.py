"""The exported JSON Schema accepts the project's own specs and carries the models' patterns."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from _root import ROOT
from shipyard.cli import main
from shipyard.core.spec import SCHEMA_ID, json_schema

SPECS = sorted((ROOT / "services").glob("**/*.yml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: str(p.relative_to(ROOT / "services")))
def test_every_example_spec_is_valid_against_the_exported_schema(
    spec: Path, validator: jsonschema.Draft202012Validator
) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(yaml.safe_load(spec.read_text()))]
    assert errors == []


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: str(p.relative_to(ROOT / "services")))
def test_every_example_names_the_schema_in_a_modeline(spec: Path) -> None:
    first = spec.read_text().splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match, first
    assert (spec.parent / match.group(1)).resolve() == ROOT / "build" / "service-spec.schema.json"
    assert "shipyard schema --out build/service-spec.schema.json" in (ROOT / "Makefile").read_text()


def test_the_schema_has_an_id_and_the_models_patterns(validator: jsonschema.Draft202012Validator) -> None:
    schema = validator.schema
    assert schema["$id"] == SCHEMA_ID
    assert schema["properties"]["name"]["pattern"].startswith("^")
    base = yaml.safe_load(SPECS[0].read_text())
    for field, bad in (("name", "Bad_Name"), ("version", "1.0/evil"), ("user", "root\n")):
        assert not validator.is_valid({**base, field: bad}), field
    assert not validator.is_valid({**base, "env": {"1BAD": "x"}})
    assert not validator.is_valid({**base, "artifact": {**base["artifact"], "sha256": "ABC"}})


def test_shipyard_schema_prints_the_same_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema()


def test_the_shop_specs_are_among_the_checked_specs() -> None:
    assert {"shop/gateway.yml", "shop/orders.yml", "shop/catalog.yml", "shop/payments.yml"} <= {
        str(p.relative_to(ROOT / "services")) for p in SPECS
    }
