"""The lambda strategy against the lab's moto server: deploy, no-op redeploy, canary, triggers.

Every test uses its own function and bucket names, so the shared moto server can hold other
sessions' resources too.
"""

from __future__ import annotations

import json
import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest

from _root import ROOT
from shipyard import api
from shipyard.cli import main
from shipyard.core.spec import load_spec
from shipyard.strategies.lambda_ import package as lambda_pkg
from shipyard.strategies.lambda_.deploy import LambdaResult
from shipyard.strategies.lambda_.invoke import sample_event

pytestmark = pytest.mark.lab


def _service(tmp_path: Path, name: str, bucket: str, *, triggers: bool = True) -> Path:
    shutil.copytree(ROOT / "services" / "imageupload", tmp_path / "code", dirs_exist_ok=True)
    trig = (
        "  triggers:\n"
        "    direct: ['123456789012']\n"
        f"    s3: [{{bucket: {bucket}, prefix: images/}}]\n"
        "    http: [POST /images]\n"
        "    schedule: [rate(1 hour)]\n"
        if triggers
        else ""
    )
    spec = tmp_path / f"{name}.yml"
    spec.write_text(
        f"name: {name}\nversion: 1.0.0\nstrategy: lambda\nenv: {{IMAGES_TABLE: t, IMAGES_STREAM: s}}\n"
        f"lambda:\n  source: code\n  handler: app.handler\n  memory: 256\n  timeout: 20\n{trig}"
    )
    return spec


def _deploy(spec: Path, endpoint: str, **kwargs: Any) -> LambdaResult:
    result = api.deploy(spec, endpoint_url=endpoint, **kwargs)
    assert isinstance(result, LambdaResult)
    assert result.ok, result.message
    return result


def _versions(lam: Any, name: str) -> list[str]:
    return [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]


def _sids(lam: Any, name: str) -> set[str]:
    try:
        policy = lam.get_policy(FunctionName=name, Qualifier="live")["Policy"]
    except lam.exceptions.ResourceNotFoundException:
        return set()
    return {s["Sid"] for s in json.loads(policy)["Statement"]}


