"""A bake whose Packer process gets SIGTERM mid-build leaves nothing behind, and the next works.

Real Packer against the lab's moto server and a lab host (the third: test_ami uses the first two).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _hello import DIST, ROOT, sha

from shipyard import api
from shipyard.core import aws
from shipyard.lab import LabStatus
from shipyard.strategies.ami import bake
from shipyard.strategies.ami.packer import PackerError

NAME = "amiterm"
LIVE = ["pending", "running", "stopping", "stopped"]

pytestmark = pytest.mark.lab


@pytest.fixture(autouse=True)
def _endpoint(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    yield


def _spec(tmp: Path) -> Path:
    data = yaml.safe_load((ROOT / "services" / "hello-ami.yml").read_text())
    data.update(
        name=NAME,
        version="1.0.0",
        instances=1,
        ports={"base": 8380},
        artifact={
            "path": str(DIST / "hello-1.0.0.tar"),
            "sha256": sha("1.0.0"),
            "kind": "tarball",
        },
        health={"path": "/health", "start_timeout": 30, "interval": 0.5},
    )
    data["ami"]["launch_template"] = f"shipyard-{NAME}"
    path = tmp / f"{NAME}.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def _packer_children() -> list[int]:
    """Pids of `packer build` processes this test process started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and argv[0].endswith(b"packer") and argv[1:2] == [b"build"]:
            found.append(int(entry.name))
    return found


def _snapshots(ec2: Any) -> set[str]:
    filters = [{"Name": "tag:shipyard:service", "Values": [NAME]}]
    return {s["SnapshotId"] for s in ec2.describe_snapshots(Filters=filters)["Snapshots"]}


def _bake_instances(ec2: Any) -> dict[str, str]:
    """instance id -> bake id of live builder instances."""
    out = {}
    for res in ec2.describe_instances(
        Filters=[
            {"Name": "tag-key", "Values": ["shipyard:bake-id"]},
            {"Name": "instance-state-name", "Values": LIVE},
        ]
    )["Reservations"]:
        for inst in res["Instances"]:
            out[inst["InstanceId"]] = bake.tags_dict(inst.get("Tags"))["shipyard:bake-id"]
    return out


def test_sigterm_mid_bake_leaves_nothing_and_the_next_bake_works(
    tmp_path: Path, lab: LabStatus, aws_endpoint: str
) -> None:
    kill_mid_bake(signal.SIGTERM, tmp_path, lab, aws_endpoint)


def test_sigkill_mid_bake_leaves_nothing_and_the_next_bake_works(
    tmp_path: Path, lab: LabStatus, aws_endpoint: str
) -> None:
    """Packer cannot clean up after SIGKILL: shipyard removes its builder by the bake id."""
    kill_mid_bake(signal.SIGKILL, tmp_path, lab, aws_endpoint)


def kill_mid_bake(sig: signal.Signals, tmp_path: Path, lab: LabStatus, aws_endpoint: str) -> None:
    ec2 = aws.resolve(aws_endpoint, region="us-east-1").client("ec2")
    spec = _spec(tmp_path)
    host = lab.hosts[-1].name
    before_sgs = {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    before_keys = {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]}
    before_instances = set(_bake_instances(ec2))
    before_images = bake.service_images(ec2, NAME)
    before_snaps = _snapshots(ec2)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = api.bake(spec, inventory=lab.inventory, host=host, force=True)
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 300
    bake_id = None
    while time.monotonic() < deadline and thread.is_alive():
        new = {i: b for i, b in _bake_instances(ec2).items() if i not in before_instances}
        if new:
            bake_id = next(iter(new.values()))
            break
        time.sleep(0.2)
    assert bake_id is not None, f"no builder instance appeared: {outcome}"
    pids = _packer_children()
    assert pids, "no packer build process found"
    for pid in pids:
        os.kill(pid, sig)
    thread.join(timeout=300)
    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), PackerError), outcome
    assert bake.leftovers(ec2, bake_id)["instances"] == []
    assert {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]} == before_keys
    assert {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]} == before_sgs
    assert bake.service_images(ec2, NAME) == before_images
    assert _snapshots(ec2) == before_snaps  # no snapshot was left without its image

    again = api.bake(spec, inventory=lab.inventory, host=host, force=True)
    assert again.cached is False and again.ami_id.startswith("ami-")
    assert {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]} == before_keys
