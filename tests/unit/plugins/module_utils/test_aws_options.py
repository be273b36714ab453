"""The AWS modules' common options (plugins/module_utils/_aws.py): amazon.aws's names, aliases
and environment fallbacks through a real AnsibleModule, their mapping to boto3's session and
client arguments, retries, and paging against a real (in-process) moto server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args
from ansible_collections.shipyard.deploy.plugins.module_utils import _ami
from ansible_collections.shipyard.deploy.plugins.module_utils import _aws as aws_utils

_ENV = (
    "AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN",
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_URL",
    "AWS_CA_BUNDLE", "SHIPYARD_AWS_PAGE_SIZE",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in _ENV:
        monkeypatch.delenv(var, raising=False)


def params(**args: Any) -> dict[str, Any]:
    """The module's params after Ansible's own argument handling (aliases, fallbacks, types)."""
    with patch_module_args(args):
        module = AnsibleModule(argument_spec=aws_utils.aws_argument_spec(), supports_check_mode=True)
    return dict(module.params)


def test_the_option_names_and_aliases_are_amazon_aws_s() -> None:
    spec = aws_utils.aws_argument_spec()
    assert {k: sorted(v.get("aliases", [])) for k, v in spec.items()} == {
        "access_key": ["aws_access_key", "aws_access_key_id"],
        "secret_key": ["aws_secret_access_key", "aws_secret_key"],
        "session_token": ["aws_session_token"],
        "profile": ["aws_profile"],
        "region": ["aws_region"],
        "endpoint_url": ["aws_endpoint_url"],
        "validate_certs": [],
        "aws_ca_bundle": [],
        "aws_config": [],
    }
    assert spec["secret_key"]["no_log"] and spec["session_token"]["no_log"]
    assert spec["validate_certs"] == {"type": "bool", "default": True}


def test_the_doc_fragment_documents_the_spec() -> None:
    import yaml
    from ansible_collections.shipyard.deploy.plugins.doc_fragments.aws import ModuleDocFragment

    doc = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = aws_utils.aws_argument_spec()
    assert set(doc) == set(spec)
    for name, option in spec.items():
        assert doc[name]["type"] == option["type"], name
        assert sorted(doc[name].get("aliases", [])) == sorted(option.get("aliases", [])), name
        assert doc[name].get("default") == option.get("default"), name
        for var in (option.get("fallback") or (None, []))[1]:
            assert f"E({var})" in " ".join(doc[name]["description"]), (name, var)


def test_aliases_reach_the_session_and_the_client() -> None:
    p = params(aws_access_key_id="AKIA1", aws_secret_access_key="s3cr3t", aws_session_token="tok",
               aws_region="eu-west-1", aws_endpoint_url="http://127.0.0.1:5000")  # fmt: skip
    session, client = aws_utils.connection_params(p, environ={})
    assert session == {"region_name": "eu-west-1", "aws_access_key_id": "AKIA1",
                       "aws_secret_access_key": "s3cr3t", "aws_session_token": "tok"}  # fmt: skip
    assert client == {"endpoint_url": "http://127.0.0.1:5000"}
    older = params(aws_access_key="AKIA2", aws_secret_key="x", aws_profile=None)
    assert (older["access_key"], older["secret_key"]) == ("AKIA2", "x")


@pytest.mark.parametrize(
    ("env", "option", "value"),
    [
        ({"AWS_ACCESS_KEY_ID": "a", "AWS_ACCESS_KEY": "b"}, "access_key", "a"),
        ({"AWS_ACCESS_KEY": "b"}, "access_key", "b"),
        ({"AWS_SECRET_ACCESS_KEY": "s", "AWS_SECRET_KEY": "t"}, "secret_key", "s"),
        ({"AWS_SECRET_KEY": "t"}, "secret_key", "t"),
        ({"AWS_SESSION_TOKEN": "tok"}, "session_token", "tok"),
        ({"AWS_PROFILE": "p1", "AWS_DEFAULT_PROFILE": "p2"}, "profile", "p1"),
        ({"AWS_DEFAULT_PROFILE": "p2"}, "profile", "p2"),
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"}, "region", "eu-west-1"),
        ({"AWS_DEFAULT_REGION": "us-west-2"}, "region", "us-west-2"),
        ({"AWS_ENDPOINT_URL": "http://a", "AWS_URL": "http://b"}, "endpoint_url", "http://a"),
        ({"AWS_URL": "http://b"}, "endpoint_url", "http://b"),
        ({"AWS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt"}, "aws_ca_bundle",
         "/etc/ssl/certs/ca-certificates.crt"),
    ],
)  # fmt: skip
def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], option: str, value: str) -> None:
    for key, val in env.items():
        monkeypatch.setenv(key, val)
    assert params()[option] == value
    assert params(**{option: "given"})[option] == "given"  # the option wins over the environment


def test_validate_certs_false_turns_verification_off() -> None:
    _, client = aws_utils.connection_params(params(validate_certs=False, aws_ca_bundle="/nonexistent"), {})
    assert client["verify"] is False
    _, client = aws_utils.connection_params(params(), {})
    assert "verify" not in client  # botocore's default (which reads the profile's ca_bundle)


def test_the_ca_bundle_is_the_clients_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
    _, client = aws_utils.connection_params(params(), {})
    assert client["verify"] == str(bundle)
    with pytest.raises(aws_utils.AwsError, match=r"aws_ca_bundle=.*missing\.pem: no such file"):
        aws_utils.connection_params(params(aws_ca_bundle=str(tmp_path / "missing.pem")), {})


def test_a_profile_and_keys_are_exclusive_unless_the_profile_is_only_the_environments() -> None:
    with pytest.raises(aws_utils.AwsError, match=r"profile=dev and access_key.*mutually exclusive"):
        aws_utils.connection_params(params(profile="dev", access_key="a", secret_key="s"), {})
    session, _ = aws_utils.connection_params(
        params(profile="dev", access_key="a", secret_key="s"), {"AWS_PROFILE": "dev"}
    )
    assert "profile_name" not in session and session["aws_access_key_id"] == "a"
    session, _ = aws_utils.connection_params(params(profile="dev"), {})
    assert session == {"region_name": None, "profile_name": "dev"}
    with pytest.raises(aws_utils.AwsError, match="access_key is set but secret_key is not"):
        aws_utils.connection_params(params(access_key="a"), {})


def test_clients_retry_throttling_and_merge_aws_config() -> None:
    base = aws_utils.client_config()
    assert base.retries == {"mode": "standard", "max_attempts": 10}
    merged = aws_utils.client_config({"retries": {"mode": "adaptive", "max_attempts": 3}, "connect_timeout": 7})
    assert merged.retries == {"mode": "adaptive", "max_attempts": 3} and merged.connect_timeout == 7
    assert aws_utils.client_config({"read_timeout": 9}).retries == base.retries  # kept unless given
    with pytest.raises(aws_utils.AwsError, match=r"aws_config: .*bogus"):
        aws_utils.client_config({"bogus": 1})
    clients = aws_utils.Clients(params(access_key="a", secret_key="s", aws_config={"connect_timeout": 4}))
    ec2 = clients("ec2")
    assert ec2.meta.config.retries["mode"] == "standard" and ec2.meta.config.connect_timeout == 4
    assert ec2.meta.region_name == "us-east-1" == clients.region  # the default region


def test_clients_pass_verify_to_botocore(tmp_path: Path) -> None:
    off = aws_utils.Clients(params(access_key="a", secret_key="s", region="eu-west-1", validate_certs=False))
    assert off("sts")._endpoint.http_session._verify is False
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    on = aws_utils.Clients(params(access_key="a", secret_key="s", aws_ca_bundle=str(bundle)))
    assert on("sts")._endpoint.http_session._verify == str(bundle)


# -- paging, against a real moto server -----------------------------------------------------------


@pytest.fixture
def moto_url() -> Iterator[str]:
    """A moto server in this process, over HTTP (its state is shared: use distinct names)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _clients(url: str) -> aws_utils.Clients:
    return aws_utils.Clients(params(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    aws_region="us-east-1", aws_endpoint_url=url))  # fmt: skip