def test_deploy_redeploy_canary_rollback_and_trigger_removal(
    tmp_path: Path, aws: Any, aws_endpoint: str
) -> None:
    name, bucket = f"lt-{uuid.uuid4().hex[:6]}", f"lt-{uuid.uuid4().hex[:8]}"
    lam, s3, events, gw = aws("lambda"), aws("s3"), aws("events"), aws("apigatewayv2")
    s3.create_bucket(Bucket=bucket)
    spec = _service(tmp_path, name, bucket)

    check = _deploy(spec, aws_endpoint, check=True)
    assert check.changed and all(a.startswith("would ") for a in check.actions)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=name)

    first = _deploy(spec, aws_endpoint)
    assert first.changed and first.code_uploaded and first.published == "1"
    fn = lam.get_function(FunctionName=name)["Configuration"]
    assert fn["CodeSha256"] == first.package.code_sha256 if first.package else False
    assert (fn["Runtime"], fn["Handler"], fn["MemorySize"], fn["Timeout"]) == (
        "python3.11",
        "app.handler",
        256,
        20,
    )
    assert _versions(lam, name) == ["$LATEST", "1"]
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"
    alias_arn = fn["FunctionArn"] + ":live"
    (api_doc,) = [a for a in gw.get_apis()["Items"] if a["Name"] == f"shipyard-{name}"]
    routes = gw.get_routes(ApiId=api_doc["ApiId"])["Items"]
    assert [r["RouteKey"] for r in routes] == ["POST /images"]
    (integ,) = gw.get_integrations(ApiId=api_doc["ApiId"])["Items"]
    assert integ["IntegrationUri"] == alias_arn
    (rule,) = events.list_rules(NamePrefix=f"shipyard-{name}-")["Rules"]
    assert rule["ScheduleExpression"] == "rate(1 hour)"
    assert events.list_targets_by_rule(Rule=rule["Name"])["Targets"][0]["Arn"] == alias_arn
    (notif,) = s3.get_bucket_notification_configuration(Bucket=bucket)["LambdaFunctionConfigurations"]
    assert notif["LambdaFunctionArn"] == alias_arn
    assert _sids(lam, name) == {
        "shipyard-direct-123456789012",
        f"shipyard-s3-{bucket}",
        "shipyard-http-api",
        f"shipyard-schedule-{rule['Name'].rsplit('-', 1)[1]}",
    }

    again = _deploy(spec, aws_endpoint)
    assert (again.changed, again.code_uploaded, again.published, again.actions) == (False, False, None, ())
    assert _versions(lam, name) == ["$LATEST", "1"]

    with (tmp_path / "code" / "app.py").open("a") as fh:
        fh.write("\n# v2\n")
    canary = _deploy(spec, aws_endpoint, canary=10)
    assert canary.code_uploaded and canary.published == "2"
    alias = lam.get_alias(FunctionName=name, Name="live")
    assert alias["FunctionVersion"] == "1"
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.1}
    assert not _deploy(spec, aws_endpoint, canary=10).changed

    promoted = api.promote(spec, endpoint_url=aws_endpoint)
    assert promoted.ok and promoted.alias_version == "2"
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "2"
    assert main(["rollback", str(spec), "--endpoint-url", aws_endpoint, "--quiet"]) == 0
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"
    assert _versions(lam, name) == ["$LATEST", "1", "2"]

    spec.write_text(
        spec.read_text()
        .replace("    http: [POST /images]\n", "")
        .replace("    schedule: [rate(1 hour)]\n", "")
    )
    trimmed = _deploy(spec, aws_endpoint)
    assert any("delete HTTP API" in a for a in trimmed.actions)
    assert not [a for a in gw.get_apis()["Items"] if a["Name"] == f"shipyard-{name}"]
    assert events.list_rules(NamePrefix=f"shipyard-{name}-")["Rules"] == []
    assert _sids(lam, name) == {"shipyard-direct-123456789012", f"shipyard-s3-{bucket}"}

    spec.write_text(spec.read_text().split("  triggers:")[0])
    _deploy(spec, aws_endpoint)
    assert not s3.get_bucket_notification_configuration(Bucket=bucket).get("LambdaFunctionConfigurations")
    assert _sids(lam, name) == set()
    assert not _deploy(spec, aws_endpoint).changed


def test_the_article_example_end_to_end(tmp_path: Path, aws: Any, aws_endpoint: str) -> None:
    suffix = uuid.uuid4().hex[:6]
    bucket, table, stream = f"img-{suffix}", f"images-{suffix}", f"images-{suffix}"
    s3, ddb, kinesis = aws("s3"), aws("dynamodb"), aws("kinesis")
    s3.create_bucket(Bucket=bucket)
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    src = (ROOT / "services" / "imageupload.yml").read_text()
    shutil.copytree(ROOT / "services" / "imageupload", tmp_path / "imageupload")
    spec = tmp_path / "imageupload.yml"
    spec.write_text(src.replace("IMAGES_TABLE: images", f"IMAGES_TABLE: {table}").replace(
        "IMAGES_STREAM: images", f"IMAGES_STREAM: {stream}"))  # fmt: skip
    s3.put_object(Bucket=bucket, Key="images/cat.png", Body=b"\x89PNG fake")
    event = sample_event("s3", load_spec(spec))
    event["Records"][0]["s3"]["bucket"]["name"] = bucket
    event["Records"][0]["s3"]["object"].update(key="images/cat.png", size=9)

    result = api.invoke(spec, event=event, endpoint_url=aws_endpoint, out_dir=tmp_path / "zip")
    assert result.ok, result.logs
    assert result.result["recorded"] == [f"{bucket}/images/cat.png"]
    assert "recorded" in result.logs
    item = ddb.get_item(TableName=table, Key={"id": {"S": f"{bucket}/images/cat.png"}})["Item"]
    assert item["size"] == {"N": "9"}
    shard = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    (record,) = kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert json.loads(record["Data"])["key"] == "images/cat.png"


