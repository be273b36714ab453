"""Container images on the lab: build (reproducible), push to the lab registry, pull on hosts.

Real docker-registry on the lab bridge, real skopeo on the controller and on the hosts, real
ansible-playbook over SSH. Running the unpacked image is the run side's test.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from _hello import DIST, ROOT, sha

from shipyard.cli import main as cli_main
from shipyard.core import sysutil as _sys
from shipyard.core.runner import run_playbook
from shipyard.lab import Lab, LabStatus

PLAYBOOK = ROOT / "tests" / "integration" / "playbooks" / "oci_image.yml"
SERVICE = "imgtest"
MODULE = "shipyard.deploy.oci_image"

pytestmark = pytest.mark.lab
#: A lab of its own for the registry lifecycle test (named after SHIPYARD_TEST_LAB, <= 8 chars).
REG_LAB = os.environ.get("SHIPYARD_TEST_LAB", "pytest")[:6] + "rg"


def make_spec(tmp: Path, version: str) -> Path:
    digest = sha(version)
    spec = tmp / f"{SERVICE}-{version}.yml"
    spec.write_text(
        f"name: {SERVICE}\nversion: {version}\nstrategy: container\n"
        f"artifact: {{path: {DIST / f'hello-{version}.tar'}, sha256: {digest}, kind: tarball}}\n"
        "command: /usr/bin/python3 server.py --port {port}\nports: {base: 8300}\n"
    )
    return spec


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code = cli_main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    doc: dict[str, Any] = json.loads(captured.out)
    return doc


@pytest.fixture(scope="module")
def pushed(lab: LabStatus, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Shared by the tests in order: the push test records the digests it pushed here."""
    tmp = tmp_path_factory.mktemp("images")
    return {"tmp": tmp}


