"""Lambda packaging and local invoke: reproducible ZIPs, refusals before upload, the subprocess."""

from __future__ import annotations

import json
import os
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from _root import ROOT
from shipyard.cli import main
from shipyard.core.errors import SpecError, SpecErrors
from shipyard.core.spec import load_spec
from shipyard.strategies.lambda_ import invoke as lambda_invoke
from shipyard.strategies.lambda_ import package as lambda_pkg


def _spec(tmp_path: Path, *, handler: str = "app.handler", extra: str = "", code: str | None = None) -> Path:
    src = tmp_path / "fn"
    src.mkdir(exist_ok=True)
    (src / "app.py").write_text(
        code
        or (
            "import os, time\n"
            "def handler(event, context):\n"
            "    print('got', event)\n"
            "    if event.get('sleep'):\n"
            "        time.sleep(event['sleep'])\n"
            "    if event.get('fail'):\n"
            "        raise ValueError('bad event')\n"
            "    return {'greeting': os.environ['GREETING'], 'fn': context.function_name,\n"
            "            'left': context.get_remaining_time_in_millis() > 0}\n"
        )
    )
    (src / "lib").mkdir(exist_ok=True)
    (src / "lib" / "__init__.py").write_text("")
    (src / "__pycache__").mkdir(exist_ok=True)
    (src / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"junk")
    spec = tmp_path / "fn.yml"
    spec.write_text(
        "name: fn\nversion: 1.0.0\nstrategy: lambda\nenv: {GREETING: hi}\n"
        f"lambda:\n  source: fn\n  handler: {handler}\n  timeout: 2\n{extra}"
    )
    return spec


def test_two_runs_a_second_apart_give_identical_zips(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path))
    first = lambda_pkg.package(spec, out_dir=tmp_path / "a")
    time.sleep(1.1)
    (tmp_path / "fn" / "app.py").touch()
    second = lambda_pkg.package(spec, out_dir=tmp_path / "b")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256
    with zipfile.ZipFile(first.path) as zf:
        names = zf.namelist()
        assert names == sorted(names) == ["app.py", "lib/__init__.py"]  # no __pycache__
        for info in zf.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == 0o100644


def test_a_changed_file_changes_the_hash(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path))
    first = lambda_pkg.package(spec, out_dir=tmp_path / "a")
    with (tmp_path / "fn" / "app.py").open("a") as fh:
        fh.write("# changed\n")
    assert lambda_pkg.package(spec, out_dir=tmp_path / "b").sha256 != first.sha256


def test_code_sha256_is_base64_like_lambda() -> None:
    assert lambda_pkg.code_sha256(b"") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def test_over_size_is_refused_naming_the_biggest(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path))
    (tmp_path / "fn" / "big.bin").write_bytes(os.urandom(50_000))
    with pytest.raises(SpecError) as err:
        lambda_pkg.package(spec, out_dir=tmp_path / "o", max_zipped=10_000)
    assert err.value.field == "lambda.source"
    assert "big.bin" in err.value.fix and "limits" in err.value.fix
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("handler", ["missing.handler", "app.nothere"])
def test_a_missing_handler_is_refused(tmp_path: Path, handler: str) -> None:
    spec = load_spec(_spec(tmp_path, handler=handler))
    with pytest.raises(SpecError) as err:
        lambda_pkg.package(spec, out_dir=tmp_path / "o")
    assert err.value.field == "lambda.handler"


def test_a_handler_module_that_does_not_parse_is_refused(tmp_path: Path) -> None:
    # The handler is checked by parsing its module (ast), never by importing it: an import error
    # shows only when it runs (invoke, Lambda); a syntax error is refused naming file and line.
    spec = load_spec(_spec(tmp_path, code="import os\ndef handler(e, c)\n    return 1\n"))
    with pytest.raises(SpecError, match=r"app\.py:2 does not parse") as err:
        lambda_pkg.package(spec, out_dir=tmp_path / "o")
    assert err.value.field == "lambda.handler"


@pytest.mark.parametrize(
    ("extra", "field"),
    [("  runtime: nodejs20.x\n", "lambda.runtime"), ("  memory: 64\n", "lambda.memory")],
)
def test_bad_runtime_or_memory_is_refused(tmp_path: Path, extra: str, field: str) -> None:
    with pytest.raises(SpecErrors) as err:
        load_spec(_spec(tmp_path, extra=extra))
    assert err.value.field == field


def test_timeout_over_900_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path)
    spec.write_text(spec.read_text().replace("timeout: 2", "timeout: 901"))
    assert main(["package", str(spec), "--out", str(tmp_path / "o")]) == 2
    assert "lambda.timeout" in capsys.readouterr().err
    assert main(["deploy", str(spec), "--endpoint-url", "http://127.0.0.1:9"]) == 2