@pytest.mark.parametrize("case", ["oversize", "handler"])
def test_bad_input_is_refused_before_any_upload(
    tmp_path: Path, aws: Any, aws_endpoint: str, monkeypatch: pytest.MonkeyPatch, case: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    name = f"lt-{uuid.uuid4().hex[:6]}"
    spec = _service(tmp_path, name, "unused", triggers=False)
    if case == "oversize":
        monkeypatch.setattr(lambda_pkg, "MAX_ZIPPED", 100)
        field = "lambda.source"
    else:
        spec.write_text(spec.read_text().replace("app.handler", "app.nothere"))
        field = "lambda.handler"
    assert main(["deploy", str(spec), "--endpoint-url", aws_endpoint, "--quiet"]) == 2
    assert field in capsys.readouterr().err
    with pytest.raises(aws("lambda").exceptions.ResourceNotFoundException):
        aws("lambda").get_function(FunctionName=name)


def test_requirements_are_vendored_for_lambda_and_cached(tmp_path: Path, aws: Any) -> None:
    spec = _service(tmp_path, "vendored", "unused", triggers=False)
    (tmp_path / "code" / "requirements.txt").write_text("six==1.16.0\n")
    spec.write_text(spec.read_text() + "  requirements: code/requirements.txt\n")
    loaded = load_spec(spec)
    first = lambda_pkg.package(loaded, out_dir=tmp_path / "a", cache_dir=tmp_path / "cache")
    second = lambda_pkg.package(loaded, out_dir=tmp_path / "b", cache_dir=tmp_path / "cache")
    assert (first.deps_cached, second.deps_cached) == (False, True)
    assert first.sha256 == second.sha256
    with zipfile.ZipFile(first.path) as zf:
        assert "six.py" in zf.namelist()


def test_stream_triggers_are_mapped_and_unmapped(tmp_path: Path, aws: Any, aws_endpoint: str) -> None:
    """Kinesis and DynamoDB stream event source mappings follow the spec, both ways."""
    suffix = uuid.uuid4().hex[:8]
    name = f"streams-{suffix}"
    kinesis, dynamodb, lam = aws("kinesis"), aws("dynamodb"), aws("lambda")
    kinesis.create_stream(StreamName=f"k-{suffix}", ShardCount=1)
    k_arn = kinesis.describe_stream(StreamName=f"k-{suffix}")["StreamDescription"]["StreamARN"]
    table = dynamodb.create_table(
        TableName=f"t-{suffix}",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    d_arn = table["TableDescription"]["LatestStreamArn"]
    spec = _service(tmp_path, name, f"b-{suffix}", triggers=False)

    def with_streams(arns: list[str]) -> None:
        text = spec.read_text().split("  triggers:")[0]
        lines = "".join(
            f"      - {{arn: '{a}', starting_position: TRIM_HORIZON, batch_size: 10}}\n" for a in arns
        )
        spec.write_text(text + ("  triggers:\n    streams:\n" + lines if arns else ""))

    def mapped() -> dict[str, int]:
        alias = lam.get_alias(FunctionName=name, Name="live")["AliasArn"]
        maps = lam.list_event_source_mappings(FunctionName=alias)["EventSourceMappings"]
        return {m["EventSourceArn"]: m["BatchSize"] for m in maps}

    with_streams([k_arn, d_arn])
    _deploy(spec, aws_endpoint)
    assert mapped() == {k_arn: 10, d_arn: 10}
    assert _deploy(spec, aws_endpoint).changed is False
    with_streams([d_arn])
    _deploy(spec, aws_endpoint)
    assert mapped() == {d_arn: 10}
    with_streams([])
    _deploy(spec, aws_endpoint)
    assert mapped() == {}


def _policy(lam: Any, name: str) -> dict[str, tuple[str, str | None]]:
    """Statement id -> (principal, source ARN) of the alias's resource policy."""
    try:
        policy = lam.get_policy(FunctionName=name, Qualifier="live")["Policy"]
    except lam.exceptions.ResourceNotFoundException:
        return {}
    out = {}
    for stmt in json.loads(policy)["Statement"]:
        principal = stmt["Principal"]
        principal = (
            principal.get("Service") or principal.get("AWS") if isinstance(principal, dict) else principal
        )
        if principal.startswith("arn:aws:iam::") and principal.endswith(":root"):
            principal = principal.split(":")[4]
        source = ((stmt.get("Condition") or {}).get("ArnLike") or {}).get("AWS:SourceArn")
        out[stmt["Sid"]] = (principal, source)
    return out


def test_sqs_sns_and_ses_triggers_appear_change_and_go_with_their_permissions(
    tmp_path: Path, aws: Any, aws_endpoint: str
) -> None:
    """Every trigger kind on one function (the existing ones too): each appears with its
    permission as the spec says, a rerun changes nothing, a change is made in place, a trigger
    dropped from the spec is removed."""
    suffix = uuid.uuid4().hex[:8]
    name, bucket, rule_set = f"ev-{suffix}", f"ev-{suffix}", f"lt-{suffix}"
    lam, s3, sqs, sns, ses, kinesis = (aws(s) for s in ("lambda", "s3", "sqs", "sns", "ses", "kinesis"))
    s3.create_bucket(Bucket=bucket)
    url = sqs.create_queue(QueueName=f"q-{suffix}")["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name=f"t-{suffix}")["TopicArn"]
    kinesis.create_stream(StreamName=f"k-{suffix}", ShardCount=1)
    stream = kinesis.describe_stream(StreamName=f"k-{suffix}")["StreamDescription"]["StreamARN"]
    spec = _service(tmp_path, name, bucket, triggers=False)
    base = spec.read_text()

    def with_triggers(sqs_line: str | None, events: bool = True) -> None:
        lines = ["  triggers:", "    direct: ['123456789012']", f"    s3: [{{bucket: {bucket}, prefix: in/}}]",
                 f"    streams: [{{arn: '{stream}', batch_size: 50}}]", "    http: [POST /orders]",
                 "    schedule: [rate(1 hour)]"]  # fmt: skip
        if events:
            lines += [
                f"    sqs: [{sqs_line}]" if sqs_line else "",
                f"    sns: [{{topic: '{topic}'}}]",
                f"    ses: [{{rule_set: {rule_set}, recipients: [orders@example.com, example.org]}}]",
            ]
        spec.write_text(base + "\n".join(line for line in lines if line) + "\n")

    with_triggers(f"{{arn: '{queue}', batch_size: 20, batching_window: 5}}")
    first = _deploy(spec, aws_endpoint)
    alias = lam.get_alias(FunctionName=name, Name="live")["AliasArn"]
    maps = {
        m["EventSourceArn"]: m
        for m in lam.list_event_source_mappings(FunctionName=alias)["EventSourceMappings"]
    }
    assert set(maps) == {queue, stream}
    assert (maps[queue]["BatchSize"], maps[queue]["MaximumBatchingWindowInSeconds"], maps[queue]["State"]) == (
        20, 5, "Enabled")  # fmt: skip
    assert maps[stream]["BatchSize"] == 50
    subs = [
        s
        for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        if s["Protocol"] == "lambda"
    ]
    assert [s["Endpoint"] for s in subs] == [alias]
    rule = ses.describe_receipt_rule(RuleSetName=rule_set, RuleName=f"shipyard-{name}")["Rule"]
    assert sorted(rule["Recipients"]) == ["example.org", "orders@example.com"] and rule["Enabled"] is True
    assert rule["Actions"] == [{"LambdaAction": {"FunctionArn": alias, "InvocationType": "Event"}}]
    active = ses.describe_active_receipt_rule_set().get("Metadata") or {}
    assert active.get("Name") != rule_set  # not activated unless the spec says activate: true
    rule_arn = f"arn:aws:ses:us-east-1:123456789012:receipt-rule-set/{rule_set}:receipt-rule/shipyard-{name}"
    perms = _policy(lam, name)
    assert {(p, s) for p, s in perms.values()} >= {
        ("sns.amazonaws.com", topic), ("ses.amazonaws.com", rule_arn), ("s3.amazonaws.com", f"arn:aws:s3:::{bucket}")}  # fmt: skip
    assert sorted(p for p, _ in perms.values()) == sorted(
        ["123456789012", "s3.amazonaws.com", "apigateway.amazonaws.com", "events.amazonaws.com",
         "sns.amazonaws.com", "ses.amazonaws.com"])  # fmt: skip
    assert first.triggers["receipt_rules"] == [f"{rule_set}/shipyard-{name}"]

    again = _deploy(spec, aws_endpoint)
    assert (again.changed, again.actions) == (False, ())

    with_triggers(f"{{arn: '{queue}', batch_size: 5, enabled: false}}")
    changed = _deploy(spec, aws_endpoint)
    assert [a for a in changed.actions if "mapping" in a] == [
        f"update queue mapping {queue} (BatchSize, Enabled, MaximumBatchingWindowInSeconds)"]  # fmt: skip
    (updated,) = [m for m in lam.list_event_source_mappings(FunctionName=alias)["EventSourceMappings"]
                  if m["EventSourceArn"] == queue]  # fmt: skip
    assert (updated["UUID"], updated["BatchSize"], updated["State"]) == (maps[queue]["UUID"], 5, "Disabled")
    assert not _deploy(spec, aws_endpoint).changed

    # moto has no DeleteReceiptRule: give the rule a second action (as a rule that also stores
    # the mail would have), so dropping the trigger takes the update path: the Lambda action goes,
    # the other stays. (The delete path runs in the module's unit test.)
    store = {"S3Action": {"BucketName": bucket, "ObjectKeyPrefix": "mail/"}}
    ses.update_receipt_rule(RuleSetName=rule_set, Rule=dict(rule, Actions=[store] + rule["Actions"]))
    assert not _deploy(spec, aws_endpoint).changed  # the other action is not ours to touch
    with_triggers(None, events=False)
    dropped = _deploy(spec, aws_endpoint)
    assert f"remove the Lambda action of SES rule {rule_set}/shipyard-{name}" in dropped.actions
    remaining = lam.list_event_source_mappings(FunctionName=alias)["EventSourceMappings"]
    assert [m["EventSourceArn"] for m in remaining] == [stream]
    assert [
        s
        for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        if s["Protocol"] == "lambda"
    ] == []
    rule = ses.describe_receipt_rule(RuleSetName=rule_set, RuleName=f"shipyard-{name}")["Rule"]
    assert rule["Actions"] == [store]
    assert sorted(p for p, _ in _policy(lam, name).values()) == sorted(
        ["123456789012", "s3.amazonaws.com", "apigateway.amazonaws.com", "events.amazonaws.com"])  # fmt: skip
    assert s3.get_bucket_notification_configuration(Bucket=bucket)["LambdaFunctionConfigurations"][0][
        "LambdaFunctionArn"] == alias  # fmt: skip
    assert not _deploy(spec, aws_endpoint).changed


def test_a_bad_trigger_is_refused_before_any_aws_call(
    tmp_path: Path, aws: Any, aws_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"lt-{uuid.uuid4().hex[:6]}"
    spec = _service(tmp_path, name, "unused", triggers=False)
    spec.write_text(
        spec.read_text()
        + "  triggers:\n    sqs: [{arn: 'arn:aws:sqs:us-east-1:123456789012:q', batch_size: 100}]\n"
    )
    assert main(["deploy", str(spec), "--endpoint-url", aws_endpoint, "--quiet"]) == 2
    assert "lambda.triggers.sqs[0].batching_window" in capsys.readouterr().err
    with pytest.raises(aws("lambda").exceptions.ResourceNotFoundException):
        aws("lambda").get_function(FunctionName=name)
