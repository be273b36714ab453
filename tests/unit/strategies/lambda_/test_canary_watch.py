"""The canary that finishes itself, without AWS: its spec section and CLI options are checked
before any AWS call (exit 2 naming the field), and the watch loop runs on a fake clock against
fake CloudWatch and fake promote/rollback runs (alarm in ALARM: rollback; all OK: promote;
interrupted: neither, and the hint says how to finish)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shipyard import api
from shipyard.cli import main
from shipyard.core import aws
from shipyard.core.errors import Interrupted, OperationError, SpecError
from shipyard.core.progress import ProgressEvent
from shipyard.core.spec import load_spec
from shipyard.strategies import Options
from shipyard.strategies.lambda_ import canary
from shipyard.strategies.lambda_ import deploy as lambda_deploy
from shipyard.strategies.lambda_.deploy import LambdaResult

pytestmark = pytest.mark.timeout(30)


def _spec(tmp_path: Path, canary_yaml: str = "") -> Path:
    (tmp_path / "fn").mkdir(exist_ok=True)
    (tmp_path / "fn" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    spec = tmp_path / "fn.yml"
    extra = f"  canary: {canary_yaml}\n" if canary_yaml else ""
    spec.write_text(
        f"name: fn\nversion: 1.0.0\nstrategy: lambda\nlambda:\n  source: fn\n  handler: app.handler\n{extra}"
    )
    return spec


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any AWS client or playbook run fails the test."""

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("AWS was called")

    monkeypatch.setattr(aws, "resolve", boom)
    monkeypatch.setattr(lambda_deploy, "run", boom)


# -- the spec section and the options: refused before any AWS call ------------------------------


@pytest.mark.parametrize(
    ("canary_yaml", "field", "fix"),
    [
        ("{weight: 0}", "lambda.canary.weight", "at least 1"),
        ("{weight: 100}", "lambda.canary.weight", "at most 99"),
        ("{weight: '10'}", "lambda.canary.weight", "whole number"),
        ("{weight: true}", "lambda.canary.weight", "whole number"),
        ("{watch: 5m}", "lambda.canary.weight", "required"),
        ("{weight: 10, watch: 5s}", "lambda.canary.watch", "from 10s to 1h"),
        ("{weight: 10, watch: 61m}", "lambda.canary.watch", "from 10s to 1h"),
        ("{weight: 10, watch: 300}", "lambda.canary.watch", "30s, 5m or 1h"),
        ("{weight: 10, watch: 5 min}", "lambda.canary.watch", "30s, 5m or 1h"),
        ("{weight: 10, alarms: [ok, '']}", "lambda.canary.alarms[1]", "1-255 characters"),
        ("{weight: 10, alarms: [ok, '" + "x" * 256 + "']}", "lambda.canary.alarms[1]", "1-255"),
        ('{weight: 10, alarms: ["a\\tb"]}', "lambda.canary.alarms[0]", "control characters"),
        ("{weight: 10, alarms: [a, a]}", "lambda.canary.alarms", "once"),
        ("{weight: 10, alarms: a}", "lambda.canary.alarms", "list"),
        ("{weight: 10, alarm: [a]}", "lambda.canary.alarm", "did you mean 'alarms'"),
    ],
)
def test_a_bad_canary_section_is_exit_2_naming_the_field(
    tmp_path: Path, no_aws: None, capsys: pytest.CaptureFixture[str], canary_yaml: str, field: str, fix: str
) -> None:
    spec = _spec(tmp_path, canary_yaml)
    with pytest.raises(SpecError) as caught:
        load_spec(spec)
    assert any(e.field == field and fix in e.fix for e in caught.value.errors), str(caught.value)
    assert main(["deploy", str(spec), "--endpoint-url", "http://127.0.0.1:9", "--quiet"]) == 2
    assert f"{field}:" in capsys.readouterr().err