def test_cli_package_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["package", str(_spec(tmp_path)), "--out", str(tmp_path / "o"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"] == 2 and len(doc["sha256"]) == 64


def test_local_invoke_result_logs_env_and_context(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path))
    pkg = lambda_pkg.package(spec, out_dir=tmp_path / "o")
    res = lambda_invoke.invoke_zip(spec, pkg.path, {"a": 1}, environ={})
    assert res.ok, res.logs
    assert res.result == {"greeting": "hi", "fn": "fn", "left": True}
    assert "got {'a': 1}" in res.logs


def test_local_invoke_reports_handler_errors(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path))
    pkg = lambda_pkg.package(spec, out_dir=tmp_path / "o")
    res = lambda_invoke.invoke_zip(spec, pkg.path, {"fail": True}, environ={})
    assert not res.ok
    assert res.error is not None
    assert (res.error["errorType"], res.error["errorMessage"]) == ("ValueError", "bad event")
    stack = "".join(res.error["stackTrace"])
    assert stack.startswith("Traceback (most recent call last):") and "raise ValueError('bad event')" in stack
    assert "Traceback (most recent call last):" in res.logs and 0 < res.duration < 30


def test_local_invoke_enforces_the_timeout(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path))
    pkg = lambda_pkg.package(spec, out_dir=tmp_path / "o")
    res = lambda_invoke.invoke_zip(spec, pkg.path, {"sleep": 10}, environ={})
    assert res.timed_out and not res.ok
    assert res.duration < 6


def test_local_invoke_applies_the_memory_limit(tmp_path: Path) -> None:
    code = "def handler(e, c):\n    x = bytearray(3 * 1024 * 1024 * 1024)\n    return len(x)\n"
    spec = load_spec(_spec(tmp_path, code=code))
    pkg = lambda_pkg.package(spec, out_dir=tmp_path / "o")
    res = lambda_invoke.invoke_zip(spec, pkg.path, {}, environ={})
    assert not res.ok
    assert res.error is not None and res.error["errorType"] == "MemoryError"


def test_cli_invoke_with_event_file_and_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(tmp_path)
    event = tmp_path / "ev.json"
    event.write_text('{"x": 2}')
    assert main(["invoke", str(spec), "--event", str(event), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["result"]["greeting"] == "hi"
    assert main(["invoke", str(spec), "--event", json.dumps({"fail": 1}).join("''")]) == 2
    assert main(["invoke", "--sample", "kinesis"]) == 0
    assert json.loads(capsys.readouterr().out)["Records"][0]["eventSource"] == "aws:kinesis"


@pytest.mark.parametrize("kind", lambda_invoke.SAMPLE_KINDS)
def test_samples_follow_the_spec(kind: str) -> None:
    spec = load_spec(ROOT / "services" / "imageupload.yml")
    event = lambda_invoke.sample_event(kind, spec)
    if kind == "s3":
        assert event["Records"][0]["s3"]["bucket"]["name"] == "imageupload-images"
    if kind == "apigw":
        assert event["routeKey"] == "POST /images"


def _example(tmp_path: Path) -> Path:
    """services/imageupload.yml, whose code is inside the spec's directory as the packager needs."""
    return ROOT / "services" / "imageupload.yml"


def test_the_example_spec_packages(tmp_path: Path) -> None:
    res = lambda_pkg.package(load_spec(_example(tmp_path)), out_dir=tmp_path / "o")
    with zipfile.ZipFile(res.path) as zf:
        assert zf.namelist() == ["app.py", "requirements.txt"]


def test_a_relative_out_dir_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The import check runs in a scratch cwd: a relative ZIP path used to find no module there.
    monkeypatch.chdir(tmp_path)
    res = lambda_pkg.package(load_spec(_example(tmp_path)), out_dir=Path("out"))
    assert (tmp_path / "out" / res.path.name).is_file()


@pytest.mark.parametrize(
    ("event", "how", "shown"),
    [
        ({"fail": True}, "failed", "raise ValueError('bad event')"),
        ({"sleep": 10}, "timed out", "Task timed out after 2 seconds"),
    ],
)
def test_cli_invoke_reports_a_raising_or_hanging_handler_with_traceback_and_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], event: dict[str, Any], how: str, shown: str
) -> None:
    spec = _spec(tmp_path)
    (tmp_path / "event.json").write_text(json.dumps(event))
    assert main(["invoke", str(spec), "--event", str(tmp_path / "event.json")]) == 1
    out, err = capsys.readouterr()
    assert shown in out + err
    match = re.search(rf"handler {how} after (\d+\.\d+) s: ", err)
    assert match, err
    assert 0 < float(match.group(1)) < 30
    if how == "failed":
        assert "Traceback (most recent call last):" in err and '"stackTrace"' in out
    assert "Traceback" not in err.split("handler ")[-1]  # shipyard itself did not crash
    assert main(["invoke", str(spec), "--event", str(tmp_path / "event.json"), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["duration"] > 0 and doc["timed_out"] is (how == "timed out")
