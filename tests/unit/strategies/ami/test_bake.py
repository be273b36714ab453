"""shipyard.strategies.ami.bake: the bake hash, the inventory host, and the cloud steps against moto (in-process)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from _root import ROOT
from shipyard.core import aws
from shipyard.core.spec import load_spec
from shipyard.strategies.ami import bake

SPEC = ROOT / "services" / "hello-ami.yml"


def _spec(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load(SPEC.read_text())
    data["artifact"]["path"] = str((SPEC.parent / data["artifact"]["path"]).resolve())
    data.update(changes)
    out = tmp_path / f"spec-{len(list(tmp_path.iterdir()))}.yml"
    out.write_text(yaml.safe_dump(data))
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of what the hash covers."""
    root = tmp_path / "tree"
    for part in bake.HASHED_PATHS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, root / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (root / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, root / part)
    return root


def test_hash_is_stable_and_ignores_where_the_spec_lies(tmp_path: Path, tree: Path) -> None:
    one = bake.bake_hash(load_spec(_spec(tmp_path)), "ami-785db401", root=tree)
    two = bake.bake_hash(load_spec(_spec(tmp_path)), "ami-785db401", root=tree)
    assert one == two and len(one) == 64


@pytest.mark.parametrize(
    "changes",
    [
        {"instances": 3},
        {"version": "1.0.1"},
        {"env": {"GREETING": "other"}},
        {"artifact": {"path": "x.tar", "sha256": "0" * 64, "kind": "tarball"}},
    ],
)
def test_hash_changes_with_what_reaches_the_image(
    tmp_path: Path, tree: Path, changes: dict[str, object]
) -> None:
    base = bake.bake_hash(load_spec(_spec(tmp_path)), "ami-785db401", root=tree)
    assert bake.bake_hash(load_spec(_spec(tmp_path, **changes)), "ami-785db401", root=tree) != base


def test_hash_ignores_rollout_settings(tmp_path: Path, tree: Path) -> None:
    base = bake.bake_hash(load_spec(_spec(tmp_path)), "ami-785db401", root=tree)
    other = _spec(tmp_path, rollout={"serial": 1})
    assert bake.bake_hash(load_spec(other), "ami-785db401", root=tree) == base


def test_hash_changes_with_base_ami_template_and_roles(tmp_path: Path, tree: Path) -> None:
    spec = load_spec(_spec(tmp_path))
    base = bake.bake_hash(spec, "ami-785db401", root=tree)
    assert bake.bake_hash(spec, "ami-1e749f67", root=tree) != base
    with (tree / "packer" / "service.pkr.hcl").open("a") as fh:
        fh.write("\n# changed\n")
    changed_template = bake.bake_hash(spec, "ami-785db401", root=tree)
    assert changed_template != base
    task = tree / "roles" / "service_release" / "tasks" / "main.yml"
    task.write_text(task.read_text() + "\n# changed\n")
    assert bake.bake_hash(spec, "ami-785db401", root=tree) != changed_template


def test_inventory_host_reads_the_lab_inventory(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "lab": {
                            "hosts": {
                                "h1": {"ansible_host": "10.0.0.1", "ansible_ssh_private_key_file": "/k"},
                                "h2": {"ansible_host": "10.0.0.2", "ansible_ssh_private_key_file": "/k"},
                            },
                            "vars": {"ansible_user": "root"},
                        }
                    }
                }
            }
        )
    )
    assert bake.inventory_host(inv, None) == bake.LabHost("h1", "10.0.0.1", "root", Path("/k"))
    assert bake.inventory_host(inv, "h2").address == "10.0.0.2"
    from shipyard.core.errors import SpecError

    with pytest.raises(SpecError, match="h1, h2"):
        bake.inventory_host(inv, "nope")


def test_inventory_host_takes_the_lab_known_hosts(tmp_path: Path) -> None:
    """The bake host's known_hosts is the one the (lab) inventory trusts for it."""
    from shipyard.lab._model import HostState, LabState, render_inventory

    state = LabState(name="dev", subnet=5, ssh_key="/s/dev/id_ed25519", known_hosts="/s/dev/known_hosts")
    state.hosts = [HostState(index=1, name="dev-h1", address="10.213.5.11", dir="/d")]
    inv = tmp_path / "hosts.yml"
    inv.write_text(render_inventory(state))
    host = bake.inventory_host(inv, None)
    assert host == bake.LabHost(
        "dev-h1", "10.213.5.11", "root", Path("/s/dev/id_ed25519"), Path("/s/dev/known_hosts")
    )
    assert bake._known_hosts_var(host) == "/s/dev/known_hosts"
    # an inventory that names none: ssh's default file, still checked
    assert bake._known_hosts_var(bake.LabHost("h", "10.0.0.1", "root", Path("/k"))) == "~/.ssh/known_hosts"


@pytest.mark.parametrize(
    "hvars",
    [
        {"ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"},
        {"ansible_ssh_extra_args": "-oStrictHostKeyChecking=no"},
        {"ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null"},
        {"ansible_host_key_checking": False},
        {"ansible_ssh_common_args": "-o 'UserKnownHostsFile=/a b'"},
    ],
)
def test_inventory_host_refuses_an_inventory_that_skips_host_keys(
    tmp_path: Path, hvars: dict[str, object]
) -> None:
    from shipyard.core.errors import SpecError

    inv = tmp_path / "hosts.yml"
    hv = {"ansible_host": "10.0.0.1", "ansible_ssh_private_key_file": "/k", **hvars}
    inv.write_text(yaml.safe_dump({"all": {"hosts": {"h1": hv}}}))
    with pytest.raises(SpecError):
        bake.inventory_host(inv, None)


