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
        lines = "".join(f"      - {{arn: '{a}', starting_position: TRIM_HORIZON, batch_size: 10}}\n" for a in arns)
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
