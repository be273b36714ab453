"""The ami strategy end to end: real Packer against the lab's moto server and a lab host.

moto runs no machines: the builder instance and the image exist in the emulator, while the
communicator and Ansible provision a lab host (``ssh_host``). The tests run in order and share
one service name (``amihello``) whose images they bake, reuse, prune and roll out.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml
from _hello import DIST, ROOT, sha

from shipyard import api
from shipyard.cli import main as cli_main
from shipyard.core import aws
from shipyard.lab import Lab, LabStatus
from shipyard.strategies.ami import bake
from shipyard.strategies.ami.packer import PackerError

NAME = "amihello"
TAGS = (
    "shipyard:service",
    "shipyard:version",
    "shipyard:artifact-sha256",
    "shipyard:base-ami",
    "shipyard:bake-hash",
    "shipyard:managed",
)

pytestmark = pytest.mark.lab


def make_spec(tmp: Path, *, version: str = "1.0.0", instances: int = 2, start_timeout: float = 30) -> Path:
    data = yaml.safe_load((ROOT / "services" / "hello-ami.yml").read_text())
    data.update(
        name=NAME,
        version=version,
        instances=instances,
        ports={"base": 8280},
        artifact={
            "path": str(DIST / f"hello-{version}.tar"),
            "sha256": sha(version),
            "kind": "tarball",
        },
        health={"path": "/health", "start_timeout": start_timeout, "interval": 0.5},
    )
    data["ami"]["launch_template"] = f"shipyard-{NAME}"
    path = tmp / f"{NAME}-{version}-{instances}.yml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ami")


@pytest.fixture(scope="module")
def ec2(aws_endpoint: str) -> Any:
    return aws.resolve(aws_endpoint, region="us-east-1").client("ec2")


@pytest.fixture(autouse=True)
def _endpoint(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    yield


def cli_json(argv: list[str]) -> tuple[int, dict[str, Any]]:
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = cli_main(argv)
    return code, json.loads(buf.getvalue()) if buf.getvalue().strip() else {}


def bake_cli(spec: Path, lab: LabStatus, *extra: str) -> dict[str, Any]:
    assert lab.inventory is not None
    code, doc = cli_json(
        ["bake", str(spec), "--json", "-i", str(lab.inventory), "--host", lab.hosts[0].name, *extra]
    )
    assert code == 0, doc
    return doc


def test_bake_tags_image_and_snapshots_and_host_runs_after_restart(
    specs: Path, lab: LabStatus, lab_api: Lab, ec2: Any
) -> None:
    doc = bake_cli(make_spec(specs), lab, "--force")
    assert doc["cached"] is False and doc["ami_id"].startswith("ami-")
    assert doc["name"].startswith(f"shipyard-{NAME}-1.0.0-")
    image = ec2.describe_images(ImageIds=[doc["ami_id"]])["Images"][0]
    tags = bake.tags_dict(image["Tags"])
    assert {t: tags.get(t) for t in TAGS} == {
        "shipyard:service": NAME,
        "shipyard:version": "1.0.0",
        "shipyard:artifact-sha256": sha("1.0.0"),
        "shipyard:base-ami": doc["base_ami"],
        "shipyard:bake-hash": doc["bake_hash"],
        "shipyard:managed": "true",
    }
    snaps = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]
    assert snaps
    for snap in ec2.describe_snapshots(SnapshotIds=snaps)["Snapshots"]:
        assert {t: bake.tags_dict(snap["Tags"]).get(t) for t in TAGS} == {t: tags[t] for t in TAGS}
    # The provisioned lab host: units enabled at boot, serving again after a restart of them.
    host = lab.hosts[0].name
    units = [f"shipyard-{NAME}@8280.service", f"shipyard-{NAME}@8281.service"]
    assert lab_api.ssh(host, ["systemctl", "is-enabled", *units]).stdout.split() == ["enabled", "enabled"]
    assert lab_api.ssh(host, ["systemctl", "daemon-reexec"]).returncode == 0
    assert lab_api.ssh(host, ["systemctl", "restart", *units]).returncode == 0
    for port in (8280, 8281):
        probe = ["curl", "-sf", "--retry", "20", "--retry-connrefused", "--retry-delay", "0"]
        res = lab_api.ssh(host, [*probe, f"http://127.0.0.1:{port}/health"])
        assert res.returncode == 0, res.stderr


def test_second_bake_is_cached_fast_and_starts_no_packer(
    specs: Path, lab: LabStatus, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = bake_cli(make_spec(specs), lab)  # the image of the test above (or this one)
    monkeypatch.setenv("SHIPYARD_PACKER", "/nonexistent/packer")  # Packer would fail to start
    started = time.monotonic()
    again = bake_cli(make_spec(specs), lab)
    elapsed = time.monotonic() - started
    assert again["cached"] is True
    assert again["ami_id"] == first["ami_id"]
    assert elapsed < 1.5


def test_without_aws_settings_a_bake_on_the_lab_uses_its_emulator_and_says_so(
    specs: Path,
    lab: LabStatus,
    aws_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A newcomer's `shipyard bake` with the lab up and no AWS settings: the lab's moto, said on
    stderr; with an inventory that is no lab's, one line and exit 4 instead of a traceback."""
    bake_cli(make_spec(specs), lab)  # cached by now (or baked here)
    for var in (
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.aws either
    capfd.readouterr()
    doc = bake_cli(make_spec(specs), lab)
    assert doc["cached"] is True
    assert f"no AWS settings: using the lab's AWS emulator at {aws_endpoint}" in capfd.readouterr().err
    assert lab.inventory is not None
    plain = tmp_path / "hosts.yml"
    plain.write_text(lab.inventory.read_text().replace("shipyard_aws_endpoint", "not_an_endpoint"))
    code = cli_main(["bake", str(make_spec(specs)), "-i", str(plain), "--host", lab.hosts[0].name])
    err = capfd.readouterr().err
    assert code == 4, err
    assert "no AWS credentials found" in err and "Traceback" not in err


def test_changed_instances_or_artifact_give_a_new_hash_and_image(
    specs: Path, lab: LabStatus, ec2: Any
) -> None:
    base = bake_cli(make_spec(specs), lab)
    more = bake_cli(make_spec(specs, instances=1), lab)
    assert more["bake_hash"] != base["bake_hash"] and more["ami_id"] != base["ami_id"]
    assert more["cached"] is False
    other = make_spec(specs, version="2.0.0")
    loaded = api.validate(other)
    assert bake.bake_hash(loaded, base["base_ami"]) != base["bake_hash"]


def test_prune_keeps_one_plus_the_launch_template_image_and_no_orphan_snapshot(
    specs: Path, lab: LabStatus, ec2: Any
) -> None:
    spec = make_spec(specs)
    code, out = cli_json(["rollout", str(spec), "--json"])  # the launch template uses 1.0.0's image
    assert code == 0, out
    in_lt = out["ami_id"]
    bake_cli(spec, lab, "--force")  # a third (or more) image of the service
    images = bake.service_images(ec2, NAME)
    assert len(images) >= 3
    code, dry = cli_json(["prune", str(spec), "--keep", "1", "--dry-run", "--json"])
    assert code == 0 and dry["regions"]["us-east-1"]["removed"]
    assert len(bake.service_images(ec2, NAME)) == len(images)
    code, _ = cli_json(["prune", str(spec), "--keep", "1", "--json"])
    assert code == 0
    left = {i["ImageId"] for i in bake.service_images(ec2, NAME)}
    assert left == {images[-1]["ImageId"], in_lt}
    snaps = ec2.describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:shipyard:service", "Values": [NAME]}]
    )["Snapshots"]
    used = {
        m["Ebs"]["SnapshotId"]
        for i in ec2.describe_images(ImageIds=sorted(left))["Images"]
        for m in i["BlockDeviceMappings"]
        if "Ebs" in m
    }
    assert {s["SnapshotId"] for s in snaps} == used


