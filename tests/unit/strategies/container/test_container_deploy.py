"""deploy --strategy container: bad input fails with exit 2 and the fix, before any host call."""

from __future__ import annotations

from pathlib import Path

import pytest

from _root import ROOT
from shipyard.cli import main
from shipyard.core.errors import SpecError
from shipyard.core.spec import load_spec
from shipyard.strategies import multi

SPEC = ROOT / "services" / "hello-container.yml"


@pytest.fixture
def no_playbooks(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a playbook ran")

    monkeypatch.setattr(multi, "run_playbook", refuse)


def test_without_a_registry_deploy_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_playbooks: None
) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    h1:\n      ansible_host: 10.0.0.1\n")
    code = main(["deploy", str(SPEC), "--strategy", "container", "-i", str(inventory), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "container.registry" in err and "shipyard_registry" in err, err
    assert "Traceback" not in err


def test_status_rollback_remove_accept_container_specs_but_not_ami(tmp_path: Path) -> None:
    ami = tmp_path / "img.yml"
    ami.write_text(
        SPEC.read_text()
        .replace("strategy: container", "strategy: ami")
        .replace("../examples", str(ROOT / "examples"))
        + "ami: {base_ami: ami-12345678}\n"
    )
    loaded = load_spec(SPEC)
    multi.check_host_spec(loaded)
    assert loaded.service.strategy == "container"
    with pytest.raises(SpecError, match="multi or container"):
        multi.check_host_spec(load_spec(ami))
