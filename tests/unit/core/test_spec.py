"""Spec validation: the example specs pass; hostile and wrong values are refused by field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from _root import ROOT
from shipyard.core.errors import SpecError, SpecErrors
from shipyard.core.spec import json_schema, load_spec, parse_spec

CASES = yaml.safe_load((Path(__file__).parent / "spec_cases.yaml").read_text())
BASE: dict[str, Any] = {
    "name": "orders",
    "version": "1.2.3",
    "artifact": {"path": "orders.tar", "sha256": "0" * 64},
    "command": "/usr/bin/python3 server.py --port {port}",
    "instances": 3,
}


@pytest.mark.parametrize("spec_file", sorted((ROOT / "services").glob("*.yml")), ids=lambda p: p.name)
def test_every_example_spec_is_valid(spec_file: Path) -> None:
    loaded = load_spec(spec_file)
    assert loaded.service.name


def _build(case: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for key in case.get("remove", []):
        data.pop(key)
    data.update(copy.deepcopy(case.get("set", {})))
    return data


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_value_is_refused_naming_field_value_and_fix(case: dict[str, Any]) -> None:
    with pytest.raises(SpecErrors) as info:
        parse_spec(_build(case), source="svc.yml")
    errors = info.value.errors
    fields = [e.field for e in errors]
    assert case["field"] in fields, info.value.message
    err = errors[fields.index(case["field"])]
    assert case["fix"] in err.fix, err.message
    assert err.message.startswith(f"svc.yml: {case['field']}: ")
    assert info.value.exit_code == 2


def test_message_matches_the_documented_form() -> None:
    with pytest.raises(SpecErrors) as info:
        parse_spec({**BASE, "name": "orders;rm -rf /"}, source="s.yml")
    assert info.value.message == (
        "s.yml: name: 'orders;rm -rf /' is not allowed: use lowercase letters, digits and '-' "
        "(max 40), starting with a letter"
    )


def test_all_bad_fields_are_reported_at_once() -> None:
    with pytest.raises(SpecErrors) as info:
        parse_spec({**BASE, "name": "A", "instances": 0, "version": ".."})
    assert {e.field for e in info.value.errors} >= {"name", "instances", "version"}


def test_normalized_ports_and_command() -> None:
    svc = parse_spec({**BASE, "ports": {"base": 9000}})
    out = svc.to_ansible()
    assert out["ports"] == [9000, 9001, 9002]
    assert out["command"] == ["/usr/bin/python3", "server.py", "--port", "{port}"]
    assert out["resources"] == {"memory": None, "cpu": None, "tasks": None}


def test_port_shorthand_and_list() -> None:
    assert parse_spec({**BASE, "ports": 7000}).port_list() == [7000, 7001, 7002]
    assert parse_spec({**BASE, "ports": [7000, 7005, 7009]}).port_list() == [7000, 7005, 7009]


def test_env_numbers_become_strings_but_bools_are_refused() -> None:
    assert parse_spec({**BASE, "env": {"WORKERS": 4}}).env == {"WORKERS": "4"}
    with pytest.raises(SpecErrors):
        parse_spec({**BASE, "env": {"DEBUG": True}})


def test_secrets_resolve_from_env_and_file_and_never_show(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    spec_file = tmp_path / "svc.yml"
    spec_file.write_text(
        yaml.safe_dump(
            {
                **BASE,
                "secrets": {
                    "A": {"env": "SVC_A"},
                    "B": {"file": "token"},
                    "C": {"env": "SVC_C", "required": False},
                },
            }
        )
    )
    loaded = load_spec(spec_file)
    values = loaded.resolve_secrets({"SVC_A": "from-env"})
    assert {k: v.get_secret_value() for k, v in values.items()} == {"A": "from-env", "B": "from-file"}
    assert "from-env" not in repr(values)
    assert loaded.to_ansible()["secret_names"] == ["A", "B", "C"]
    assert "from-env" not in json.dumps(loaded.to_ansible())
    with pytest.raises(SpecError) as info:
        loaded.resolve_secrets({})
    assert info.value.field == "secrets.A"
    assert "SVC_A" in info.value.fix


def test_artifact_path_is_resolved_against_the_spec_dir(tmp_path: Path) -> None:
    spec_file = tmp_path / "sub" / "svc.yml"
    spec_file.parent.mkdir()
    spec_file.write_text(yaml.safe_dump(BASE))
    assert load_spec(spec_file).to_ansible()["artifact"]["path"] == str(tmp_path / "sub" / "orders.tar")


def test_json_schema_documents_every_top_level_field() -> None:
    schema = json_schema()
    assert schema["additionalProperties"] is False
    assert {"name", "version", "artifact", "command", "ports", "resources", "health", "lambda", "ami"} <= set(
        schema["properties"]
    )
    assert schema["properties"]["name"]["description"]


def test_balancer_is_normalized_and_optional() -> None:
    assert parse_spec(BASE).to_ansible()["balancer"] is None
    svc = parse_spec({**BASE, "ports": {"base": 9000}, "balancer": {"port": 8000}})
    assert svc.to_ansible()["balancer"] == {"port": 8000, "drain_timeout": 10.0}
    svc = parse_spec({**BASE, "balancer": {"port": 8000, "drain_timeout": 3}})
    assert svc.to_ansible()["balancer"]["drain_timeout"] == 3.0