def test_build_is_reproducible_and_push_lands_in_the_lab_registry(
    lab: LabStatus, pushed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    tmp = pushed["tmp"]
    spec = make_spec(tmp, "1.0.0")
    one = cli_json(capsys, "build", str(spec), "--out", str(tmp / "a"), "--json")
    two = cli_json(capsys, "build", str(spec), "--out", str(tmp / "b"), "--json")
    assert one == two
    assert one["image"] == f"shipyard/{SERVICE}" and one["tag"] == "1.0.0" and len(one["layers"]) == 2
    assert lab.registry is not None and lab.inventory is not None
    push = cli_json(capsys, "push", str(spec), "-i", str(lab.inventory), "--out", str(tmp / "a"), "--json")
    assert push["digest"] == one["digest"]
    assert push["image"] == f"{lab.registry}/shipyard/{SERVICE}"
    # the registry's own answer, over its HTTP API
    request = urllib.request.Request(
        f"http://{lab.registry}/v2/shipyard/{SERVICE}/manifests/1.0.0",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
        assert response.headers["Docker-Content-Digest"] == one["digest"]
    assert "sha256:" + hashlib.sha256(body).hexdigest() == one["digest"]
    assert [layer["digest"] for layer in json.loads(body)["layers"]] == one["layers"]
    spec2 = make_spec(tmp, "2.0.0")
    second = cli_json(capsys, "push", str(spec2), "-i", str(lab.inventory), "--json")
    assert second["layers"][0] == one["layers"][0]  # same base layer, new release layer
    assert second["layers"][1] != one["layers"][1]
    pushed.update(one=one["digest"], two=second["digest"], image=push["image"])


def run(lab: LabStatus, tmp: Path, release: str, digest: str, **kwargs: Any) -> Any:
    assert lab.inventory is not None
    hosts = ",".join(h.name for h in lab.hosts[:2])
    return run_playbook(
        PLAYBOOK,
        inventory=lab.inventory,
        limit=hosts,
        extravars={"oci_service": SERVICE, "oci_release": release, "oci_image": f"{lab.registry}/shipyard/{SERVICE}",
                   "oci_digest": digest},
        capture=[MODULE],
        work_dir=tmp,
        timeout=900,
        **kwargs,
    )  # fmt: skip


def test_hosts_pull_by_digest_once_and_releases_are_immutable(
    lab: LabStatus, lab_api: Lab, pushed: dict[str, Any]
) -> None:
    assert "one" in pushed, "the push test must run first"
    tmp, digest = pushed["tmp"], pushed["one"]
    names = [h.name for h in lab.hosts[:2]]
    try:
        check = run(lab, tmp, "1.0.0", digest, check=True)
        assert check.ok and check.changed == 2
        for name in names:
            assert check.captured[name][MODULE]["pulled"] is False
            assert lab_api.ssh(name, ["test", "-e", f"/opt/shipyard/{SERVICE}"]).returncode == 1

        first = run(lab, tmp, "1.0.0", digest)
        assert first.ok, first.failures
        assert first.changed == 2
        for name in names:
            res = first.captured[name][MODULE]
            assert (res["changed"], res["pulled"], res["digest"]) == (True, True, digest)
            release = f"/opt/shipyard/{SERVICE}/releases/1.0.0"
            listing = lab_api.ssh(name, ["ls", f"{release}/rootfs/app", f"{release}"])
            assert listing.returncode == 0, listing.stderr
            assert "server.py" in listing.stdout and "image.json" in listing.stdout
            doc = json.loads(lab_api.ssh(name, ["cat", f"{release}/image.json"]).stdout)
            assert doc["digest"] == digest
            assert doc["config"]["Entrypoint"] == ["/usr/bin/python3", "server.py", "--port", "{port}"]
            assert doc["config"]["WorkingDir"] == "/app"
            assert doc["config"]["Labels"]["io.shipyard.version"] == "1.0.0"
            # the unpacked root is a working runtime: its own python3 (links, modes, libs intact)
            code = "import json, ssl, pathlib; print(pathlib.Path('/app/VERSION').read_text().strip())"
            python = lab_api.ssh(name, ["chroot", f"{release}/rootfs", "/usr/bin/python3", "-c", code])
            assert (python.returncode, python.stdout.strip()) == (0, "1.0.0"), python.stderr

        again = run(lab, tmp, "1.0.0", digest)
        assert again.ok and again.changed == 0
        assert all(again.captured[n][MODULE]["pulled"] is False for n in names)

        clash = run(lab, tmp, "1.0.0", pushed["two"])
        assert not clash.ok
        messages = " ".join(f.message for f in clash.failures)
        assert "already exists with image " + digest in messages and "immutable" in messages
        doc = json.loads(
            lab_api.ssh(names[0], ["cat", f"/opt/shipyard/{SERVICE}/releases/1.0.0/image.json"]).stdout
        )
        assert doc["digest"] == digest  # untouched
    finally:
        for name in names:
            lab_api.ssh(name, ["rm", "-rf", f"/opt/shipyard/{SERVICE}"])


def _registry_pids(config: Path) -> list[int]:
    return [pid for pid in _sys.processes_with_cwd(config.parent) if _sys.is_registry(pid, config)]


def test_the_lab_registry_starts_serves_hosts_and_stops_with_the_lab(tmp_path: Path) -> None:
    lab = Lab(REG_LAB)
    lab.down()
    config = lab.state_dir / "registry.yml"
    try:
        status = lab.up(hosts=1, inventory=tmp_path / "inv.yml", aws=False)
        assert status.up and status.registry == f"{status.hosts[0].address.rsplit('.', 1)[0]}.1:5000"
        inventory = (tmp_path / "inv.yml").read_text()
        assert f"shipyard_registry: {status.registry}" in inventory
        with urllib.request.urlopen(f"http://{status.registry}/v2/", timeout=10) as response:
            assert response.status == 200
        from_host = lab.ssh("h1", ["curl", "-sf", f"http://{status.registry}/v2/_catalog"])
        assert from_host.returncode == 0 and "repositories" in from_host.stdout
        assert (
            json.loads(lab.state_dir.joinpath("registry.yml").read_text())["http"]["addr"] == status.registry
        )
        pids = _registry_pids(config)
        assert len(pids) == 1
        # a registry that dies makes the lab not up; down cleans it all the same
        os.kill(pids[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while lab.status().up and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not lab.status().up
        lab.down()
        assert _registry_pids(config) == [] and not lab.state_dir.exists()
        status = lab.up(hosts=1, aws=False)
        assert status.up and len(_registry_pids(config)) == 1
    finally:
        lab.down()
    assert _registry_pids(config) == []
    assert not any(
        "docker-registry" in " ".join(_sys.cmdline(int(p.name))) and str(config) in _sys.cmdline(int(p.name))
        for p in Path("/proc").iterdir()
        if p.name.isdigit()
    )
