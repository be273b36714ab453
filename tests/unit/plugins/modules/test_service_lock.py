"""service_lock: the lease rules (module) and the dead-holder check (action plugin)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.shipyard.deploy.plugins.action import service_lock as action
from ansible_collections.shipyard.deploy.plugins.modules import service_lock


def owner(token: str, **extra: Any) -> dict[str, Any]:
    return {"controller": "ctl", "boot_id": "b", "pid": 1, "pid_start": "1", "token": token, **extra}


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], **args: Any) -> dict[str, Any]:
    args = {"service": "hello", "directory": str(tmp_path), **args}
    with patch_module_args(args), pytest.raises(SystemExit):
        service_lock.main()
    return json.loads(capsys.readouterr().out)


def test_take_hold_refuse_release(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = run(tmp_path, capsys, owner=owner("a"))
    assert first["acquired"] and not first["changed"] and first["holder"]["token"] == "a"
    assert (tmp_path / "hello.json").stat().st_mode & 0o777 == 0o600
    again = run(tmp_path, capsys, owner=owner("a"))  # re-entrant, keeps its start time
    assert again["acquired"] and again["holder"]["acquired_at"] == first["holder"]["acquired_at"]
    other = run(tmp_path, capsys, owner=owner("b"))
    assert not other["acquired"] and other["holder"]["token"] == "a"
    assert run(tmp_path, capsys, owner=owner("b"), state="absent")["holder"]["token"] == "a"
    assert (tmp_path / "hello.json").exists()  # only the holder releases
    run(tmp_path, capsys, owner=owner("a"), state="absent")
    assert not (tmp_path / "hello.json").exists()


def test_a_dead_or_expired_holder_is_broken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(tmp_path, capsys, owner=owner("a"))
    broke = run(tmp_path, capsys, owner=owner("b"), break_token="a")
    assert broke["acquired"] and broke["broken"]["token"] == "a"
    assert "ansible-playbook process is gone" in broke["broken"]["reason"]
    assert not run(tmp_path, capsys, owner=owner("c"), break_token="a")["acquired"]  # not b's token
    lease = json.loads((tmp_path / "hello.json").read_text())
    lease["acquired_at"] = time.time() - 100
    (tmp_path / "hello.json").write_text(json.dumps(lease))
    expired = run(tmp_path, capsys, owner=owner("c"), ttl=50)
    assert expired["acquired"] and "older than 50 s" in expired["broken"]["reason"]


def test_check_mode_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = run(tmp_path, capsys, owner=owner("a"), _ansible_check_mode=True)
    assert res["acquired"] and not (tmp_path / "hello.json").exists()


def test_a_holder_is_dead_only_when_its_process_is_gone_on_this_controller() -> None:
    me = action.owner()
    assert me["pid"] == os.getppid() and me["token"].endswith(f":{me['pid']}:{me['pid_start']}")
    assert not action.holder_is_dead(dict(me), me)  # our own parent is alive
    proc = subprocess.Popen(["true"])
    proc.wait()
    dead = dict(me, pid=proc.pid, pid_start="1")
    assert action.holder_is_dead(dead, me)
    assert not action.holder_is_dead(dict(dead, controller="elsewhere"), me)  # cannot tell: wait
    assert action.holder_is_dead(dict(me, boot_id="older boot"), me)  # the controller rebooted
    assert action.holder_is_dead(dict(me, pid_start="0"), me)  # the PID was reused