def test_rollout_to_an_earlier_version(specs: Path, ec2: Any) -> None:
    code, out = cli_json(["rollout", str(make_spec(specs)), "--to", "1.0.0", "--json"])
    assert code == 0, out
    lt = ec2.describe_launch_templates(LaunchTemplateNames=[f"shipyard-{NAME}"])["LaunchTemplates"][0]
    assert lt["DefaultVersionNumber"] == out["template_version"]


def test_failed_provisioner_names_the_task_and_leaves_nothing(specs: Path, lab: LabStatus, ec2: Any) -> None:
    broken = make_spec(specs, version="9.9.9-broken", instances=1, start_timeout=2)
    before_sgs = {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    before_keys = {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]}
    with pytest.raises(PackerError) as info:
        api.bake(broken, inventory=lab.inventory, host=lab.hosts[1].name)
    assert info.value.failed_task is not None
    assert "service_instances" in info.value.failed_task
    assert "health check" in str(info.value)
    running = [
        i["InstanceId"]
        for r in ec2.describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
        )["Reservations"]
        for i in r["Instances"]
    ]
    assert running == []
    assert {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]} == before_sgs
    assert {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]} == before_keys
    assert bake.service_images(ec2, NAME, version="9.9.9-broken") == []
    assert orphan_snapshots(ec2) == []
    # and the next bake works
    doc = bake_cli(make_spec(specs), lab, "--force")
    assert doc["cached"] is False and doc["ami_id"].startswith("ami-")
    assert orphan_snapshots(ec2) == []


def orphan_snapshots(ec2: Any) -> list[str]:
    """Snapshots of this service's bakes whose image does not exist (a failed bake's leftovers)."""
    used = {
        m["Ebs"]["SnapshotId"]
        for image in ec2.describe_images(Filters=[{"Name": "tag:shipyard:service", "Values": [NAME]}])[
            "Images"
        ]
        for m in image.get("BlockDeviceMappings", [])
        if "Ebs" in m
    }
    snaps = ec2.describe_snapshots(Filters=[{"Name": "tag:shipyard:service", "Values": [NAME]}])["Snapshots"]
    return [s["SnapshotId"] for s in snaps if s["SnapshotId"] not in used]