def test_template_checks_the_provisioned_hosts_key() -> None:
    """Packer's Ansible provisioner trusts only var.known_hosts_file; nothing turns checking off."""
    text = (ROOT / "packer" / "service.pkr.hcl").read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "StrictHostKeyChecking=no" not in code
    assert "UserKnownHostsFile=/dev/null" not in code
    assert "HOST_KEY_CHECKING" not in code
    assert "-o UserKnownHostsFile=${var.known_hosts_file} -o StrictHostKeyChecking=yes" in code
    assert '"ansible_host_key_checking=true"' in code
    assert "use_proxy     = false" in code  # Ansible's own OpenSSH client, not Packer's proxy
    variables = (ROOT / "packer" / "variables.pkr.hcl").read_text()
    assert 'variable "known_hosts_file"' in variables


# -- cloud steps against an in-process moto ------------------------------------------------------


@pytest.fixture
def moto_url() -> Iterator[str]:
    """A moto server in this process (its state is shared by the tests: use distinct names)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _image(ec2: object, name: str, service: str = "hello", digest: str = "h") -> str:
    client = ec2  # type: ignore[assignment]
    inst = client.run_instances(ImageId="ami-785db401", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]  # type: ignore[attr-defined]
    tags = [
        {"Key": "shipyard:service", "Value": service},
        {"Key": "shipyard:version", "Value": "1.0.0"},
        {"Key": "shipyard:bake-hash", "Value": digest},
        {"Key": "shipyard:managed", "Value": "true"},
    ]
    ami = client.create_image(  # type: ignore[attr-defined]
        InstanceId=inst, Name=name, TagSpecifications=[{"ResourceType": "image", "Tags": tags}]
    )["ImageId"]
    client.terminate_instances(InstanceIds=[inst])  # type: ignore[attr-defined]
    return str(ami)


def test_quick_client_answers_like_boto3(moto_url: str) -> None:
    ec2 = aws.resolve(moto_url, region="us-east-1").client("ec2")
    ami = _image(ec2, "shipyard-hello-1", digest="abc")
    quick = bake.QuickEc2(aws.resolve(moto_url, region="us-east-1"))
    found = bake.find_cached(quick, "hello", "abc")
    assert found is not None and found["ImageId"] == ami
    assert bake.tags_dict(found["Tags"])["shipyard:bake-hash"] == "abc"
    assert bake.find_cached(quick, "hello", "other") is None
    assert bake.find_cached(ec2, "hello", "abc")["ImageId"] == ami  # type: ignore[index]


def test_prune_keeps_the_newest_and_images_in_use(moto_url: str) -> None:
    ec2 = aws.resolve(moto_url, region="us-east-1").client("ec2")
    amis = [_image(ec2, f"shipyard-prunesvc-{i}", service="prunesvc", digest=str(i)) for i in range(3)]
    other = _image(ec2, "shipyard-othersvc-1", service="othersvc")
    bake.rollout(
        ec2, None, service="prunesvc", ami_id=amis[0], launch_template="lt-prunesvc", autoscaling_group=None
    )
    dry = bake.prune(ec2, "prunesvc", 1, dry_run=True)
    assert [d["ami_id"] for d in dry["removed"]] == [amis[1]]
    assert len(bake.service_images(ec2, "prunesvc")) == 3
    done = bake.prune(ec2, "prunesvc", 1)
    assert [d["ami_id"] for d in done["removed"]] == [amis[1]]
    left = {i["ImageId"] for i in bake.service_images(ec2, "prunesvc")}
    assert left == {amis[0], amis[2]}
    assert bake.service_images(ec2, "othersvc")[0]["ImageId"] == other
    gone = set(done["removed"][0]["snapshots"])
    snaps = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert gone and not gone & snaps


def test_rollout_adds_a_default_version(moto_url: str) -> None:
    ec2 = aws.resolve(moto_url, region="us-east-1").client("ec2")
    a, b = _image(ec2, "img-a"), _image(ec2, "img-b")
    first = bake.rollout(ec2, None, service="hello", ami_id=a, launch_template="lt-x", autoscaling_group=None)
    second = bake.rollout(
        ec2, None, service="hello", ami_id=b, launch_template="lt-x", autoscaling_group=None
    )
    assert (first["template_version"], second["template_version"]) == (1, 2)
    lt = ec2.describe_launch_templates(LaunchTemplateNames=["lt-x"])["LaunchTemplates"][0]
    assert lt["DefaultVersionNumber"] == 2


def test_leftovers_are_found_and_removed(moto_url: str) -> None:
    ec2 = aws.resolve(moto_url, region="us-east-1").client("ec2")
    inst = ec2.run_instances(
        ImageId="ami-785db401",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "shipyard:bake-id", "Value": "b1"}]}
        ],
    )["Instances"][0]["InstanceId"]
    sg = ec2.create_security_group(GroupName="packer_6b066e86-2a1c-0f17-afcb-78d2e6fa9e95", Description="t")
    found = bake.leftovers(ec2, "b1", {"security_groups": ["packer_6b066e86-2a1c-0f17-afcb-78d2e6fa9e95"]})
    assert found["instances"] == [inst] and found["security_groups"] == [sg["GroupId"]]
    bake.remove_leftovers(ec2, found)
    assert not any(
        bake.leftovers(
            ec2, "b1", {"security_groups": ["packer_6b066e86-2a1c-0f17-afcb-78d2e6fa9e95"]}
        ).values()
    )
