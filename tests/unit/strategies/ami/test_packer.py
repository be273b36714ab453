"""shipyard.strategies.ami.packer: parsing recorded ``packer build -machine-readable`` output (Packer 1.6.6)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from _root import ROOT
from shipyard.core.errors import SpecError
from shipyard.strategies.ami import packer

DATA = Path(__file__).parent / "data"

SUCCESS = """\
1795583400,,ui,say,==> amazon-ebs.service: Creating temporary security group for this instance: packer_6b066e86-2a1c-0f17-afcb-78d2e6fa9e95
1795583401,,ui,message,    amazon-ebs.service: Instance ID: i-18472e098adb4700c
1795583402,,ui,message,    amazon-ebs.service: TASK [shipyard.deploy.service_release : Install the release] ***
1795583430,,ui,say,Build 'amazon-ebs.service' finished after 30 seconds 119 milliseconds.
1795583430,amazon-ebs.service,artifact-count,1
1795583430,amazon-ebs.service,artifact,0,builder-id,mitchellh.amazonebs
1795583430,amazon-ebs.service,artifact,0,id,us-east-1:ami-9c21fa35beb331ef6
1795583430,amazon-ebs.service,artifact,0,string,AMIs were created:\\nus-east-1: ami-9c21fa35beb331ef6\\n
1795583430,amazon-ebs.service,artifact,0,end
1795583430,,ui,say,--> amazon-ebs.service: AMIs were created:\\nus-east-1: ami-9c21fa35beb331ef6\\n
"""


def test_parse_line_unescapes_commas_and_newlines() -> None:
    line = packer.parse_line("1795583622,,ui,say,a%!(PACKER_COMMA) b\\nc\n")
    assert line is not None
    assert (line.timestamp, line.target, line.type) == (1795583622, "", "ui")
    assert line.data == ("say", "a, b\nc")
    assert line.text == "a, b\nc"


@pytest.mark.parametrize("raw", ["", "plain output", "x,y,z", "12"])
def test_parse_line_ignores_other_lines(raw: str) -> None:
    assert packer.parse_line(raw) is None


def test_success_gives_the_artifact_per_region() -> None:
    out = packer.parse_output(SUCCESS.splitlines())
    assert out.ok
    assert out.artifacts == [packer.Artifact("us-east-1", "ami-9c21fa35beb331ef6", "amazon-ebs.service")]
    assert out.failed_task is None
    assert out.resources["instances"] == ["i-18472e098adb4700c"]


def test_failed_provisioner_names_the_task_and_packers_error_line() -> None:
    out = packer.parse_output((DATA / "packer-failed-task.txt").read_text().splitlines())
    assert not out.ok
    assert out.error_count == 1
    assert not out.artifacts
    assert out.failed_task == (
        "shipyard.deploy.service_instances : Start, stop and rolling-restart all instances in one call"
    )
    assert out.fatal is not None and out.fatal.startswith("shipyard-hello@8180.service (port 8180) failed")
    assert out.error_line().startswith("Build 'amazon-ebs.service' errored")
    assert out.resources["security_groups"] == ["packer_6b066e86-2a1c-0f17-afcb-78d2e6fa9e95"]
    assert out.resources["instances"] == ["i-18472e098adb4700c"]


def _fake_packer(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "packer"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return script


def test_build_streams_lines_and_raises_with_the_failed_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = DATA / "packer-failed-task.txt"
    monkeypatch.setenv("SHIPYARD_PACKER", str(_fake_packer(tmp_path, f"cat {sample}\nexit 1\n")))
    events: list[str] = []
    with pytest.raises(packer.PackerError) as info:
        packer.build(tmp_path, {"service": "hello"}, progress=lambda e: events.append(e.message))
    assert info.value.failed_task is not None
    assert "Start, stop and rolling-restart" in str(info.value)
    assert "failed its health check" in str(info.value)
    assert info.value.error.startswith("Build 'amazon-ebs.service' errored")
    assert "\n" not in str(info.value)  # one line, not a wall of output
    assert any("TASK [" in e for e in events)
    assert info.value.resources["instances"] == ["i-18472e098adb4700c"]


def test_build_returns_the_artifact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "out.txt").write_text(SUCCESS)
    monkeypatch.setenv("SHIPYARD_PACKER", str(_fake_packer(tmp_path, f"cat {tmp_path / 'out.txt'}\n")))
    out = packer.build(tmp_path, {})
    assert out.artifacts[0].ami_id == "ami-9c21fa35beb331ef6"


def test_env_passes_aws_credentials_and_drops_the_rest() -> None:
    parent = {"PATH": "/bin", "AWS_ACCESS_KEY_ID": "k", "GITHUB_TOKEN": "t", "HOME": "/root"}
    env = packer.packer_env({"X": "1"}, parent=parent)
    assert env["AWS_ACCESS_KEY_ID"] == "k"
    assert "GITHUB_TOKEN" not in env
    assert env["X"] == "1" and env["CHECKPOINT_DISABLE"] == "1"


def test_missing_packer_is_a_setup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_PACKER", "/nonexistent/packer")
    from shipyard.core.errors import SetupError

    with pytest.raises(SetupError):
        packer.packer_path()


@pytest.mark.skipif(
    subprocess.run(["which", "packer"], check=False, capture_output=True).returncode != 0, reason="no packer"
)
def test_template_is_formatted_and_validates(tmp_path: Path) -> None:
    assert subprocess.run(["packer", "fmt", "-check", str(ROOT / "packer")], check=False).returncode == 0
    good = {
        "service": "hello",
        "version": "1.0.0",
        "artifact_sha256": "a" * 64,
        "bake_hash": "b" * 64,
        "bake_id": "x",
        "timestamp": "20260101000000",
        "base_ami": "ami-785db401",
        "playbook_file": str(ROOT / "playbooks" / "bake.yml"),
        "vars_file": str(tmp_path / "vars.json"),
        "collections_path": str(tmp_path),
        "manifest_file": str(tmp_path / "manifest.json"),
        "ansible_playbook": str(Path(subprocess.sys.executable).parent / "ansible-playbook"),
    }
    packer.validate(ROOT / "packer", good)
    with pytest.raises(SpecError, match="packer validate failed"):
        packer.validate(ROOT / "packer", {**good, "service": ""})
