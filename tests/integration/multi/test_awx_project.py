"""The collection on its own, as AWX / Automation Controller runs it: no shipyard CLI, no render.

A project directory (a playbook importing shipyard.deploy.deploy, a spec with its artifact,
collections/requirements.yml naming the collection's tarball) is run through plain
``ansible_runner.run()`` with ``-e shipyard_spec=...``, the collection installed from the
tarball the way a project update does, against lab hosts; then the project removes it again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import ansible_runner
import pytest
import yaml
from _hello import DIST, sha

from _root import ROOT

pytestmark = pytest.mark.lab

BIN = Path(sys.executable).parent
NAME = "awx-hello"
BASE = 8470
SECRET = "CANARY-awx-project-91c2"
GREETING = "from AWX {{ not templated }}"


def _project(tmp: Path) -> Path:
    """A private_data_dir with project/ as an AWX project holds it, and the collection installed."""
    pdd = tmp / "pdd"
    project = pdd / "project"
    (project / "services").mkdir(parents=True)
    (project / "files").mkdir()
    (project / "collections").mkdir()
    shutil.copy(DIST / "hello-1.0.0.tar", project / "files" / "hello-1.0.0.tar")
    spec = {
        "name": NAME,
        "version": "1.0.0",
        "artifact": {"path": "../files/hello-1.0.0.tar", "sha256": sha("1.0.0")},  # relative to the spec
        "command": "/usr/bin/python3 server.py --port {port}",
        "instances": 2,
        "ports": {"base": BASE},
        "env": {"HELLO_NAME": NAME, "GREETING": GREETING},
        "secrets": {"API_TOKEN": {"env": "AWX_HELLO_TOKEN"}},
        "health": {"path": "/health", "timeout": 2, "interval": 0.2, "start_timeout": 15},
    }
    (project / "services" / f"{NAME}.yml").write_text(yaml.safe_dump(spec))
    for verb in ("deploy", "remove"):
        (project / f"{verb}.yml").write_text(
            yaml.safe_dump(
                [{"name": f"{verb} {NAME}", "ansible.builtin.import_playbook": f"shipyard.deploy.{verb}"}]
            )
        )
    subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(tmp), str(ROOT)],
        check=True, capture_output=True, cwd=tmp,
    )  # fmt: skip
    (tarball,) = tmp.glob("shipyard-deploy-*.tar.gz")
    (project / "collections" / "requirements.yml").write_text(
        yaml.safe_dump({"collections": [{"name": str(tarball), "type": "file"}]})
    )
    # the project update: install what collections/requirements.yml names (a local file: offline)
    subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", "install", "-r", "project/collections/requirements.yml",
         "-p", str(pdd / "collections")],
        check=True, capture_output=True, cwd=pdd, env=dict(os.environ, HOME=str(tmp)),
    )  # fmt: skip
    assert (pdd / "collections" / "ansible_collections" / "shipyard" / "deploy" / "MANIFEST.json").is_file()
    return pdd


def _run(pdd: Path, playbook: str, lab: Any, hosts: list[str]) -> ansible_runner.Runner:
    return ansible_runner.run(
        private_data_dir=str(pdd),
        playbook=playbook,
        inventory=str(lab.inventory),
        limit=",".join(hosts),
        extravars={"shipyard_spec": f"services/{NAME}.yml"},  # relative to the project directory
        envvars={
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "PYTHONPATH": str(ROOT / "src"),  # the EE's shipyard package (this checkout's)
            "ANSIBLE_COLLECTIONS_PATH": str(pdd / "collections"),
            "AWX_HELLO_TOKEN": SECRET,  # as an AWX credential injects it
            "HOME": str(pdd),
        },
        suppress_env_files=True,
        quiet=True,
        timeout=600,
    )


def _stdout(runner: ansible_runner.Runner) -> str:
    return (Path(runner.config.artifact_dir) / "stdout").read_text(errors="replace")


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=3) as resp:
        return json.loads(resp.read().decode())


def test_an_awx_project_deploys_with_shipyard_spec_and_the_installed_collection(
    lab: Any, lab_api: Any, tmp_path: Path
) -> None:
    pdd = _project(tmp_path)
    hosts = lab.hosts[:2]
    runner = _run(pdd, "deploy.yml", lab, [h.name for h in hosts])
    stdout = _stdout(runner)
    assert runner.status == "successful" and runner.rc == 0, stdout[-4000:]
    events = list(runner.events)
    loaded = [
        e
        for e in events
        if e.get("event_data", {}).get("task") == "Load and validate the service spec (shipyard_spec)"
    ]
    assert any(e["event"] == "runner_on_ok" for e in loaded), "the spec was not loaded by shipyard_spec"
    installed = str(pdd / "collections" / "ansible_collections" / "shipyard" / "deploy")
    paths = {e["event_data"]["task_path"] for e in events if e.get("event_data", {}).get("task_path")}
    assert paths and all(p.startswith(installed) for p in paths), (
        paths
    )  # the tarball's copy, not the checkout
    for host in hosts:
        for port in (BASE, BASE + 1):
            doc = _get(f"http://{host.address}:{port}/")
            assert (doc["service"], doc["port"], doc["version"]) == (NAME, port, "1.0.0")
            assert doc["greeting"] == GREETING  # a spec value is data, never a template
    # the secret reached the hosts (root-only file), but no event, stdout or fact of the run:
    # ansible-runner keeps a jsonfile fact cache in the artifacts, as AWX's fact storage does
    on_host = lab_api.ssh(hosts[0].name, ["cat", f"/etc/shipyard/{NAME}/secrets.env"])
    assert on_host.returncode == 0 and SECRET in on_host.stdout
    artifacts = Path(runner.config.artifact_dir)
    assert (artifacts / "fact_cache").is_dir() and (artifacts / "job_events").is_dir()
    checked = 0
    for path in artifacts.rglob("*"):
        if path.is_file() and path.name != "command":  # `command` records the envvars given to the runner
            assert SECRET not in path.read_text(errors="replace"), path
            checked += 1
    assert checked > 10

    removed = _run(pdd, "remove.yml", lab, [h.name for h in hosts])
    assert removed.status == "successful", _stdout(removed)[-4000:]
    for host in hosts:
        with pytest.raises(OSError):
            _get(f"http://{host.address}:{BASE}/")
