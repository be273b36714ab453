"""The lambda_function module: its pure planning helpers, and the module run against moto's
in-process mock (SQS, SNS and SES triggers)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.shipyard.deploy.plugins.modules import lambda_function as lf


def test_alias_moves_whole_without_canary() -> None:
    assert lf.alias_target({"version": "1", "weights": {}}, "2", 0) == ("2", {})


def test_canary_keeps_the_old_version_and_weights_the_new() -> None:
    assert lf.alias_target({"version": "1", "weights": {}}, "2", 10) == ("1", {"2": 0.1})


def test_first_deploy_with_canary_moves_whole() -> None:
    assert lf.alias_target(None, "1", 10) == ("1", {})


def test_previous_version() -> None:
    assert lf.previous_version(["1", "2", "3"], "3") == "2"
    assert lf.previous_version(["1"], "1") is None


def test_config_changes_names_keys_only() -> None:
    current = {"Runtime": "python3.11", "Handler": "a.b", "Role": "r", "MemorySize": 128, "Timeout": 3,
               "Environment": {"Variables": {"TOKEN": "old"}}}  # fmt: skip
    desired: dict[str, Any] = {"Runtime": "python3.11", "Handler": "a.b", "Role": "r", "MemorySize": 256,
                               "Timeout": 3, "Environment": {"Variables": {"TOKEN": "new"}}}  # fmt: skip
    assert lf.config_changes(current, desired) == ["Environment", "MemorySize"]


def test_permissions_follow_the_triggers() -> None:
    params = {"triggers": {"direct": ["123456789012"], "s3": [{"bucket": "b1"}], "http": ["GET /"],
                           "schedule": ["rate(1 hour)"]}}  # fmt: skip
    perms = lf.desired_permissions(params, "arn:fn:live", "us-east-1", "123456789012", "api1", "svc")
    assert perms["shipyard-direct-123456789012"] == {"Principal": "123456789012"}
    assert perms["shipyard-s3-b1"]["SourceArn"] == "arn:aws:s3:::b1"
    assert perms["shipyard-http-api"]["SourceArn"].endswith(":api1/*")
    rule = lf.rule_name("svc", "rate(1 hour)")
    assert any(p.get("SourceArn", "").endswith("rule/" + rule) for p in perms.values())
    assert lf.desired_permissions({"triggers": {}}, "a", "r", "1", None, "svc") == {}


def test_s3_entries_keep_filters() -> None:
    out = lf.s3_entries("svc", [{"bucket": "b", "prefix": "images/"}], "arn")
    assert out["b"][0]["Id"] == "shipyard-svc-0"
    assert out["b"][0]["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "images/"}]
    assert lf._norm_s3(out["b"]) == lf._norm_s3(
        [dict(out["b"][0], Filter={"Key": {"FilterRules": [{"Name": "Prefix", "Value": "images/"}]}})]
    )


def test_ses_and_sns_permissions_name_their_source() -> None:
    params = {"triggers": {"sns": [{"topic": "arn:aws:sns:us-east-1:123456789012:orders"}],
                           "ses": [{"rule_set": "inbound"}, {"rule_set": "inbound", "rule": "second"}]}}  # fmt: skip
    perms = lf.desired_permissions(params, "arn:fn:live", "us-east-1", "123456789012", None, "svc")
    sources = {p["Principal"]: set() for p in perms.values()}
    for p in perms.values():
        sources[p["Principal"]].add(p["SourceArn"])
    assert sources["sns.amazonaws.com"] == {"arn:aws:sns:us-east-1:123456789012:orders"}
    assert sources["ses.amazonaws.com"] == {
        "arn:aws:ses:us-east-1:123456789012:receipt-rule-set/inbound:receipt-rule/shipyard-svc",
        "arn:aws:ses:us-east-1:123456789012:receipt-rule-set/inbound:receipt-rule/second",
    }
    assert all(len(sid) <= 100 and sid.startswith(("shipyard-sns-", "shipyard-ses-")) for sid in perms)
    arn = lf.ses_rule_arn("us-east-1", "123456789012", "inbound", "r.1")
    assert lf.parse_ses_rule_arn(arn) == ("inbound", "r.1")
    assert lf.parse_ses_rule_arn("arn:aws:sns:us-east-1:1:t") is None


def test_ses_rule_keeps_other_actions_and_puts_the_lambda_last() -> None:
    store = {"S3Action": {"BucketName": "mail"}}
    current = {"Name": "r", "Enabled": True, "TlsPolicy": "Require", "Recipients": ["b@x.com"],
               "Actions": [store, {"LambdaAction": {"FunctionArn": "arn:fn:live", "InvocationType": "Event"}}],
               "ScanEnabled": False}  # fmt: skip
    entry = {"rule_set": "s", "recipients": ["b@x.com"], "invocation": "Event", "enabled": True, "scan": False}
    desired = lf.ses_desired_rule(current, "r", entry, "arn:fn:live")
    assert desired["Actions"][0] == store and desired["TlsPolicy"] == "Require"
    assert lf._norm_rule(desired) == lf._norm_rule(current)
    changed = lf.ses_desired_rule(current, "r", dict(entry, invocation="RequestResponse"), "arn:fn:live")
    assert lf._norm_rule(changed) != lf._norm_rule(current)


def test_mapping_changes_name_only_what_differs() -> None:
    current = {"BatchSize": 10, "MaximumBatchingWindowInSeconds": None, "State": "Enabled"}
    assert lf.mapping_changes(current, {"batch_size": 10, "batching_window": 0, "enabled": True}, 10) == {}
    assert lf.mapping_changes(current, {"batch_size": 50, "batching_window": 5, "enabled": False}, 10) == {
        "BatchSize": 50,
        "MaximumBatchingWindowInSeconds": 5,
        "Enabled": False,
    }


# -- the module end to end against moto's in-process mock -----------------------------------------


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Any]]:
    moto = pytest.importorskip("moto")
    import boto3
    from moto.ses.models import SESBackend
    from moto.ses.responses import EmailResponse

    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    # moto 5 has no DeleteReceiptRule: this stand-in does what AWS documents (the rule goes).
    def delete_rule(self: Any, rule_set_name: str, rule_name: str) -> None:
        rules = self.describe_receipt_rule_set(rule_set_name).rules
        rules[:] = [r for r in rules if r["Name"] != rule_name]

    def delete_rule_response(self: Any) -> Any:
        from moto.core.responses import EmptyResult

        self.backend.delete_receipt_rule(self._get_param("RuleSetName"), self._get_param("RuleName"))
        return EmptyResult()

    monkeypatch.setattr(SESBackend, "delete_receipt_rule", delete_rule, raising=False)
    monkeypatch.setattr(EmailResponse, "delete_receipt_rule", delete_rule_response, raising=False)
    with moto.mock_aws():
        yield lambda service: boto3.client(service, region_name="us-east-1")


def _zip(tmp_path: Path) -> str:
    path = tmp_path / "fn.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return event\n")
    return str(path)


def _run(capsys: pytest.CaptureFixture[str], check: bool = False, **args: Any) -> dict[str, Any]:
    payload = dict(args, _ansible_check_mode=check, _ansible_diff=False, region="us-east-1")
    with patch_module_args(payload), pytest.raises(SystemExit):
        lf.main()
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert not out.get("failed"), out.get("msg")
    return out


def _policy(lam: Any) -> dict[str, dict[str, Any]]:
    try:
        doc = json.loads(lam.get_policy(FunctionName="svc", Qualifier="live")["Policy"])
    except lam.exceptions.ResourceNotFoundException:
        return {}
    return {s["Sid"]: s for s in doc["Statement"]}


def test_sqs_sns_and_ses_triggers_are_created_updated_and_removed(
    moto_aws: Callable[[str], Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lam, sqs, sns, ses = moto_aws("lambda"), moto_aws("sqs"), moto_aws("sns"), moto_aws("ses")
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name="orders")["TopicArn"]
    triggers: dict[str, Any] = {
        "sqs": [{"arn": queue, "batch_size": 20, "batching_window": 5, "enabled": True}],
        "sns": [{"topic": topic}],
        "ses": [{"rule_set": "inbound", "recipients": ["orders@example.com"], "invocation": "Event",
                 "enabled": True, "scan": False, "activate": False}],
    }  # fmt: skip
    base = {"name": "svc", "zip_file": _zip(tmp_path), "handler": "app.handler"}

    planned = _run(capsys, check=True, **base, triggers=triggers)
    assert planned["changed"] and all(a.startswith("would ") for a in planned["actions"])
    first = _run(capsys, **base, triggers=triggers)
    alias = first["function_arn"] + ":live"
    (mapping,) = lam.list_event_source_mappings(FunctionName=alias)["EventSourceMappings"]
    assert (mapping["EventSourceArn"], mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"]) == (
        queue, 20, 5)  # fmt: skip
    (sub,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert (sub["Protocol"], sub["Endpoint"]) == ("lambda", alias)
    rule = ses.describe_receipt_rule(RuleSetName="inbound", RuleName="shipyard-svc")["Rule"]
    assert rule["Recipients"] == ["orders@example.com"]
    assert rule["Actions"] == [{"LambdaAction": {"FunctionArn": alias, "InvocationType": "Event"}}]
    assert "Metadata" not in ses.describe_active_receipt_rule_set()  # not activated unless asked
    perms = _policy(lam)
    principals = sorted(s["Principal"]["Service"] for s in perms.values())
    assert principals == ["ses.amazonaws.com", "sns.amazonaws.com"]
    assert {s["Condition"]["ArnLike"]["AWS:SourceArn"] for s in perms.values()} == {
        topic, "arn:aws:ses:us-east-1:123456789012:receipt-rule-set/inbound:receipt-rule/shipyard-svc"}  # fmt: skip
    assert first["triggers"]["receipt_rules"] == ["inbound/shipyard-svc"]

    again = _run(capsys, **base, triggers=triggers)
    assert (again["changed"], again["actions"]) == (False, [])

    triggers["sqs"][0].update(batch_size=5, batching_window=0, enabled=False)
    triggers["ses"][0].update(recipients=["orders@example.com", "example.org"], activate=True)
    changed = _run(capsys, **base, triggers=triggers)
    assert any(a.startswith("update queue mapping") for a in changed["actions"])
    (updated,) = lam.list_event_source_mappings(FunctionName=alias)["EventSourceMappings"]
    assert (updated["UUID"], updated["BatchSize"], updated["State"]) == (mapping["UUID"], 5, "Disabled")
    rule = ses.describe_receipt_rule(RuleSetName="inbound", RuleName="shipyard-svc")["Rule"]
    assert sorted(rule["Recipients"]) == ["example.org", "orders@example.com"]
    assert ses.describe_active_receipt_rule_set()["Metadata"]["Name"] == "inbound"
    assert _run(capsys, **base, triggers=triggers)["changed"] is False

    gone = _run(capsys, **base, triggers={})
    assert "delete SES rule inbound/shipyard-svc" in gone["actions"]
    assert lam.list_event_source_mappings(FunctionName=alias)["EventSourceMappings"] == []
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    assert ses.describe_receipt_rule_set(RuleSetName="inbound")["Rules"] == []  # the set stays
    assert _policy(lam) == {}
    assert _run(capsys, **base, triggers={})["changed"] is False


def test_a_dropped_ses_rule_keeps_the_actions_of_others(
    moto_aws: Callable[[str], Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ses, s3 = moto_aws("ses"), moto_aws("s3")
    s3.create_bucket(Bucket="mail-store")
    base = {"name": "svc", "zip_file": _zip(tmp_path), "handler": "app.handler"}
    triggers = {"ses": [{"rule_set": "inbound", "rule": "orders"}]}
    alias = _run(capsys, **base, triggers=triggers)["function_arn"] + ":live"
    rule = ses.describe_receipt_rule(RuleSetName="inbound", RuleName="orders")["Rule"]
    store = {"S3Action": {"BucketName": "mail-store"}}
    ses.update_receipt_rule(RuleSetName="inbound", Rule=dict(rule, Actions=[store] + rule["Actions"]))
    assert _run(capsys, **base, triggers=triggers)["changed"] is False  # the other action is kept
    dropped = _run(capsys, **base, triggers={})
    assert "remove the Lambda action of SES rule inbound/orders" in dropped["actions"]
    rule = ses.describe_receipt_rule(RuleSetName="inbound", RuleName="orders")["Rule"]
    assert rule["Actions"] == [store] and alias not in json.dumps(rule)


def test_a_missing_sns_topic_fails_naming_it(
    moto_aws: Callable[[str], Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = "arn:aws:sns:us-east-1:123456789012:nothere"
    payload = {"name": "svc", "zip_file": _zip(tmp_path), "handler": "app.handler", "region": "us-east-1",
               "triggers": {"sns": [{"topic": topic}]}}  # fmt: skip
    with patch_module_args(payload), pytest.raises(SystemExit):
        lf.main()
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] and topic in out["msg"] and "does not exist" in out["msg"]


def test_the_created_role_may_read_its_queues_and_streams_only(
    moto_aws: Callable[[str], Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    iam, sqs = moto_aws("iam"), moto_aws("sqs")
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    base = {"name": "svc", "zip_file": _zip(tmp_path), "handler": "app.handler"}
    first = _run(capsys, **base, triggers={"sqs": [{"arn": queue}]})
    assert "put role policy shipyard-event-sources" in first["actions"]
    doc = iam.get_role_policy(RoleName="shipyard-svc-lambda", PolicyName="shipyard-event-sources")["PolicyDocument"]
    (stmt,) = doc["Statement"]
    assert stmt["Resource"] == [queue] and "sqs:ReceiveMessage" in stmt["Action"]
    assert _run(capsys, **base, triggers={"sqs": [{"arn": queue}]})["changed"] is False
    gone = _run(capsys, **base, triggers={})
    assert "delete role policy shipyard-event-sources" in gone["actions"]
    assert iam.list_role_policies(RoleName="shipyard-svc-lambda")["PolicyNames"] == []
    assert _run(capsys, **base, triggers={})["changed"] is False
    assert lf.source_policy([], []) is None
