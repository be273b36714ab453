"""The AWS modules through real ansible-playbook against a real moto server, called with
amazon.aws's alias names (aws_access_key_id, aws_secret_access_key, aws_region,
aws_endpoint_url, aws_access_key, aws_secret_key) on a task and in ``module_defaults``.

The controller's environment holds no AWS setting at all (no keys, no endpoint, no config
files, no instance metadata), so the modules can only reach moto through the aliases. The moto
server runs in this process: the lab's hosts are not needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from _hello import ROOT

from shipyard.core.runner import run_playbook
from shipyard.strategies.lambda_.deploy import _inventory

PLAYBOOK = ROOT / "tests" / "integration" / "playbooks" / "aws_aliases.yml"
SERVICE = "aliasvc"
MODULES = ("shipyard.deploy.ami_info", "shipyard.deploy.launch_template_version")


@pytest.fixture
def moto_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_URL",
                "AWS_CA_BUNDLE"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("SHIPYARD_WORK_DIR", str(tmp_path / "work"))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _image(ec2: Any, digest: str) -> str:
    inst = ec2.run_instances(ImageId="ami-785db401", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    tags = [
        {"Key": "shipyard:service", "Value": SERVICE},
        {"Key": "shipyard:version", "Value": "1.0.0"},
        {"Key": "shipyard:bake-hash", "Value": digest},
        {"Key": "shipyard:managed", "Value": "true"},
    ]
    ami = ec2.create_image(
        InstanceId=inst,
        Name=f"shipyard-{SERVICE}-{digest}",
        TagSpecifications=[{"ResourceType": "image", "Tags": tags}],
    )["ImageId"]
    ec2.terminate_instances(InstanceIds=[inst])
    return str(ami)


def test_modules_take_amazon_aws_alias_names(moto_url: str, tmp_path: Path) -> None:
    ec2 = boto3.client(
        "ec2", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )  # fmt: skip
    ami = _image(ec2, "alias1")
    result = run_playbook(
        PLAYBOOK,
        inventory=_inventory(tmp_path),
        extravars={
            "aliases_service": SERVICE,
            "aliases_bake_hash": "alias1",
            "aliases_ami": ami,
            "aliases_endpoint": moto_url,
        },
        capture=MODULES,
        work_dir=tmp_path,
        timeout=300,
    )
    assert result.ok and not result.failures, (result.failures, result.run_dir)
    captured = result.captured["localhost"]
    assert captured["shipyard.deploy.ami_info"]["image"]["ami_id"] == ami
    rolled = captured["shipyard.deploy.launch_template_version"]
    assert rolled["changed"] is True and rolled["ami_id"] == ami
    lt = ec2.describe_launch_templates(LaunchTemplateNames=[f"shipyard-{SERVICE}"])["LaunchTemplates"][0]
    assert lt["DefaultVersionNumber"] == rolled["template_version"]
