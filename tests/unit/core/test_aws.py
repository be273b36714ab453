"""The one AWS resolver: precedence (explicit endpoint, then $AWS_ENDPOINT_URL and real
credentials, then the lab's emulator) and a clear setup error where nothing is configured."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.core import aws
from shipyard.core.errors import SetupError
from shipyard.strategies.ami.bake import QuickEc2

LAB = "all:\n  children:\n    lab:\n      vars: {shipyard_aws_endpoint: 'http://127.0.0.1:5999'}\n"


@pytest.fixture
def bare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No AWS variable and a HOME without ~/.aws."""
    for var in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_DEFAULT_REGION",
                "AWS_REGION"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_without_settings_the_labs_emulator_is_used_and_said(bare: Path) -> None:
    inv = bare / "hosts.yml"
    inv.write_text(LAB)
    said: list[str] = []
    found = aws.lab_endpoint(None, inv, progress=lambda e: said.append(e.message))
    assert found == "http://127.0.0.1:5999"
    assert said and "using the lab's AWS emulator at http://127.0.0.1:5999" in said[0]


@pytest.mark.parametrize(
    "setting", ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_PROFILE", "home-credentials", "explicit"]
)
def test_real_settings_take_precedence_over_the_lab(
    setting: str, bare: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv = bare / "hosts.yml"
    inv.write_text(LAB)
    explicit = None
    if setting == "home-credentials":
        (bare / ".aws").mkdir()
        (bare / ".aws" / "credentials").write_text("[default]\n")
    elif setting == "explicit":
        explicit = "http://127.0.0.1:4566"
    else:
        monkeypatch.setenv(setting, "x")
    assert aws.lab_endpoint(explicit, inv) == explicit


def test_an_inventory_that_is_no_labs_changes_nothing(bare: Path) -> None:
    inv = bare / "hosts.yml"
    inv.write_text("all:\n  hosts:\n    h1: {ansible_host: 10.0.0.1}\n")
    assert aws.lab_endpoint(None, inv) is None
    assert aws.lab_endpoint(None, bare / "missing.yml") is None


def test_no_credentials_is_a_setup_error_not_a_traceback(bare: Path) -> None:
    settings = aws.resolve(None, environ={})
    assert settings.access_key is None
    with pytest.raises(SetupError, match="no AWS credentials found"):
        settings.client("ec2")
    with pytest.raises(SetupError, match="no AWS credentials found"):
        QuickEc2(settings)


def test_an_emulator_endpoint_gets_dummy_keys_and_real_keys_win() -> None:
    assert aws.resolve("http://127.0.0.1:1", environ={}).access_key == "testing"
    real = aws.resolve(
        "http://127.0.0.1:1", environ={"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "S"}
    )
    assert (real.access_key, real.secret_key) == ("AK", "S")
    assert "AK" not in repr(real) and "S'" not in repr(real)  # credentials never in the repr


def test_without_a_progress_callback_the_notice_is_a_warning_the_cli_prints(
    bare: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from shipyard.cli import _show_warnings

    inv = bare / "hosts.yml"
    inv.write_text(LAB)
    _show_warnings()
    assert aws.lab_endpoint(None, inv) == "http://127.0.0.1:5999"
    assert "warning: no AWS settings: using the lab's AWS emulator" in capsys.readouterr().err