def test_a_good_canary_section_loads(tmp_path: Path) -> None:
    sec = load_spec(_spec(tmp_path, "{weight: 10, watch: 5m, alarms: [fn-errors, 'p99 latency (ms)']}"))
    assert sec.service.lambda_ is not None and sec.service.lambda_.canary is not None
    assert sec.service.lambda_.canary.watch_seconds == 300
    assert sec.service.lambda_.canary.alarms == ["fn-errors", "p99 latency (ms)"]
    assert load_spec(_spec(tmp_path, "{weight: 5}")).service.lambda_.canary.watch_seconds == 300  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--canary", "100"], "--canary"),
        (["--canary", "-1"], "--canary"),
        (["--canary", "10", "--watch", "9s"], "--watch"),
        (["--canary", "10", "--watch", "2h"], "--watch"),
        (["--canary", "10", "--watch", "5"], "--watch"),
        (["--canary", "10", "--watch", "1m30s"], "--watch"),
        (["--canary", "10", "--alarm", ""], "--alarm"),
        (["--canary", "10", "--alarm", "x" * 256], "--alarm"),
        (["--canary", "10", "--alarm", "a\x07b"], "--alarm"),
        (["--watch", "1m"], "--watch"),  # a watch needs a weight
        (["--alarm", "a"], "--alarm"),
        (["--canary", "0", "--watch", "1m"], "--watch"),
    ],
)
def test_bad_canary_options_are_exit_2_naming_the_option(
    tmp_path: Path, no_aws: None, capsys: pytest.CaptureFixture[str], args: list[str], option: str
) -> None:
    spec = _spec(tmp_path)
    assert main(["deploy", str(spec), "--endpoint-url", "http://127.0.0.1:9", "--quiet", *args]) == 2
    assert option in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"canary": 10, "watch": 5}, "--watch"),
        ({"canary": 10, "watch": "2h"}, "--watch"),
        ({"canary": 10, "watch": True}, "--watch"),
        ({"canary": 10, "alarms": "one-string"}, "--alarm"),
        ({"canary": 10, "alarms": ["ok", "\n"]}, "--alarm"),
        ({"canary": 100}, "--canary"),
        ({"watch": 60}, "--watch"),
    ],
)
def test_the_api_refuses_bad_canary_arguments(
    tmp_path: Path, no_aws: None, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(SpecError) as caught:
        api.deploy(_spec(tmp_path), **kwargs)
    assert caught.value.field == field


def test_options_override_the_spec(tmp_path: Path) -> None:
    loaded = load_spec(_spec(tmp_path, "{weight: 10, watch: 2m, alarms: [a, b]}"))
    assert canary.plan(loaded) == canary.CanaryPlan(10, 120.0, ("a", "b"), "lambda.canary.alarms")
    assert canary.plan(loaded, canary=25, watch="30s", alarms=["c", "c"]) == canary.CanaryPlan(
        25, 30.0, ("c",), "--alarm"
    )
    assert canary.plan(loaded, canary=0) == canary.CanaryPlan()  # no canary at all
    assert canary.plan(loaded, watch=0).watch == 0  # weighted, not watched: as before
    bare = load_spec(_spec(tmp_path))
    assert canary.plan(bare, canary=10) == canary.CanaryPlan(10, 0.0, (), "lambda.canary.alarms")
    assert canary.plan(bare, canary=10, alarms=["a"]).watch == 300  # alarms: the default watch
    assert canary.plan(bare) == canary.CanaryPlan()


def test_a_missing_alarm_is_refused_before_the_deploy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cw = FakeCloudWatch({"a": "OK"})
    monkeypatch.setattr(aws, "resolve", lambda endpoint=None: FakeSettings(cw))
    monkeypatch.setattr(lambda_deploy, "run", lambda *a, **k: pytest.fail("deployed"))
    loaded = load_spec(_spec(tmp_path, "{weight: 10, watch: 1m, alarms: [a, gone]}"))
    with pytest.raises(SpecError) as caught:
        lambda_deploy.deploy(loaded, Options())
    assert (caught.value.field, caught.value.value) == ("lambda.canary.alarms[1]", "gone")


# -- the watch loop on a fake clock -------------------------------------------------------------


class FakeClock:
    def __init__(self, interrupt_at: float | None = None) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []
        self.interrupt_at = interrupt_at
        self.base = datetime(2026, 1, 1, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert 0 <= seconds <= 60
        self.sleeps.append(seconds)
        self.t += seconds
        if self.interrupt_at is not None and self.t >= self.interrupt_at:
            raise KeyboardInterrupt

    def now(self) -> datetime:
        return self.base + timedelta(seconds=self.t)

    def clock(self) -> canary.Clock:
        return canary.Clock(self.monotonic, self.sleep, self.now)


class FakeCloudWatch:
    """Alarms whose state a script changes with the fake time; Errors datapoints likewise."""

    def __init__(
        self,
        states: dict[str, str],
        script: Callable[[float], dict[str, str]] | None = None,
        clock: FakeClock | None = None,
        errors: Callable[[float], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.states, self.script, self.fake_clock, self.errors = states, script, clock, errors
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _now(self) -> float:
        return self.fake_clock.t if self.fake_clock else 0.0

    def describe_alarms(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("describe_alarms", kwargs))
        if self.script:
            self.states.update(self.script(self._now()))
        docs = [
            {"AlarmName": n, "StateValue": s, "StateReason": f"set to {s}"}
            for n, s in self.states.items()
            if n in kwargs["AlarmNames"]
        ]
        return {"MetricAlarms": docs, "CompositeAlarms": []}

    def get_metric_statistics(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("get_metric_statistics", kwargs))
        return {"Datapoints": self.errors(self._now()) if self.errors else []}


class FakeLambda:
    """The alias as the watch's end reads it (still weighted to version 2 unless told)."""

    def __init__(self) -> None:
        self.alias: dict[str, Any] = {
            "FunctionVersion": "1",
            "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1}},
        }

    def get_alias(self, FunctionName: str, Name: str) -> dict[str, Any]:
        return self.alias


class FakeSettings:
    def __init__(self, cw: FakeCloudWatch, lam: FakeLambda | None = None) -> None:
        self.cw, self.lam = cw, lam or FakeLambda()

    def client(self, service: str) -> Any:
        assert service in ("cloudwatch", "lambda")
        return self.cw if service == "cloudwatch" else self.lam


def _result(operation: str, version: str, weights: dict[str, float], ok: bool = True) -> LambdaResult:
    return LambdaResult(
        service="fn", version="1.0.0", operation=operation, ok=ok, check=False, changed=True,
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:fn", alias="live",
        alias_version=version, weights=weights, versions=("1", "2"), published="2" if operation == "deploy" else None,
        code_uploaded=operation == "deploy", actions=(f"{operation} action",), triggers={},
        message=None if ok else f"{operation} broke", run_dir="/tmp/run", duration=1.0,
    )  # fmt: skip


class Harness:
    """deploy.deploy with fake runs, fake CloudWatch and a fake clock; records what ran."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cw: FakeCloudWatch, clock: FakeClock) -> None:
        self.ops: list[tuple[str, int]] = []
        self.events: list[str] = []
        self.lam = FakeLambda()
        monkeypatch.setattr(aws, "resolve", lambda endpoint=None: FakeSettings(cw, self.lam))
        monkeypatch.setattr(canary, "SYSTEM_CLOCK", clock.clock())
        monkeypatch.setattr(lambda_deploy, "run", self.run)

    def run(
        self, spec: Any, operation: str, *, canary: int = 0, check: bool = False, **kw: Any
    ) -> LambdaResult:
        self.ops.append((operation, canary))
        if operation == "deploy":
            return _result("deploy", "1", {} if check else {"2": canary / 100})
        return _result(operation, "2" if operation == "promote" else "1", {})

    def progress(self, event: ProgressEvent) -> None:
        self.events.append(event.message)


def test_an_alarm_in_alarm_mid_watch_rolls_back_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    cw = FakeCloudWatch(
        {"fn-errors": "OK", "fn-latency": "OK"}, lambda t: {"fn-latency": "ALARM"} if t >= 20 else {}, clock
    )
    h = Harness(monkeypatch, cw, clock)
    loaded = load_spec(_spec(tmp_path, "{weight: 10, watch: 1m, alarms: [fn-errors, fn-latency]}"))
    result = lambda_deploy.deploy(loaded, Options(progress=h.progress))
    assert h.ops == [("deploy", 10), ("rollback", 0)]
    assert not result.ok and result.operation == "deploy"
    assert result.message is not None and "alarm fn-latency went to ALARM" in result.message
    assert (result.alias_version, dict(result.weights)) == ("1", {})
    assert result.canary is not None and result.canary.culprit == "fn-latency" and not result.canary.ok
    assert 20 <= result.canary.watched < 25 and clock.t < 25  # stopped at once, not after 1m
    assert all(c[1]["AlarmNames"] == ["fn-errors", "fn-latency"] for c in cw.calls)
    assert any("watching alarms fn-errors, fn-latency for 1m" in e for e in h.events)
    assert any("rolling back" in e for e in h.events)


def test_alarms_that_stay_ok_promote_after_the_watch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    cw = FakeCloudWatch({"a": "OK", "b": "INSUFFICIENT_DATA"}, clock=clock)
    h = Harness(monkeypatch, cw, clock)
    loaded = load_spec(_spec(tmp_path, "{weight: 10, watch: 2m, alarms: [a, b]}"))
    result = lambda_deploy.deploy(loaded, Options(progress=h.progress))
    assert h.ops == [("deploy", 10), ("promote", 0)]
    assert result.ok and result.message is None and (result.alias_version, dict(result.weights)) == ("2", {})
    assert result.canary is not None and result.canary.ok and result.canary.watched == 120
    assert clock.t == 120 and max(clock.sleeps) <= 5  # bounded polls, a final one at the end
    assert 24 <= len(cw.calls) - 1 <= 30  # one preflight, then every 5 s
    assert any("promoting version 2" in e for e in h.events)
    assert any("b INSUFFICIENT_DATA" in e for e in h.events)
    assert "canary: watched alarms a, b for 2m: all OK; promoted: alias live -> 2" in result.actions


def test_an_interrupted_watch_leaves_the_alias_and_says_how_to_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FakeClock(interrupt_at=12)
    h = Harness(monkeypatch, FakeCloudWatch({"a": "OK"}, clock=clock), clock)
    spec = _spec(tmp_path, "{weight: 10, watch: 1m, alarms: [a]}")
    with pytest.raises(Interrupted) as caught:
        lambda_deploy.deploy(load_spec(spec), Options())
    assert isinstance(caught.value, KeyboardInterrupt)
    assert h.ops == [("deploy", 10)]  # neither promote nor rollback
    assert f"shipyard promote {spec}" in str(caught.value) and f"shipyard rollback {spec}" in str(
        caught.value
    )

    clock.t, h.ops[:] = 0.0, []
    assert main(["deploy", str(spec), "--quiet", "--endpoint-url", "http://moto:5000"]) == 130
    err = capsys.readouterr().err
    assert h.ops == [("deploy", 10)]
    assert "interrupted" in err and "still sends 10% to version 2" in err
    assert f"shipyard promote {spec} --endpoint-url http://moto:5000" in err
    assert f"shipyard rollback {spec} --endpoint-url http://moto:5000" in err


def test_the_cli_exits_1_naming_the_alarm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FakeClock()
    cw = FakeCloudWatch({"fn-5xx": "OK"}, lambda t: {"fn-5xx": "ALARM"} if t >= 3 else {}, clock)
    h = Harness(monkeypatch, cw, clock)
    spec = _spec(tmp_path)
    code = main(["deploy", str(spec), "--canary", "20", "--watch", "30s", "--alarm", "fn-5xx", "--quiet"])
    assert code == 1 and h.ops == [("deploy", 20), ("rollback", 0)]
    captured = capsys.readouterr()
    assert "alarm fn-5xx went to ALARM" in captured.err and "rolled back" in captured.err


def test_without_alarms_the_errors_metric_of_the_new_version_is_watched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    cw = FakeCloudWatch({}, clock=clock, errors=lambda t: [{"Sum": 2.0}] if t >= 15 else [{"Sum": 0.0}])
    h = Harness(monkeypatch, cw, clock)
    result = lambda_deploy.deploy(load_spec(_spec(tmp_path, "{weight: 10, watch: 1m}")), Options())
    assert h.ops == [("deploy", 10), ("rollback", 0)] and not result.ok
    assert result.message is not None and "version 2 had 2 errors" in result.message
    assert result.canary is not None and result.canary.culprit == "Errors"
    call = cw.calls[0][1]
    assert (call["Namespace"], call["MetricName"], call["Statistics"]) == ("AWS/Lambda", "Errors", ["Sum"])
    assert call["Dimensions"] == [
        {"Name": "FunctionName", "Value": "fn"},
        {"Name": "Resource", "Value": "fn:live"},
        {"Name": "ExecutedVersion", "Value": "2"},
    ]
    assert call["StartTime"] < clock.base < call["EndTime"]


def test_no_errors_datapoints_count_as_zero_and_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    h = Harness(monkeypatch, FakeCloudWatch({}, clock=clock), clock)
    result = lambda_deploy.deploy(
        load_spec(_spec(tmp_path, "{weight: 10, watch: 10s}")), Options(progress=h.progress)
    )
    assert h.ops == [("deploy", 10), ("promote", 0)] and result.ok
    assert result.canary is not None and result.canary.no_datapoints
    assert any("no datapoints yet (counted as 0)" in e for e in h.events)
    assert any("no Errors datapoints: counted as 0" in a for a in result.actions)


def test_check_mode_does_not_watch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    cw = FakeCloudWatch({"a": "OK"}, clock=clock)
    h = Harness(monkeypatch, cw, clock)
    result = lambda_deploy.deploy(
        load_spec(_spec(tmp_path, "{weight: 10, alarms: [a]}")), Options(check=True, progress=h.progress)
    )
    assert h.ops == [("deploy", 10)] and result.ok and clock.t == 0
    assert len(cw.calls) == 1  # the preflight: the alarm exists
    assert any("check mode" in e for e in h.events)


def test_a_first_version_has_nothing_to_watch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    h = Harness(monkeypatch, FakeCloudWatch({}, clock=clock), clock)
    monkeypatch.setattr(
        lambda_deploy,
        "run",
        lambda *a, **k: h.ops.append(("deploy", k["canary"])) or _result("deploy", "1", {}),
    )
    result = lambda_deploy.deploy(
        load_spec(_spec(tmp_path, "{weight: 10, watch: 1m}")), Options(progress=h.progress)
    )
    assert h.ops == [("deploy", 10)] and result.ok and result.canary is None and clock.t == 0
    assert any("nothing to watch" in e for e in h.events)


def test_a_failing_promote_fails_the_deploy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    h = Harness(monkeypatch, FakeCloudWatch({"a": "OK"}, clock=clock), clock)
    plain = h.run
    monkeypatch.setattr(
        lambda_deploy,
        "run",
        lambda spec, op, **k: (
            plain(spec, op, **k) if op == "deploy" else _result(op, "1", {"2": 0.1}, ok=False)
        ),
    )
    result = lambda_deploy.deploy(
        load_spec(_spec(tmp_path, "{weight: 10, watch: 10s, alarms: [a]}")), Options()
    )
    assert not result.ok and result.message is not None and "promote failed: promote broke" in result.message


def test_cloudwatch_failures_are_retried_then_reported_with_the_hint(tmp_path: Path) -> None:
    clock = FakeClock()

    class Broken(FakeCloudWatch):
        def describe_alarms(self, **kwargs: Any) -> dict[str, Any]:
            raise ConnectionError("endpoint down")

    loaded = load_spec(_spec(tmp_path))
    with pytest.raises(OperationError) as caught:
        canary.watch(
            Broken({}), canary.CanaryPlan(10, 60.0, ("a",)), function="fn", alias="live", version="2",
            hint="shipyard promote fn.yml", poll_interval=0.5, clock=clock.clock(),
        )  # fmt: skip
    assert "3 times" in str(caught.value) and "shipyard promote fn.yml" in str(caught.value)
    assert clock.t == 1.0 and loaded.service.name == "fn"


def test_the_watch_polls_at_the_interval_given_and_is_bounded() -> None:
    clock = FakeClock()
    cw = FakeCloudWatch({"a": "OK"}, clock=clock)
    out = canary.watch(
        cw, canary.CanaryPlan(10, 10.0, ("a",)), function="fn", alias="live", version="2", hint="h",
        poll_interval=0.5, clock=clock.clock(),
    )  # fmt: skip
    assert out.ok and out.polls == 21 and clock.t == 10 and set(clock.sleeps) == {0.5}
    with pytest.raises(SpecError):
        canary.watch(
            cw,
            canary.CanaryPlan(10, 10.0, ("a",)),
            function="f",
            alias="l",
            version="2",
            hint="h",
            poll_interval=0,
        )


def test_the_deploy_verb_keeps_the_old_canary_parameter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    cw = FakeCloudWatch({}, clock=clock)
    h = Harness(monkeypatch, cw, clock)
    result = api.deploy(_spec(tmp_path), canary=10)
    assert h.ops == [("deploy", 10)] and cw.calls == [] and dict(result.weights) == {"2": 0.1}
    assert isinstance(result, LambdaResult) and result.canary is None


def test_an_alias_moved_by_someone_else_during_the_watch_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    cw = FakeCloudWatch({"a": "OK"}, lambda t: {"a": "ALARM"} if t >= 5 else {}, clock)
    h = Harness(monkeypatch, cw, clock)
    h.lam.alias = {"FunctionVersion": "1"}  # rolled back by hand meanwhile: no second rollback (to 0)
    result = lambda_deploy.deploy(
        load_spec(_spec(tmp_path, "{weight: 10, watch: 1m, alarms: [a]}")), Options()
    )
    assert h.ops == [("deploy", 10)] and not result.ok
    assert (result.alias_version, dict(result.weights)) == ("1", {})
    assert result.message is not None and "alarm a went to ALARM" in result.message
    assert "the alias changed during the watch" in result.message


def test_a_failed_last_read_is_retried_before_promoting() -> None:
    clock = FakeClock()

    class Flaky(FakeCloudWatch):
        def describe_alarms(self, **kwargs: Any) -> dict[str, Any]:
            if 10 <= clock.t < 11:  # the reads at the end of the watch fail once or twice
                raise ConnectionError("blip")
            return super().describe_alarms(**kwargs)

    out = canary.watch(
        Flaky({"a": "OK"}, clock=clock), canary.CanaryPlan(10, 10.0, ("a",)), function="fn", alias="live",
        version="2", hint="h", poll_interval=0.5, clock=clock.clock(),
    )  # fmt: skip
    assert out.ok and clock.t == 11.0  # read again after the blip, then done


def test_an_alarm_reason_with_brackets_is_printed_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FakeClock()

    class Reasoned(FakeCloudWatch):
        def describe_alarms(self, **kwargs: Any) -> dict[str, Any]:
            reason = "Threshold Crossed: 1 datapoint [5.0 (01/12/26 08:00:00)] was >= [b]1.0[/b]"
            return {"MetricAlarms": [{"AlarmName": "a", "StateValue": "ALARM", "StateReason": reason}]}

    Harness(monkeypatch, Reasoned({}, clock=clock), clock)
    spec = _spec(tmp_path, "{weight: 10, watch: 1m, alarms: [a]}")
    assert main(["deploy", str(spec)]) == 1
    captured = capsys.readouterr()
    reason = "[5.0 (01/12/26 08:00:00)] was >= [b]1.0[/b]"
    assert f"alarm a went to ALARM (Threshold Crossed: 1 datapoint {reason})" in captured.err  # failed: …
    assert captured.err.count(reason) >= 2  # and in the progress line
    assert reason in captured.out  # the action line
