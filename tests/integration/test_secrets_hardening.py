"""Secrets never leak and the instance unit is hardened, on the real lab.

A canary secret (one from the controller's environment, one from a file) is deployed by every
path that prints or stores something: the CLI (plain, --diff, --json), the runner at Ansible's
highest verbosity, a Packer bake and a Lambda deploy. The canary must appear in none of their
outputs, in no file of the run directories or temp dirs, in no AMI or snapshot tag, and on the
hosts only in 0600 root-owned files.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from _hello import ROOT
from _relia import make_spec, ssh, version_at

from shipyard import api
from shipyard.cli import main as cli_main
from shipyard.core import aws
from shipyard.core.runner import run_playbook
from shipyard.core.spec import load_spec
from shipyard.lab import LabStatus

pytestmark = pytest.mark.lab

CANARY_ENV = "CANARY-env-7f3a91c2d4"
CANARY_FILE = "CANARY-file-0b8e55aa13"
CANARIES = (CANARY_ENV, CANARY_FILE)
EXPOSURE_MAX = 3.0


def leaks(text: str) -> list[str]:
    return [c for c in CANARIES if c in text]


def grep_tree(root: Path) -> list[str]:
    """Files under ``root`` that contain a canary."""
    out = subprocess.run(
        ["grep", "-rlaF", "-e", CANARY_ENV, "-e", CANARY_FILE, str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.split()


def cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli_main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def canary_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The env canary set, the file canary written, run dirs and temp files under tmp_path."""
    monkeypatch.setenv("REL_TOKEN", CANARY_ENV)
    monkeypatch.setenv("SHIPYARD_WORK_DIR", str(tmp_path / "work"))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    (tmp_path / "key.txt").write_text(CANARY_FILE + "\n")
    (tmp_path / "key.txt").chmod(0o600)
    yield tmp_path


SECRETS = {"API_TOKEN": {"env": "REL_TOKEN"}, "DB_PASSWORD": {"file": "key.txt"}}


def test_unit_exposure_is_at_most_3(lab: LabStatus, tmp_path: Path) -> None:
    host = lab.hosts[0]
    spec = make_spec(tmp_path, name="relhard", base=10000, instances=1)
    result = api.deploy(spec, inventory=lab.inventory, hosts=host.name)
    assert result.ok, result.failures
    assert version_at(host.address, 10000) == "1.0.0"
    out = ssh(lab, host.name, ["systemd-analyze", "security", "--no-pager", "shipyard-relhard@10000.service"])
    match = re.search(r"Overall exposure level for shipyard-relhard@10000\.service: (\d+\.\d+)", out)
    assert match, out[-2000:]
    assert float(match.group(1)) <= EXPOSURE_MAX, out
    # the hardened unit still serves, restarts and reports healthy
    ssh(lab, host.name, ["systemctl", "restart", "shipyard-relhard@10000.service"])
    state = api.status(spec, inventory=lab.inventory, hosts=host.name)
    assert [(i.port, i.state) for i in state.instances] == [(10000, "active")]


def test_canary_never_leaks_from_multi_deploys(lab: LabStatus, canary_env: Path) -> None:
    host = lab.hosts[0]
    spec = make_spec(canary_env, name="relsec", base=10010, instances=1, secrets=SECRETS)
    # plain CLI with --diff, then --json, then a change of the secret (the file is rewritten)
    code, out, err = cli(["deploy", str(spec), "-i", str(lab.inventory), "--hosts", host.name, "--diff"])
    assert code == 0, err
    assert not leaks(out + err)
    code, out, err = cli(["deploy", str(spec), "-i", str(lab.inventory), "--hosts", host.name, "--json"])
    assert code == 0, err
    assert json.loads(out)["ok"] is True and not leaks(out + err)
    code, out, err = cli(["status", str(spec), "-i", str(lab.inventory), "--hosts", host.name, "--json"])
    assert code == 0 and not leaks(out + err)
    # Ansible's highest verbosity through the runner, with a changed secret file (diff mode)
    (canary_env / "key.txt").write_text(CANARY_FILE + "-2\n")
    loaded = load_spec(spec)
    secrets = {k: v.get_secret_value() for k, v in loaded.resolve_secrets().items()}
    lines: list[str] = []
    result = run_playbook(
        "deploy",
        inventory=lab.inventory,
        extravars={"shipyard_service": loaded.to_ansible(), "shipyard_hosts": host.name},
        secret_vars={"shipyard_secrets": secrets},
        diff=True,
        verbosity=4,
        progress=lambda ev: lines.append(ev.message),
        work_dir=canary_env / "work",
    )
    assert result.ok
    assert result.changed > 0  # the secrets file changed, and was reported without its content
    assert not leaks("\n".join(lines))
    # nothing on the controller: run directories (artifacts, events, stdout) and temp files
    assert grep_tree(canary_env / "work") == []
    assert grep_tree(canary_env / "tmp") == []
    # on the host: only in files that are 0600 and root's; scan the whole filesystem
    scan = (
        f"grep -rlaF -e {CANARY_ENV} -e {CANARY_FILE} / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev"
        " 2>/dev/null | while read -r f; do stat -c '%a %U %G %n' \"$f\"; done"
    )
    found = ssh(lab, host.name, ["sh", "-c", scan], timeout=180).splitlines()
    assert found, "the secrets file should hold the canary"
    assert "600 root root /etc/shipyard/relsec/secrets.env" in found
    for line in found:
        assert line.startswith("600 root "), f"readable by others: {line}"
    # the instance got both values (it runs as a dynamic user: systemd hands them over)
    env = ssh(
        lab,
        host.name,
        ["sh", "-c", "cat /proc/$(systemctl show -p MainPID --value shipyard-relsec@10010)/environ"],
    )
    assert CANARY_ENV in env and CANARY_FILE + "-2" in env


