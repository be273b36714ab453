"""A canary that finishes itself, against the lab's moto server: deploy v1, then v2 as a canary
of 10 % watched for 10 s. An alarm that a thread sets to ALARM (``set_alarm_state``) while the
canary is in flight rolls the alias back to v1 (exit 1 naming the alarm); an alarm that stays
OK ends with the alias wholly on v2; errors of v2 in the function's own ``Errors`` metric
(``put_metric_data``) roll back too; SIGINT during the watch leaves the alias weighted and
says how to finish (exit 130), and a re-run of the deploy watches it again.

Every test uses its own function and alarm names (the moto server is shared) and is bounded:
the watch is 10 s, the helpers' waits have deadlines, and the module has a timeout.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from _root import ROOT
from shipyard import api
from shipyard.cli import main
from shipyard.strategies.lambda_.deploy import LambdaResult

pytestmark = [pytest.mark.lab, pytest.mark.timeout(300)]

HANDLER = "def handler(event, context):\n    return {'version': %r}\n"


def _spec(tmp_path: Path, name: str, *, canary: str = "") -> Path:
    (tmp_path / "code").mkdir(exist_ok=True)
    (tmp_path / "code" / "app.py").write_text(HANDLER % "v1")
    spec = tmp_path / f"{name}.yml"
    spec.write_text(
        f"name: {name}\nversion: 1.0.0\nstrategy: lambda\n"
        f"lambda:\n  source: code\n  handler: app.handler\n{canary}"
    )
    return spec


def _v2(tmp_path: Path) -> None:
    (tmp_path / "code" / "app.py").write_text(HANDLER % "v2")


def _alarm(cw: Any, name: str, function: str) -> str:
    alarm = f"{function}-errors"
    cw.put_metric_alarm(
        AlarmName=alarm, Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
        Dimensions=[{"Name": "FunctionName", "Value": function}],
    )  # fmt: skip
    cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="test: starts OK")
    return alarm


def _alias(lam: Any, name: str) -> tuple[str, dict[str, float]]:
    doc = lam.get_alias(FunctionName=name, Name="live")
    return doc["FunctionVersion"], dict(
        (doc.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    )


class WhenWeighted(threading.Thread):
    """Waits (bounded) until the alias sends a weight to v2, records it, then runs ``then``."""

    def __init__(
        self, lam: Any, name: str, then: Callable[[], None] | None = None, delay: float = 2.0
    ) -> None:
        super().__init__(daemon=True)
        self.lam, self.name, self.then, self.delay = lam, name, then, delay
        self.seen: tuple[str, dict[str, float]] | None = None
        self.done_at: float | None = None

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                version, weights = _alias(self.lam, self.name)
            except Exception:  # the alias is not there yet
                version, weights = "", {}
            if weights:
                self.seen = (version, weights)
                time.sleep(self.delay)
                if self.then is not None:
                    self.then()
                self.done_at = time.monotonic()
                return
            time.sleep(0.2)


def _first(tmp_path: Path, spec: Path, endpoint: str, lam: Any, name: str) -> None:
    first = api.deploy(spec, endpoint_url=endpoint)
    assert isinstance(first, LambdaResult) and first.ok, first.message
    assert _alias(lam, name) == ("1", {})  # a first version: nothing to weigh, nothing watched
    assert first.canary is None
    _v2(tmp_path)


def test_an_alarm_set_to_alarm_during_the_watch_rolls_back_and_exits_1(
    tmp_path: Path, aws: Any, aws_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"lc-{uuid.uuid4().hex[:6]}"
    lam, cw = aws("lambda"), aws("cloudwatch")
    alarm = _alarm(cw, name, name)
    spec = _spec(tmp_path, name)
    _first(tmp_path, spec, aws_endpoint, lam, name)
    capsys.readouterr()

    fire = WhenWeighted(
        lam, name, lambda: cw.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test: 5xx"), 3
    )
    fire.start()
    started = time.monotonic()
    code = main(
        [
            "deploy",
            str(spec),
            "--endpoint-url",
            aws_endpoint,
            "--canary",
            "10",
            "--watch",
            "10s",
            "--alarm",
            alarm,
        ]
    )
    took = time.monotonic() - started
    fire.join(5)
    err = capsys.readouterr().err
    assert fire.seen == ("1", {"2": 0.1})  # the canary was in flight
    assert code == 1, err
    assert f"alarm {alarm} went to ALARM (test: 5xx)" in err and "rolled back: alias live -> 1" in err
    assert "canary: version 2 gets 10%" in err  # progress on stderr
    after = re.search(r"went to ALARM \(test: 5xx\) after (\d+)s: rolling back", err)
    assert after is not None and 1 <= int(after.group(1)) < 10, err  # during the watch, not before
    assert _alias(lam, name) == ("1", {})  # back on the old version, no weight left
    assert fire.done_at is not None and fire.done_at - started < took  # fired before the deploy ended


def test_an_alarm_that_stays_ok_ends_at_100_percent_on_the_new_version(
    tmp_path: Path, aws: Any, aws_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"lc-{uuid.uuid4().hex[:6]}"
    lam, cw = aws("lambda"), aws("cloudwatch")
    alarm = _alarm(cw, name, name)
    spec = _spec(tmp_path, name, canary=f"  canary: {{weight: 10, watch: 10s, alarms: [{alarm}]}}\n")
    _first(tmp_path, spec, aws_endpoint, lam, name)  # the spec's canary: a first version moves whole

    seen = WhenWeighted(lam, name, delay=0)
    seen.start()
    started = time.monotonic()
    code = main(["deploy", str(spec), "--endpoint-url", aws_endpoint, "--json", "--quiet"])
    took = time.monotonic() - started
    seen.join(5)
    out = capsys.readouterr().out
    assert code == 0, out
    doc = json.loads(out)
    assert doc["ok"] and doc["canary"]["ok"] and doc["canary"]["alarms"] == [alarm]
    assert doc["canary"]["watched"] >= 10 and took >= 10
    assert seen.seen == ("1", {"2": 0.1})  # it was a canary first
    assert _alias(lam, name) == ("2", {})  # then wholly the new version
    assert (doc["alias_version"], doc["weights"]) == ("2", {})
    # a rerun has no new version: nothing to weigh, nothing to watch, nothing changed
    again = api.deploy(spec, endpoint_url=aws_endpoint)
    assert isinstance(again, LambdaResult) and again.ok and not again.changed and again.canary is None
    assert _alias(lam, name) == ("2", {})


def test_errors_of_the_new_version_roll_back_where_no_alarm_is_named(
    tmp_path: Path, aws: Any, aws_endpoint: str
) -> None:
    name = f"lc-{uuid.uuid4().hex[:6]}"
    lam, cw = aws("lambda"), aws("cloudwatch")
    spec = _spec(tmp_path, name)
    _first(tmp_path, spec, aws_endpoint, lam, name)

    def errors() -> None:  # what Lambda would publish for failed invocations of version 2
        cw.put_metric_data(
            Namespace="AWS/Lambda",
            MetricData=[{
                "MetricName": "Errors", "Value": 3.0, "Unit": "Count", "Timestamp": datetime.now(UTC),
                "Dimensions": [
                    {"Name": "FunctionName", "Value": name}, {"Name": "Resource", "Value": f"{name}:live"},
                    {"Name": "ExecutedVersion", "Value": "2"},
                ],
            }],
        )  # fmt: skip

    fire = WhenWeighted(lam, name, errors)
    fire.start()
    result = api.deploy(spec, endpoint_url=aws_endpoint, canary=10, watch="10s")
    fire.join(5)
    assert fire.seen == ("1", {"2": 0.1})
    assert isinstance(result, LambdaResult) and not result.ok
    assert result.canary is not None and result.canary.culprit == "Errors"
    assert result.message is not None and "version 2 had 3 errors" in result.message
    assert _alias(lam, name) == ("1", {})


def test_sigint_during_the_watch_leaves_the_canary_and_says_how_to_finish(
    tmp_path: Path, aws: Any, aws_endpoint: str
) -> None:
    name = f"lc-{uuid.uuid4().hex[:6]}"
    lam, cw = aws("lambda"), aws("cloudwatch")
    alarm = _alarm(cw, name, name)
    spec = _spec(tmp_path, name)
    _first(tmp_path, spec, aws_endpoint, lam, name)

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "deploy", str(spec), "--endpoint-url", aws_endpoint,
         "--canary", "10", "--watch", "1m", "--alarm", alarm],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    watching = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "canary: 0s of 1m" in line:  # the watch's first poll is done
                watching.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert watching.wait(120), "".join(lines)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        reader.join(5)
        assert proc.stderr is not None
        proc.stderr.close()
    err = "".join(lines)
    assert code == 130, err
    assert "interrupted: the canary watch" in err and "still sends 10% to version 2" in err
    assert f"shipyard promote {spec} --endpoint-url {aws_endpoint}" in err
    assert f"shipyard rollback {spec} --endpoint-url {aws_endpoint}" in err
    assert _alias(lam, name) == ("1", {"2": 0.1})  # left as it was
    # a re-run of the deploy watches the canary still in flight again, then promotes it
    again = api.deploy(spec, endpoint_url=aws_endpoint, canary=10, watch="10s", alarms=[alarm])
    assert isinstance(again, LambdaResult) and again.ok and again.published is None, again.message
    assert again.canary is not None and again.canary.ok and again.canary.version == "2"
    assert _alias(lam, name) == ("2", {})
