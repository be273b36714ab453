"""playbooks/ami.yml against the lab's moto server: the same answers as shipyard.api.

The images are registered directly in moto (an instance, ``create_image``, the tags a bake
sets) instead of baked with Packer: the playbook's steps only read and change EC2 objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _hello import DIST, ROOT, sha

from shipyard import api
from shipyard.core import aws
from shipyard.core.errors import SpecError
from shipyard.core.runner import PlaybookResult, run_playbook
from shipyard.core.spec import LoadedSpec, load_spec
from shipyard.strategies.ami import bake
from shipyard.strategies.lambda_.deploy import _inventory

NAME = "amiplay"
MODULES = (
    "shipyard.deploy.ami_info",
    "shipyard.deploy.ami_prune",
    "shipyard.deploy.launch_template_version",
)

pytestmark = pytest.mark.lab


@pytest.fixture(autouse=True)
def _env(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    yield


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "services" / "hello-ami.yml").read_text())
    data.update(
        name=NAME,
        artifact={
            "path": str(DIST / "hello-1.0.0.tar"),
            "sha256": sha("1.0.0"),
            "kind": "tarball",
        },
    )
    data["version"] = "1.0.0"
    data["ami"]["launch_template"] = f"shipyard-{NAME}"
    path = tmp_path / f"{NAME}.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def _image(ec2: Any, name: str, digest: str) -> str:
    inst = ec2.run_instances(ImageId="ami-785db401", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    tags = [
        {"Key": "shipyard:service", "Value": NAME},
        {"Key": "shipyard:version", "Value": "1.0.0"},
        {"Key": "shipyard:bake-hash", "Value": digest},
        {"Key": "shipyard:managed", "Value": "true"},
    ]
    ami = ec2.create_image(
        InstanceId=inst,
        Name=name,
        TagSpecifications=[{"ResourceType": "image", "Tags": tags}],
    )["ImageId"]
    ec2.terminate_instances(InstanceIds=[inst])
    return str(ami)


def play(spec: Path, tmp: Path, action: str, *, check: bool = False, **extra: Any) -> dict[str, Any]:
    loaded = load_spec(spec)
    result: PlaybookResult = run_playbook(
        "ami",
        inventory=_inventory(tmp),
        extravars={
            "shipyard_service": loaded.to_ansible(),
            "shipyard_ami": ami_vars(loaded),
            "shipyard_ami_action": action,
            **extra,
        },
        secret_vars={"shipyard_aws": aws.resolve(None).module_params()},
        check=check,
        capture=MODULES,
        work_dir=tmp,
        timeout=300,
    )
    assert result.ok and not result.failures, (result.failures, result.run_dir)
    captured = result.captured.get("localhost", {})
    docs = [captured[m] for m in MODULES if m in captured]
    assert len(docs) == 1, captured
    return dict(docs[0])


def test_playbook_prunes_and_rolls_out_like_the_api(spec: Path, tmp_path: Path, aws_endpoint: str) -> None:
    ec2 = aws.resolve(aws_endpoint, region="us-east-1").client("ec2")
    amis = [_image(ec2, f"shipyard-{NAME}-1.0.0-{i}", f"play{i}") for i in range(3)]

    # rollout: the default launch template version uses the image; a re-run changes nothing
    out = play(spec, tmp_path, "rollout", shipyard_ami_id=amis[0])
    assert out["changed"] is True and out["ami_id"] == amis[0]
    lt = ec2.describe_launch_templates(LaunchTemplateNames=[f"shipyard-{NAME}"])["LaunchTemplates"][0]
    default = ec2.describe_launch_template_versions(
        LaunchTemplateId=lt["LaunchTemplateId"], Versions=[str(lt["DefaultVersionNumber"])]
    )["LaunchTemplateVersions"][0]
    assert default["LaunchTemplateData"]["ImageId"] == amis[0]
    assert lt["DefaultVersionNumber"] == out["template_version"]
    again = play(spec, tmp_path, "rollout", shipyard_ami_id=amis[0])
    assert again["changed"] is False and again["template_version"] == out["template_version"]

    # find: the image of a bake hash
    assert play(spec, tmp_path, "find", shipyard_bake_hash="play2")["image"]["ami_id"] == amis[2]

    # prune: check mode lists what the API's dry run lists, and removes nothing
    dry_api = api.prune(spec, keep=1, dry_run=True)["regions"]["us-east-1"]
    dry = play(spec, tmp_path, "prune", check=True, shipyard_ami_keep=1)
    assert dry["changed"] is True
    assert [d["ami_id"] for d in dry["removed"]] == [d["ami_id"] for d in dry_api["removed"]] == [amis[1]]
    assert len(bake.service_images(ec2, NAME)) == 3

    # prune: removes all but the newest, keeps the launch template's image, no orphan snapshot
    done = play(spec, tmp_path, "prune", shipyard_ami_keep=1)
    assert done["removed"] == dry["removed"]
    left = {i["ImageId"] for i in bake.service_images(ec2, NAME)}
    assert left == {amis[0], amis[2]}
    gone = set(done["removed"][0]["snapshots"])
    snaps = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert gone and not gone & snaps
    assert api.prune(spec, keep=1, dry_run=True)["regions"]["us-east-1"]["removed"] == []
    assert play(spec, tmp_path, "prune", shipyard_ami_keep=1)["changed"] is False


def ami_vars(spec: LoadedSpec) -> dict[str, Any]:
    """The ``shipyard_ami`` variable of playbooks/ami.yml: the spec's ami: section."""
    ami = spec.service.ami
    if ami is None:
        raise SpecError("ami", None, "playbooks/ami.yml needs an ami: section", source=str(spec.path))
    return {
        "regions": list(ami.regions),
        "keep": ami.keep,
        "launch_template": ami.launch_template or f"shipyard-{spec.service.name}",
        "autoscaling_group": ami.autoscaling_group,
    }
