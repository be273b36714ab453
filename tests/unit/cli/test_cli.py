"""The CLI: exit codes, --json on stdout only, errors on stderr without tracebacks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from _root import ROOT
from shipyard.cli import main

HELLO = ROOT / "services" / "hello.yml"


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(HELLO)]) == 0
    assert "ok (hello 1.0.0, multi)" in capsys.readouterr().out


def test_validate_json_is_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--json", str(HELLO)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == {
        "specs": [
            {"file": str(HELLO), "valid": True, "name": "hello", "version": "1.0.0", "strategy": "multi"}
        ],
        "valid": True,
    }


def test_validate_refuses_hostile_spec_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("name: 'orders;rm -rf /'\nversion: '../x'\ninstances: 99999\n")
    assert main(["validate", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert "name: 'orders;rm -rf /' is not allowed: use lowercase letters" in captured.err
    assert "version: '../x' is not allowed" in captured.err
    assert "instances: 99999 is not allowed: use a value of at most 256" in captured.err


def test_validate_json_on_bad_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\nversion: 1.0\n")
    assert main(["validate", "--json", str(bad)]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False
    assert doc["specs"][0]["errors"][0]["field"] == "version"


def test_schema_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "shipyard service spec"


def test_deploy_refuses_wrong_sha_before_any_host(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    art = tmp_path / "a.tar"
    art.write_bytes(b"not the real artifact")
    spec = tmp_path / "svc.yml"
    spec.write_text(
        f"name: svc\nversion: '1'\ncommand: /bin/true\nartifact: {{path: a.tar, sha256: '{'0' * 64}'}}\n"
    )
    inventory = tmp_path / "inv.yml"  # never read: the sha check comes first
    assert main(["deploy", str(spec), "-i", str(inventory)]) == 2
    err = capsys.readouterr().err
    assert "artifact.sha256" in err
    assert "rebuild the artifact or update the spec" in err


def test_deploy_without_inventory_is_invalid_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    art = tmp_path / "a.tar"
    art.write_bytes(b"artifact")
    spec = tmp_path / "svc.yml"
    spec.write_text(
        "name: svc\nversion: '1'\ncommand: /bin/true\n"
        f"artifact: {{path: a.tar, sha256: '{hashlib.sha256(b'artifact').hexdigest()}'}}\n"
    )
    assert main(["deploy", str(spec), "-i", str(tmp_path / "none.yml")]) == 2
    assert "--inventory: " in capsys.readouterr().err


def test_unknown_command_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_missing_spec_file_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "/nonexistent/spec.yml"]) == 2
    assert "does not exist" in capsys.readouterr().err