def test_canary_never_leaks_from_a_bake(lab: LabStatus, canary_env: Path, aws_endpoint: str) -> None:
    data = yaml.safe_load((ROOT / "services" / "hello-ami.yml").read_text())
    spec_doc = yaml.safe_load(make_spec(canary_env, name="relbake", base=10020, secrets=SECRETS).read_text())
    data.update({k: spec_doc[k] for k in ("name", "artifact", "ports", "secrets", "health")})
    data["ami"]["launch_template"] = "shipyard-relbake"
    spec = canary_env / "relbake-ami.yml"
    spec.write_text(yaml.safe_dump(data))
    lines: list[str] = []
    result = api.bake(
        spec,
        endpoint_url=aws_endpoint,
        inventory=lab.inventory,
        host=lab.hosts[2].name,
        force=True,
        progress=lambda ev: lines.append(ev.message),
    )
    assert lines and not leaks("\n".join(lines))  # Packer's machine-readable output, streamed
    ec2 = aws.resolve(aws_endpoint, region="us-east-1").client("ec2")
    image = ec2.describe_images(ImageIds=[result.ami_id])["Images"][0]
    snaps = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]
    described = json.dumps([image, ec2.describe_snapshots(SnapshotIds=snaps)["Snapshots"]], default=str)
    assert not leaks(described)
    assert not leaks(json.dumps(result.to_dict(), default=str))
    assert grep_tree(canary_env / "tmp") == [] and grep_tree(canary_env / "work") == []
    # an image holds no secrets at all: the baked host has no copy of them
    scan = f"grep -rlaF -e {CANARY_ENV} -e {CANARY_FILE} /etc /opt /var /root /tmp 2>/dev/null || true"
    assert ssh(lab, lab.hosts[2].name, ["sh", "-c", scan], timeout=180).strip() == ""


def test_canary_never_leaks_from_a_lambda_deploy(
    aws_endpoint: str, canary_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    shutil.copytree(ROOT / "services" / "imageupload", canary_env / "code")
    spec = canary_env / "relsecfn.yml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "relsecfn",
                "version": "1.0.0",
                "strategy": "lambda",
                "env": {"IMAGES_TABLE": "t", "IMAGES_STREAM": "s"},
                "secrets": SECRETS,
                "lambda": {"source": "code", "handler": "app.handler", "timeout": 20},
            }
        )
    )
    ep = ["--endpoint-url", aws_endpoint]
    code, out, err = cli(["deploy", str(spec), *ep])
    assert code == 0, err
    assert not leaks(out + err)
    code, out, err = cli(["deploy", str(spec), *ep, "--json", "--diff"])
    assert code == 0 and not leaks(out + err)
    assert grep_tree(canary_env / "work") == [] and grep_tree(canary_env / "tmp") == []
    # the function itself does get them (that is where a Lambda's secrets live)
    lam: Any = boto3.client("lambda", endpoint_url=aws_endpoint, region_name="us-east-1")
    env = lam.get_function_configuration(FunctionName="relsecfn")["Environment"]["Variables"]
    assert env["API_TOKEN"] == CANARY_ENV and env["DB_PASSWORD"] == CANARY_FILE
