"""The CLI keeps its word (the ecosystem issue, item 2): exit codes as documented, one JSON
document on stdout with --json even for an error, tables whole when piped, the artifact checked
by validate, ansible-core's version in --version."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from _root import ROOT
from shipyard.cli import main
from shipyard.cli._base import _print_result
from shipyard.strategies.multi import DeployResult, InstanceStatus, Outcome

HELLO = ROOT / "services" / "hello.yml"


def test_no_lab_and_no_inventory_is_a_setup_error_exit_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no inventories/lab/hosts.yml here
    monkeypatch.delenv("SHIPYARD_INVENTORY", raising=False)
    assert main(["status", str(HELLO), "-q"]) == 4
    err = capsys.readouterr().err
    assert "setup: no inventory" in err and "shipyard lab up" in err
    # a named inventory that does not exist stays invalid input (2)
    assert main(["status", str(HELLO), "-q", "-i", str(tmp_path / "none.yml")]) == 2


def test_an_error_with_json_is_one_json_document_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("name: 'Bad Name'\nversion: '1'\ninstances: 0\n")
    assert main(["deploy", "--json", str(bad)]) == 2
    out = capsys.readouterr()
    doc = json.loads(out.out)  # exactly one document
    assert doc["exit_code"] == 2
    assert doc["field"] in ("name", "instances") and doc["fix"]
    assert {e["field"] for e in doc["errors"]} >= {"name", "instances"}
    assert any(e["value"] == 0 for e in doc["errors"])  # the value as JSON, not a repr
    assert "invalid input:" in out.err


def test_validate_json_on_a_bad_spec_is_one_document_with_json_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\nversion: '1'\ninstances: 0\n")
    assert main(["validate", "--json", str(bad)]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False
    assert {"field": "instances", "value": 0} in [
        {"field": e["field"], "value": e["value"]} for e in doc["specs"][0]["errors"]
    ]


def test_tables_are_not_cut_when_stdout_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    host = "a-rather-long-host-name-default-h1"
    inst = InstanceStatus(host, 8080, "shipyard-hello@8080.service", "active", "running", 42,
                          "1.0.0", 10 << 20, 0, True)  # fmt: skip
    result = DeployResult("hello", "1.0.0", "status", Outcome.OK, False, 0, (), (inst,), (), 0.1, "/r")
    _print_result(result)
    assert host in capsys.readouterr().out


def test_version_names_ansible_core(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("shipyard ") and "(ansible-core 2." in out


def _spec(tmp_path: Path, artifact: str) -> Path:
    spec = tmp_path / "svc.yml"
    spec.write_text(f"name: svc\nversion: '1'\ncommand: /bin/true\nartifact: {artifact}\n")
    return spec


def test_validate_checks_a_local_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.tar").write_bytes(b"artifact")
    good = hashlib.sha256(b"artifact").hexdigest()
    assert main(["validate", str(_spec(tmp_path, f"{{path: a.tar, sha256: '{good}'}}"))]) == 0
    assert main(["validate", str(_spec(tmp_path, f"{{path: a.tar, sha256: '{'0' * 64}'}}"))]) == 2
    assert "artifact.sha256" in capsys.readouterr().err
    assert main(["validate", str(_spec(tmp_path, f"{{path: gone.tar, sha256: '{good}'}}"))]) == 2
    assert "artifact.path" in capsys.readouterr().err


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """A loopback HTTP server (its own thread, stopped after the test) serving tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()
    (www / "a.tar").write_bytes(b"served artifact")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(www), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_validate_downloads_a_url_artifact_unless_offline(
    tmp_path: Path, served: str, capsys: pytest.CaptureFixture[str]
) -> None:
    good = hashlib.sha256(b"served artifact").hexdigest()
    assert main(["validate", str(_spec(tmp_path, f"{{url: '{served}/a.tar', sha256: '{good}'}}"))]) == 0
    wrong = _spec(tmp_path, f"{{url: '{served}/a.tar', sha256: '{'1' * 64}'}}")
    assert main(["validate", str(wrong)]) == 2
    assert f"the URL's artifact has sha256 {good}" in capsys.readouterr().err
    assert main(["validate", "--offline", str(wrong)]) == 0
    gone = _spec(tmp_path, f"{{url: '{served}/none.tar', sha256: '{good}'}}")
    assert main(["validate", str(gone)]) == 2
    assert "cannot download it" in capsys.readouterr().err


def _commands() -> list[tuple[str, object]]:
    import click

    from shipyard.cli import cli

    out: list[tuple[str, object]] = []

    def walk(group: click.Group, prefix: str) -> None:
        for name, cmd in sorted(group.commands.items()):
            if isinstance(cmd, click.Group):
                walk(cmd, f"{prefix}{name} ")
            else:
                out.append((prefix + name, cmd))

    walk(cli, "")
    return out


def test_every_command_takes_q_and_every_dry_run_is_check() -> None:
    options = {name: {o for p in cmd.params for o in getattr(p, "opts", [])} for name, cmd in _commands()}  # type: ignore[attr-defined]
    assert [name for name, opts in options.items() if "-q" not in opts] == []
    for name in ("deploy", "rollback", "remove", "promote", "prune"):
        assert "--check" in options[name], name
