"""The ami modules: pure planning, and the modules run against moto's in-process mock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.shipyard.deploy.plugins.module_utils import _ami
from ansible_collections.shipyard.deploy.plugins.modules import ami_info, ami_prune, launch_template_version


def _img(ami: str, date: str, state: str = "available", snap: str | None = None) -> dict[str, Any]:
    mappings = [{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": snap}}] if snap else []
    return {"ImageId": ami, "CreationDate": date, "State": state, "BlockDeviceMappings": mappings,
            "Tags": [{"Key": "shipyard:version", "Value": "1.0.0"}]}  # fmt: skip


def test_plan_prune_keeps_newest_and_in_use_never_counting_them() -> None:
    images = [_img("ami-1", "1", snap="snap-1"), _img("ami-2", "2"), _img("ami-3", "3"), _img("ami-4", "4")]
    removed, kept = _ami.plan_prune(images, {"ami-1"}, 2)
    assert [d["ami_id"] for d in removed] == ["ami-2"]
    assert [d["ami_id"] for d in kept] == ["ami-1", "ami-3", "ami-4"]
    assert kept[0]["in_use"] is True and kept[0]["snapshots"] == ["snap-1"]
    assert set(removed[0]) == {"ami_id", "name", "version", "snapshots", "in_use"}


def test_plan_prune_ignores_images_not_available() -> None:
    removed, kept = _ami.plan_prune([_img("ami-1", "1", state="pending"), _img("ami-2", "2")], set(), 1)
    assert (removed, [d["ami_id"] for d in kept]) == ([], ["ami-2"])


def test_plan_rollout() -> None:
    assert _ami.plan_rollout(None, "ami-1") == "create"
    current = {"id": "lt-1", "default_version": 2, "latest_version": 3, "image_id": "ami-1"}
    assert _ami.plan_rollout(current, "ami-1") == "none"
    assert _ami.plan_rollout(current, "ami-2") == "version"


# -- the modules end to end against moto's mock ----------------------------------------------------


@pytest.fixture
def ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    moto = pytest.importorskip("moto")
    import boto3

    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with moto.mock_aws():
        yield boto3.client("ec2", region_name="us-east-1")


def _image(ec2: Any, name: str, service: str = "svc", digest: str = "h") -> str:
    inst = ec2.run_instances(ImageId="ami-785db401", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    tags = [{"Key": "shipyard:service", "Value": service}, {"Key": "shipyard:version", "Value": "1.0.0"},
            {"Key": "shipyard:bake-hash", "Value": digest}, {"Key": "shipyard:managed", "Value": "true"}]  # fmt: skip
    ami = ec2.create_image(
        InstanceId=inst, Name=name, TagSpecifications=[{"ResourceType": "image", "Tags": tags}]
    )
    ec2.terminate_instances(InstanceIds=[inst])
    return str(ami["ImageId"])


def run(module: Any, capsys: pytest.CaptureFixture[str], check: bool = False, **args: Any) -> dict[str, Any]:
    payload = dict(args, _ansible_check_mode=check, _ansible_diff=True, region="us-east-1")
    with patch_module_args(payload), pytest.raises(SystemExit):
        module.main()
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_ami_info_finds_by_hash_and_lists(ec2: Any, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _image(ec2, "svc-1", digest="h1"), _image(ec2, "svc-2", digest="h2")
    found = run(ami_info, capsys, service="svc", bake_hash="h2")
    assert found["image"]["ami_id"] == b and found["changed"] is False
    assert run(ami_info, capsys, service="svc", bake_hash="nope")["image"] is None
    listed = run(ami_info, capsys, service="svc")
    assert {d["ami_id"] for d in listed["images"]} == {a, b}


def test_ami_prune_check_mode_lists_then_removes(ec2: Any, capsys: pytest.CaptureFixture[str]) -> None:
    amis = [_image(ec2, f"svc-{i}") for i in range(3)]
    _ami.rollout(ec2, None, service="svc", ami_id=amis[0], launch_template="lt-svc")
    dry = run(ami_prune, capsys, check=True, service="svc", keep=1)
    assert dry["changed"] is True and [d["ami_id"] for d in dry["removed"]] == [amis[1]]
    assert len(_ami.service_images(ec2, "svc")) == 3
    done = run(ami_prune, capsys, service="svc", keep=1)
    assert done["removed"] == dry["removed"] and done["diff"]["after"]["images"] == sorted([amis[0], amis[2]])
    snaps = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert not set(done["removed"][0]["snapshots"]) & snaps
    again = run(ami_prune, capsys, service="svc", keep=1)
    assert again["changed"] is False and again["removed"] == []


def test_ami_prune_refuses_keep_zero(ec2: Any, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(ami_prune, capsys, service="svc", keep=0)
    assert out["failed"] and "keep at least one" in out["msg"]


def test_launch_template_version_is_idempotent(ec2: Any, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _image(ec2, "svc-a"), _image(ec2, "svc-b")
    args = {"name": "lt-x", "service": "svc"}
    would = run(launch_template_version, capsys, check=True, image_id=a, **args)
    assert (would["changed"], would["action"]) == (True, "create")
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []
    first = run(launch_template_version, capsys, image_id=a, **args)
    assert (first["changed"], first["template_version"]) == (True, 1)
    same = run(launch_template_version, capsys, image_id=a, **args)
    assert (same["changed"], same["template_version"]) == (False, 1)
    would = run(launch_template_version, capsys, check=True, image_id=b, **args)
    assert (would["changed"], would["template_version"]) == (True, 2)
    second = run(launch_template_version, capsys, image_id=b, **args)
    assert second["diff"] == {"before": {"image_id": a}, "after": {"image_id": b}}
    lt = ec2.describe_launch_templates(LaunchTemplateNames=["lt-x"])["LaunchTemplates"][0]
    assert lt["DefaultVersionNumber"] == 2 == second["template_version"]
