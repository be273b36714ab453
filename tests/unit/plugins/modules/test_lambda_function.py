"""The lambda_function module's pure planning helpers."""

from __future__ import annotations

from typing import Any

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
