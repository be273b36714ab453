"""The lean runner of service_converge: the argument spec's rules without AnsibleModule, and
secret values masked in whatever the host sends back."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import Any

import pytest
from ansible_collections.shipyard.deploy.plugins.action.service_converge import BOOTSTRAP, payload
from ansible_collections.shipyard.deploy.plugins.module_utils import _converge, _lean


def test_arguments_get_defaults_types_and_refusals() -> None:
    params = _lean.check_arguments(
        _converge.ARGUMENT_SPEC, {"service": {}, "lock_wait": "5", "verify_unit": "no"}
    )
    assert params["lock_wait"] == 5 and params["verify_unit"] is False and params["root"] == "/opt/shipyard"
    with pytest.raises(_lean.LeanArgumentError, match="Unsupported parameters: bogus"):
        _lean.check_arguments(_converge.ARGUMENT_SPEC, {"bogus": 1})
    with pytest.raises(_lean.LeanArgumentError, match="'lock_wait' is of type str"):
        _lean.check_arguments(_converge.ARGUMENT_SPEC, {"lock_wait": "soon"})
    with pytest.raises(_lean.LeanArgumentError, match="value of runtime must be one of"):
        _lean.check_arguments(_converge.ARGUMENT_SPEC, {"runtime": "vm"})


def run_main(doc: dict[str, Any], work: Any, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    _lean.main(_converge.ARGUMENT_SPEC, work, io.StringIO(json.dumps(doc)))
    return json.loads(capsys.readouterr().out)


def test_a_secret_never_comes_back_even_in_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    def work(module: Any, result: dict[str, Any]) -> None:
        result["note"] = "token is s3cr3t-value"
        raise _converge.ConvergeFailure("failed with s3cr3t-value inside", partial=["s3cr3t-value"])

    res = run_main({"args": {"service": {}, "secrets": {"TOKEN": "s3cr3t-value"}}}, work, capsys)
    assert res["failed"] is True
    assert "s3cr3t-value" not in json.dumps(res)
    assert res["msg"] == "failed with ******** inside" and res["partial"] == ["********"]


def test_check_and_diff_mode_reach_the_work(capsys: pytest.CaptureFixture[str]) -> None:
    seen = {}

    def work(module: Any, result: dict[str, Any]) -> None:
        seen.update(check=module.check_mode, diff=module._diff)
        rc, out, _ = module.run_command(["/bin/echo", "hi"])
        result["echo"] = (rc, out)

    res = run_main({"args": {"service": {}}, "check_mode": True, "diff": True}, work, capsys)
    assert seen == {"check": True, "diff": True} and res["echo"] == [0, "hi\n"]


def test_the_bootstrap_runs_the_converge_from_the_payload_alone(tmp_path: Any) -> None:
    # a python without the collection on its path: everything comes from the zip on stdin
    header = json.dumps({"args": {"services": [], "owner": None}})
    proc = subprocess.run(
        [sys.executable, "-I", "-c", BOOTSTRAP],
        input=header.encode() + b"\n" + payload(),
        capture_output=True,
        cwd=tmp_path,
        check=False,
    )
    res = json.loads(proc.stdout)
    assert res["failed"] is True and "owner.token is required" in res["msg"], (res, proc.stderr)
    assert list(tmp_path.iterdir()) == []
