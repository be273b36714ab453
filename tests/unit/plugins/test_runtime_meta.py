"""meta/runtime.yml: every module in the collection's action group, the AWS modules in ``aws``.

The last test runs a real play: ``module_defaults`` for ``group/shipyard.deploy.aws`` gives
ami_info its endpoint, region and keys, and the module finds an image in a moto server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from _root import ROOT

BIN = Path(sys.executable).parent
MODULES = ROOT / "plugins" / "modules"


def runtime() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text(encoding="utf-8"))
    return data


def group(name: str) -> set[str]:
    """The module names of an action group (its metadata entry left out)."""
    return {entry for entry in runtime()["action_groups"][name] if isinstance(entry, str)}


def modules() -> set[str]:
    return {path.stem for path in MODULES.glob("*.py") if not path.name.startswith("_")}


def aws_modules() -> set[str]:
    """The modules that call AWS: those built on the collection's AWS module_utils."""
    return {
        path.stem
        for path in MODULES.glob("*.py")
        if "plugins.module_utils._aws import" in path.read_text(encoding="utf-8")
    }


def test_requires_ansible_matches_the_package_floor_and_the_installed_core() -> None:
    import ansible

    spec = SpecifierSet(runtime()["requires_ansible"])
    assert Version(ansible.__version__) in spec
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    floor = next(s.version for s in spec if s.operator == ">=")
    assert f'"ansible-core>={Version(floor).major}.{Version(floor).minor}' in pyproject, (
        f"requires_ansible {spec} and pyproject's ansible-core floor disagree"
    )


def test_every_module_is_in_the_collection_action_group() -> None:
    listed = group("shipyard")
    assert modules(), "no modules found"
    assert modules() - listed == set(), (
        f"modules missing from action_groups.shipyard: {sorted(modules() - listed)}"
    )
    assert listed - modules() == set(), (
        f"action_groups.shipyard names no module: {sorted(listed - modules())}"
    )


def test_the_aws_group_holds_exactly_the_modules_that_call_aws() -> None:
    assert {"lambda_function", "ami_info", "ami_prune", "launch_template_version"} <= aws_modules()
    assert group("aws") == aws_modules()


@pytest.fixture
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _play(tmp_path: Path, module_defaults: dict[str, Any] | None) -> subprocess.CompletedProcess[str]:
    collections = tmp_path / "collections"
    (collections / "ansible_collections" / "shipyard").mkdir(parents=True, exist_ok=True)
    link = collections / "ansible_collections" / "shipyard" / "deploy"
    if not link.exists():
        link.symlink_to(ROOT)
    play: dict[str, Any] = {
        "name": "Find the image through the group's module defaults",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "tasks": [
            {
                "name": "Look the image up",
                "shipyard.deploy.ami_info": {"service": "rtmeta", "version": "1.0.0"},
                "register": "found",
            },
            {
                "name": "Save the result",
                "ansible.builtin.copy": {
                    "content": "{{ found | to_json }}",
                    "dest": str(tmp_path / "found.json"),
                },
            },
        ],
    }
    if module_defaults is not None:
        play["module_defaults"] = module_defaults
    (tmp_path / "play.yml").write_text(yaml.safe_dump([play]), encoding="utf-8")
    (tmp_path / "ansible.cfg").write_text("[defaults]\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(collections),
        ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        # no instance metadata lookup for credentials: fail at once without module_defaults
        AWS_EC2_METADATA_DISABLED="true",
        AWS_MAX_ATTEMPTS="1",
        HOME=str(tmp_path),
    )
    return subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            "localhost,",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            str(tmp_path / "play.yml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=240,
        check=False,
    )


def test_module_defaults_for_the_aws_group_reach_an_aws_module(tmp_path: Path, moto_url: str) -> None:
    import boto3

    ec2 = boto3.client(
        "ec2",
        endpoint_url=moto_url,
        region_name="eu-west-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
    )
    inst = ec2.run_instances(ImageId="ami-785db401", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    tags = [
        {"Key": "shipyard:service", "Value": "rtmeta"},
        {"Key": "shipyard:version", "Value": "1.0.0"},
        {"Key": "shipyard:bake-hash", "Value": "h"},
        {"Key": "shipyard:managed", "Value": "true"},
    ]
    ami = ec2.create_image(
        InstanceId=inst, Name="rtmeta-1", TagSpecifications=[{"ResourceType": "image", "Tags": tags}]
    )
    defaults = {
        "group/shipyard.deploy.aws": {
            "endpoint_url": moto_url,
            "region": "eu-west-1",
            "access_key": "k",
            "secret_key": "s",
        }
    }
    proc = _play(tmp_path, defaults)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = json.loads((tmp_path / "found.json").read_text(encoding="utf-8"))
    assert [image["ami_id"] for image in found["images"]] == [ami["ImageId"]]

    # the control: without the defaults the same task has no endpoint and no credentials
    (tmp_path / "found.json").unlink()
    proc = _play(tmp_path, None)
    assert proc.returncode != 0
    assert not (tmp_path / "found.json").exists()
