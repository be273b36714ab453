"""Typed Lambda triggers: every field refuses a bad value, naming the field with its index, exit 2,
before anything is packaged or any AWS call; good values of every kind reach the module typed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from _root import ROOT
from shipyard.cli import main
from shipyard.core.spec import json_schema, load_spec
from shipyard.strategies.lambda_ import deploy as lambda_deploy
from shipyard.strategies.lambda_ import invoke as lambda_invoke

ACCOUNT = "123456789012"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:orders"
KINESIS = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/orders"
DDB = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders/stream/2026-01-01T00:00:00.000"
GOOD: dict[str, Any] = {
    "direct": [ACCOUNT, "events.amazonaws.com", f"arn:aws:iam::{ACCOUNT}:role/caller"],
    "s3": [
        {"bucket": "orders-in", "events": ["s3:ObjectCreated:*"], "prefix": "in/"},
        {
            "bucket": "orders.archive",
            "events": ["s3:ObjectRemoved:Delete", "s3:ObjectRestore:Completed"],
            "suffix": ".json",
        },
    ],
    "streams": [
        {"arn": KINESIS, "starting_position": "TRIM_HORIZON", "batch_size": 500},
        {"arn": DDB, "batching_window": 300, "enabled": False},
    ],
    "sqs": [
        {"arn": QUEUE, "batch_size": 10000, "batching_window": 1},
        {"arn": QUEUE + ".fifo", "batch_size": 10},
    ],
    "sns": [{"topic": TOPIC}],
    "ses": [
        {
            "rule_set": "inbound",
            "recipients": ["orders@example.com", "example.org", ".example.net"],
            "invocation": "RequestResponse",
            "scan": True,
            "activate": True,
        },
        {"rule_set": "inbound", "rule": "second.rule_2"},
    ],
    "http": ["POST /orders", "GET /orders/{id}"],
    "schedule": ["rate(5 minutes)", "cron(0 12 * * ? *)"],
}


def _spec(tmp_path: Path, triggers: Any) -> Path:
    (tmp_path / "fn").mkdir(exist_ok=True)
    (tmp_path / "fn" / "app.py").write_text("def handler(event, context):\n    return event\n")
    spec = tmp_path / "fn.yml"
    spec.write_text(
        "name: fn\nversion: 1.0.0\nstrategy: lambda\n"
        f"lambda:\n  source: fn\n  handler: app.handler\n  triggers: {json.dumps(triggers)}\n"
    )
    return spec


def _with(kind: str, index: int, key: str | None, value: Any, *, drop: bool = False) -> dict[str, Any]:
    trig = json.loads(json.dumps(GOOD))
    entries = trig[kind]
    while len(entries) <= index:
        entries.append(json.loads(json.dumps(entries[0])))
    if key is None:
        entries[index] = value
    elif drop:
        del entries[index][key]
    else:
        entries[index][key] = value
    return trig


# (kind, index, key, bad value, the field named): one row per field and rule
BAD = [
    ("s3", 1, "bucket", "Orders", "lambda.triggers.s3[1].bucket"),
    ("s3", 1, "bucket", "ab", "lambda.triggers.s3[1].bucket"),
    ("s3", 0, "bucket", "a" * 64, "lambda.triggers.s3[0].bucket"),
    ("s3", 1, "bucket", "orders..in", "lambda.triggers.s3[1].bucket"),
    ("s3", 1, "bucket", "192.168.0.1", "lambda.triggers.s3[1].bucket"),
    ("s3", 1, "bucket", "-orders", "lambda.triggers.s3[1].bucket"),
    ("s3", 1, "bucket", "orders_in", "lambda.triggers.s3[1].bucket"),
    ("s3", 1, "bucket", 42, "lambda.triggers.s3[1].bucket"),
    (
        "s3",
        1,
        "events",
        ["s3:ObjectRemoved:Delete", "s3:ObjectCreated:Upload"],
        "lambda.triggers.s3[1].events[1]",
    ),
    ("s3", 1, "events", [], "lambda.triggers.s3[1].events"),
    ("s3", 1, "events", ["s3:ObjectCreated:*", "s3:ObjectCreated:*"], "lambda.triggers.s3[1].events"),
    ("s3", 1, "events", "s3:ObjectCreated:*", "lambda.triggers.s3[1].events"),
    ("s3", 1, "prefix", "", "lambda.triggers.s3[1].prefix"),
    ("s3", 1, "prefix", "p" * 1025, "lambda.triggers.s3[1].prefix"),
    ("s3", 1, "suffix", 5, "lambda.triggers.s3[1].suffix"),
    ("s3", 1, "prefx", "in/", "lambda.triggers.s3[1].prefx"),
    ("s3", 1, None, "orders-in", "lambda.triggers.s3[1]"),
    ("streams", 1, "arn", "arn:aws:kinesis:us-east-1:123:stream/x", "lambda.triggers.streams[1].arn"),
    ("streams", 1, "arn", QUEUE, "lambda.triggers.streams[1].arn"),
    ("streams", 1, "arn", KINESIS + "\\nx", "lambda.triggers.streams[1].arn"),
    ("streams", 1, "arn", KINESIS, "lambda.triggers.streams[1].arn"),  # the same stream twice
    ("streams", 1, "starting_position", "AT_TIMESTAMP", "lambda.triggers.streams[1].starting_position"),
    ("streams", 1, "batch_size", 0, "lambda.triggers.streams[1].batch_size"),
    ("streams", 1, "batch_size", 10001, "lambda.triggers.streams[1].batch_size"),
    ("streams", 1, "batch_size", "100", "lambda.triggers.streams[1].batch_size"),
    ("streams", 1, "batching_window", 301, "lambda.triggers.streams[1].batching_window"),
    ("streams", 1, "batching_window", -1, "lambda.triggers.streams[1].batching_window"),
    ("streams", 1, "enabled", "yes", "lambda.triggers.streams[1].enabled"),
    ("streams", 1, "arn", None, "lambda.triggers.streams[1].arn"),
    ("streams", 1, "arn", "", "lambda.triggers.streams[1].arn"),
    ("sqs", 1, "arn", TOPIC.replace("sns", "sqs") + "!", "lambda.triggers.sqs[1].arn"),
    ("sqs", 1, "arn", f"arn:aws:sqs:us-east-1:{ACCOUNT}:" + "q" * 81, "lambda.triggers.sqs[1].arn"),
    ("sqs", 1, "arn", QUEUE, "lambda.triggers.sqs[1].arn"),  # the same queue twice
    ("sqs", 1, "batch_size", 11, "lambda.triggers.sqs[1].batch_size"),  # a FIFO queue
    ("sqs", 0, "batch_size", 10001, "lambda.triggers.sqs[0].batch_size"),
    ("sqs", 0, "batch_size", 0, "lambda.triggers.sqs[0].batch_size"),
    ("sqs", 0, "batching_window", 0, "lambda.triggers.sqs[0].batching_window"),  # above 10 needs one
    ("sqs", 1, "batching_window", 301, "lambda.triggers.sqs[1].batching_window"),
    ("sqs", 1, "batching_window", 1.5, "lambda.triggers.sqs[1].batching_window"),
    ("sqs", 1, "enabled", 1, "lambda.triggers.sqs[1].enabled"),
    ("sqs", 1, "queue", QUEUE, "lambda.triggers.sqs[1].queue"),
    ("sns", 1, "topic", TOPIC + ".fifo", "lambda.triggers.sns[1].topic"),
    ("sns", 1, "topic", QUEUE, "lambda.triggers.sns[1].topic"),
    ("sns", 1, "topic", TOPIC, "lambda.triggers.sns[1].topic"),  # the same topic twice
    ("sns", 1, "topic", f"arn:aws:sns:us-east-1:{ACCOUNT}:a b", "lambda.triggers.sns[1].topic"),
    ("sns", 0, "topic", None, "lambda.triggers.sns[0].topic"),
    ("ses", 1, "rule_set", "-inbound", "lambda.triggers.ses[1].rule_set"),
    ("ses", 1, "rule_set", "r" * 65, "lambda.triggers.ses[1].rule_set"),
    ("ses", 1, "rule_set", "in bound", "lambda.triggers.ses[1].rule_set"),
    ("ses", 0, "rule_set", None, "lambda.triggers.ses[0].rule_set"),
    ("ses", 1, "rule", "second.", "lambda.triggers.ses[1].rule"),
    ("ses", 1, "rule", "second/rule", "lambda.triggers.ses[1].rule"),
    ("ses", 1, "rule", None, "lambda.triggers.ses[1].rule"),  # shipyard-fn twice in one rule set
    (
        "ses",
        1,
        "recipients",
        ["orders@example.com", "not an address"],
        "lambda.triggers.ses[1].recipients[1]",
    ),
    ("ses", 1, "recipients", ["@example.com"], "lambda.triggers.ses[1].recipients[0]"),
    ("ses", 1, "recipients", ["orders@localhost"], "lambda.triggers.ses[1].recipients[0]"),
    ("ses", 1, "recipients", ["a@x.com", "A@x.com"], "lambda.triggers.ses[1].recipients"),
    ("ses", 1, "recipients", [f"r{i}@x.com" for i in range(101)], "lambda.triggers.ses[1].recipients"),
    ("ses", 1, "invocation", "Sync", "lambda.triggers.ses[1].invocation"),
    ("ses", 1, "enabled", "true", "lambda.triggers.ses[1].enabled"),
    ("ses", 1, "scan", None, "lambda.triggers.ses[1].scan"),
    ("ses", 1, "activate", 1, "lambda.triggers.ses[1].activate"),
    ("ses", 1, "ruleset", "inbound", "lambda.triggers.ses[1].ruleset"),
    ("http", 1, None, "FETCH /orders", "lambda.triggers.http[1]"),
    ("http", 0, None, "POST orders", "lambda.triggers.http[0]"),
    ("schedule", 1, None, "rate(5 weeks)", "lambda.triggers.schedule[1]"),
    ("schedule", 1, None, "every hour", "lambda.triggers.schedule[1]"),
    ("direct", 2, None, "12345", "lambda.triggers.direct[2]"),
    ("direct", 1, None, "*", "lambda.triggers.direct[1]"),
]


@pytest.mark.parametrize(
    ("kind", "index", "key", "value", "field"), BAD, ids=[f"{r[4]}={r[3]!r}"[:80] for r in BAD]
)
def test_every_trigger_field_refuses_a_bad_value_naming_field_and_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    kind: str, index: int, key: str | None, value: Any, field: str,
) -> None:  # fmt: skip
    drop = value is None and key is not None and key in ("arn", "topic", "rule_set")
    spec = _spec(tmp_path, _with(kind, index, key, value, drop=drop))
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"{field}: " in err, err
    assert len([line for line in err.splitlines() if "is not allowed" in line]) == 1, err

    def no_aws(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("nothing is packaged and no AWS call is made for a bad spec")

    monkeypatch.setattr(lambda_deploy, "package", no_aws)
    monkeypatch.setattr(lambda_deploy, "run_playbook", no_aws)
    assert main(["deploy", str(spec), "--endpoint-url", "http://127.0.0.1:9", "--quiet"]) == 2
    assert f"{field}: " in capsys.readouterr().err


def test_an_unknown_trigger_field_names_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path, _with("s3", 1, "prefx", "in/"))
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "lambda.triggers.s3[1].prefx" in err and "did you mean 'prefix'?" in err


def test_good_triggers_of_every_kind_are_valid_and_reach_the_module_typed(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path, GOOD))
    trig = lambda_deploy.lambda_vars(spec, None, 0)["triggers"]
    assert set(trig) == {"direct", "s3", "streams", "sqs", "sns", "ses", "http", "schedule"}
    assert trig["s3"][0] == {"bucket": "orders-in", "events": ["s3:ObjectCreated:*"], "prefix": "in/"}
    assert trig["streams"][1] == {"arn": DDB, "starting_position": "LATEST", "batch_size": 100,
                                  "batching_window": 300, "enabled": False}  # fmt: skip
    assert trig["sqs"][1] == {"arn": QUEUE + ".fifo", "batch_size": 10, "batching_window": 0, "enabled": True}
    assert trig["sns"] == [{"topic": TOPIC}]
    assert trig["ses"][0]["recipients"] == ["orders@example.com", "example.org", ".example.net"]
    assert "rule" not in trig["ses"][0] and trig["ses"][1]["rule"] == "second.rule_2"
    assert json.loads(json.dumps(trig)) == trig  # plain data for the playbook


def test_the_example_spec_and_the_schema_keep_working() -> None:
    spec = load_spec(ROOT / "services" / "imageupload.yml")
    assert (
        spec.service.lambda_ is not None
        and spec.service.lambda_.triggers.s3[0].bucket == "imageupload-images"
    )
    schema = json.dumps(json_schema())
    for model in ("S3Trigger", "StreamTrigger", "SqsTrigger", "SnsTrigger", "SesTrigger"):
        assert model in schema
    assert "additionalProperties" in schema


@pytest.mark.parametrize("kind", ["ses", "sqs", "sns", "s3", "kinesis", "dynamodb", "http", "schedule"])
def test_cli_prints_a_sample_event_of_every_kind(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invoke", "--sample", kind]) == 0
    event = json.loads(capsys.readouterr().out)
    source = {
        "ses": "aws:ses",
        "sqs": "aws:sqs",
        "s3": "aws:s3",
        "kinesis": "aws:kinesis",
        "dynamodb": "aws:dynamodb",
    }
    if kind in source:
        assert event["Records"][0]["eventSource"] == source[kind]
    if kind == "sns":
        assert (
            event["Records"][0]["EventSource"] == "aws:sns"
            and event["Records"][0]["Sns"]["Type"] == "Notification"
        )
    if kind == "http":
        assert event["version"] == "2.0" and event["requestContext"]["http"]["method"] == "GET"
    if kind == "schedule":
        assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"


def test_samples_are_filled_from_the_spec(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path, GOOD))
    ses = lambda_invoke.sample_event("ses", spec)["Records"][0]["ses"]
    assert ses["mail"]["destination"] == ["orders@example.com"]
    assert ses["receipt"]["action"] == {"type": "Lambda", "invocationType": "RequestResponse",
                                        "functionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn"}  # fmt: skip
    assert lambda_invoke.sample_event("sqs", spec)["Records"][0]["eventSourceARN"] == QUEUE
    assert lambda_invoke.sample_event("sns", spec)["Records"][0]["Sns"]["TopicArn"] == TOPIC
    assert lambda_invoke.sample_event("kinesis", spec)["Records"][0]["eventSourceARN"] == KINESIS
    assert lambda_invoke.sample_event("dynamodb", spec)["Records"][0]["eventSourceARN"] == DDB
    s3 = lambda_invoke.sample_event("s3", spec)["Records"][0]["s3"]
    assert (s3["bucket"]["name"], s3["object"]["key"]) == ("orders-in", "in/cat.png")
    assert lambda_invoke.sample_event("http", spec)["routeKey"] == "POST /orders"
    schedule = lambda_invoke.sample_event("schedule", spec)
    assert schedule["resources"][0].startswith(f"arn:aws:events:us-east-1:{ACCOUNT}:rule/shipyard-fn-")


def test_a_misspelt_s3_event_names_the_one_meant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(tmp_path, _with("s3", 1, "events", ["s3:ObjectCreated:put"]))
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "lambda.triggers.s3[1].events[0]" in err and "did you mean 's3:ObjectCreated:Put'?" in err