def test_paginate_reads_every_page(moto_url: str) -> None:
    events = _clients(moto_url)("events")
    for i in range(5):
        events.put_rule(Name=f"pagetest-{i}", ScheduleExpression="rate(1 hour)")
    first = events.list_rules(NamePrefix="pagetest-", Limit=2)
    assert len(first["Rules"]) == 2 and first.get("NextToken")  # moto really pages
    rules = aws_utils.paginate(events, "list_rules", "Rules", page_size=2, NamePrefix="pagetest-")
    assert sorted(r["Name"] for r in rules) == [f"pagetest-{i}" for i in range(5)]
    with pytest.raises(aws_utils.AwsError, match=r"^schedules: list_targets_by_rule failed"):
        aws_utils.paginate(events, "list_targets_by_rule", "Targets", "schedules", Rule="no-such-rule")


def test_ec2_describe_calls_read_every_page(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ec2 = _clients(moto_url)("ec2")
    ids = [ec2.run_instances(ImageId="ami-785db401", MinCount=1, MaxCount=1)["Instances"][0] for _ in range(7)]
    page = ec2.describe_instances(Filters=[{"Name": "image-id", "Values": ["ami-785db401"]}], MaxResults=5)
    assert page.get("NextToken")  # moto pages describe_instances (by reservation)
    monkeypatch.setenv("SHIPYARD_AWS_PAGE_SIZE", "5")
    used = _ami.images_in_use(ec2)
    assert "ami-785db401" in used
    found = _ami.all_items(ec2, "describe_instances", "Reservations",
                           Filters=[{"Name": "image-id", "Values": ["ami-785db401"]}])  # fmt: skip
    seen = {i["InstanceId"] for r in found for i in r["Instances"]}
    assert {i["InstanceId"] for i in ids} <= seen


def test_the_lambda_module_reads_every_page_of_schedule_rules(
    moto_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stale rules past moto's first page (50 rules) are removed: before, only the first page was
    read, so 5 stale rules stayed, targeting a function that no longer wants them."""
    import zipfile

    from ansible_collections.shipyard.deploy.plugins.modules import lambda_function

    zip_file = tmp_path / "fn.zip"
    with zipfile.ZipFile(zip_file, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return event\n")
    events = _clients(moto_url)("events")
    stale = 55
    for i in range(stale):  # left by earlier deploys of "pagefn"
        events.put_rule(Name=f"shipyard-pagefn-stale{i:02d}", ScheduleExpression="rate(1 day)")
    assert events.list_rules(NamePrefix="shipyard-pagefn-").get("NextToken")  # more than one page
    args = {"name": "pagefn", "zip_file": str(zip_file), "handler": "app.handler", "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing", "aws_region": "us-east-1", "aws_endpoint_url": moto_url,
            "triggers": {"schedule": ["rate(1 hour)"]}, "_ansible_check_mode": False}  # fmt: skip
    with patch_module_args(args), pytest.raises(SystemExit):
        lambda_function.main()
    out = json.loads(capsys.readouterr().out)
    assert not out.get("failed"), out.get("msg")
    assert sum(a.startswith("delete rule shipyard-pagefn-stale") for a in out["actions"]) == stale
    left = [r["Name"] for r in events.list_rules(NamePrefix="shipyard-pagefn-")["Rules"]]
    assert left == [lambda_function.rule_name("pagefn", "rate(1 hour)")]
