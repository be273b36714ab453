"""service_files: one call writes a service's files atomically, a changed unit verified first."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.shipyard.deploy.plugins.modules import service_files

SECRET = "canary-7d1f0c"


def run(args: dict[str, Any], capsys: pytest.CaptureFixture[str], **meta: Any) -> dict[str, Any]:
    full = {**{f"_ansible_{k}": v for k, v in meta.items()}, **args}
    with patch_module_args(full), pytest.raises(SystemExit):
        service_files.main()
    return json.loads(capsys.readouterr().out)


def files(tmp: Path, unit: str = "[Service]\nExecStart=/bin/true\n") -> dict[str, Any]:
    etc = tmp / "etc" / "hello"
    return {
        "directories": [str(etc)],
        "files": [
            {"path": str(etc / "env"), "content": "A=1\n"},
            {"path": str(tmp / "shipyard-hello@.service"), "content": unit,
             "verify_unit": "shipyard-hello@8080.service"},
        ],
        "secret_path": str(etc / "secrets.env"),
        "secret_content": f"TOKEN={SECRET}\n",
        "systemd_analyze": str(tmp / "analyze"),
    }


@pytest.fixture
def analyze(tmp_path: Path) -> Path:
    """A stand-in systemd-analyze that logs its calls and fails on units containing BROKEN."""
    log = tmp_path / "analyze.log"
    script = tmp_path / "analyze"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {log}\n'
        'if grep -q BROKEN "$2"; then echo "$(basename "$2"):2: Unknown key" >&2; exit 1; fi\n'
    )
    script.chmod(0o755)
    return log


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_every_file_then_a_rerun_changes_nothing(
    tmp_path: Path, analyze: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = files(tmp_path)
    result = run(args, capsys)
    assert result["changed"] is True
    etc = tmp_path / "etc" / "hello"
    assert (etc / "env").read_text() == "A=1\n"
    assert mode(etc / "env") == 0o644
    assert (etc / "secrets.env").read_text() == f"TOKEN={SECRET}\n"
    assert mode(etc / "secrets.env") == 0o600
    assert mode(tmp_path / "shipyard-hello@.service") == 0o644
    assert sorted(result["changed_files"]) == sorted(
        [str(etc / "env"), str(etc / "secrets.env"), str(tmp_path / "shipyard-hello@.service")]
    )
    assert analyze.read_text().count("verify") == 1  # the new unit was checked once
    assert SECRET not in json.dumps(result)

    again = run(args, capsys)
    assert again["changed"] is False
    assert again["changed_files"] == []
    assert analyze.read_text().count("verify") == 1  # an unchanged unit is not checked again


def test_a_mode_change_alone_is_fixed_without_verifying_the_unit(
    tmp_path: Path, analyze: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(files(tmp_path), capsys)
    unit = tmp_path / "shipyard-hello@.service"
    unit.chmod(0o666)
    result = run(files(tmp_path), capsys)
    assert result["changed_files"] == [str(unit)]
    assert mode(unit) == 0o644
    assert analyze.read_text().count("verify") == 1


def test_a_unit_that_fails_verify_writes_nothing(
    tmp_path: Path, analyze: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(files(tmp_path), capsys)
    before = (tmp_path / "shipyard-hello@.service").read_text()
    args = files(tmp_path, unit="[Service]\nBROKEN=1\n")
    args["files"][0]["content"] = "A=2\n"
    result = run(args, capsys)
    assert result["failed"] is True
    assert "shipyard-hello@8080.service does not pass systemd-analyze verify" in result["msg"]
    assert "Unknown key" in result["msg"]
    assert (tmp_path / "shipyard-hello@.service").read_text() == before
    assert (tmp_path / "etc" / "hello" / "env").read_text() == "A=1\n"  # nothing else either


@pytest.mark.parametrize(
    "exec_start",
    ['"+python3" "server.py"', "+/usr/bin/python3 server.py", '"!/bin/sh"', "-python3", "@/bin/sh sh",
     ":/bin/true", '"./server.py"', "bin/server"],
)
def test_an_exec_start_with_a_systemd_prefix_or_a_relative_program_writes_nothing(
    exec_start: str, tmp_path: Path, analyze: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The verify step catches what the spec and the filter refuse, for units of any source."""
    result = run(files(tmp_path, unit=f"[Service]\nUser=app\nExecStart={exec_start}\n"), capsys)
    assert result["failed"] is True
    assert "nothing was written" in result["msg"]
    assert "ExecStart=" in result["msg"]
    assert not (tmp_path / "shipyard-hello@.service").exists()
    assert not (tmp_path / "etc" / "hello" / "env").exists()


def test_check_mode_reports_and_writes_nothing(
    tmp_path: Path, analyze: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(files(tmp_path), capsys, check_mode=True)
    assert result["changed"] is True
    assert len(result["changed_files"]) == 3
    assert not (tmp_path / "etc").exists()
    assert not (tmp_path / "shipyard-hello@.service").exists()
    assert not analyze.exists()


def test_diff_shows_plain_files_and_never_a_secret(
    tmp_path: Path, analyze: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(files(tmp_path), capsys)
    args = files(tmp_path)
    args["files"][0]["content"] = "A=2\n"
    args["secret_content"] = f"TOKEN={SECRET}-new\n"
    result = run(args, capsys, diff=True)
    assert result["diff"] == [{
        "before_header": str(tmp_path / "etc" / "hello" / "env"),
        "after_header": str(tmp_path / "etc" / "hello" / "env"),
        "before": "A=1\n", "after": "A=2\n",
    }]
    assert str(tmp_path / "etc" / "hello" / "secrets.env") in result["changed_files"]
    assert SECRET not in json.dumps(result)


def test_the_secret_never_reaches_the_hosts_journal(
    tmp_path: Path, analyze: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    logged: list[str] = []
    monkeypatch.setattr(
        service_files.AnsibleModule, "log", lambda self, msg, log_args=None: logged.append(msg)
    )
    run(files(tmp_path), capsys, no_log=False)  # what a task without no_log passes
    assert logged and logged[0].startswith("Invoked with")
    assert SECRET not in "\n".join(logged)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"path": "relative/env", "content": ""}, "files[0].path: 'relative/env' is not absolute"),
        ({"path": "/x/env", "content": "", "mode": "rw-r"}, "files[0].mode: 'rw-r' is not an octal"),
        ({"path": "/x/u", "content": "x", "verify_unit": "../evil"},
         "verify_unit: '../evil' is not a unit file name"),
    ],
)
def test_bad_entries_are_refused_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: dict[str, Any], message: str
) -> None:
    if entry["path"].startswith("/x/"):
        entry["path"] = str(tmp_path) + entry["path"][2:]
    result = run({"files": [entry]}, capsys)
    assert result["failed"] is True
    assert message in result["msg"]
    assert not os.path.exists(tmp_path / "env")


def test_a_relative_secret_path_is_refused_by_its_option_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run({"secret_path": "secrets.env", "secret_content": SECRET}, capsys)
    assert result["failed"] is True
    assert "secret_path: 'secrets.env' is not absolute" in result["msg"]
    assert SECRET not in json.dumps(result)


def test_a_directory_in_the_way_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "env").mkdir()
    result = run({"files": [{"path": str(tmp_path / "env"), "content": "A=1\n"}]}, capsys)
    assert result["failed"] is True
    assert "is not a regular file" in result["msg"]
