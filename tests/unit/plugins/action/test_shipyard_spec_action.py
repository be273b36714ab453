"""The shipyard_spec action through real ansible-playbook runs on two local hosts (no lab).

The playbook is the collection's own loading play and first task of playbooks/deploy.yml (read from the file),
followed by a task that writes what each host sees: what ``shipyard render`` prints, the same
error lines as ``shipyard validate``, data never templated, secrets never shown.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from _root import ROOT
from shipyard import api
from shipyard.cli import main as cli_main
from shipyard.core import collection

BIN = Path(sys.executable).parent
DIST = ROOT / "examples" / "dist"
SECRET = "CANARY-awx-5e1d"


def sha(version: str) -> str:
    return (DIST / f"hello-{version}.tar.sha256").read_text().split()[0]


def _playbook(tmp: Path, name: str = "deploy") -> Path:
    loader, play = yaml.safe_load((ROOT / "playbooks" / f"{name}.yml").read_text())[:2]
    assert (
        loader["hosts"] == "{{ shipyard_hosts | default('all') }}"
    )  # the deploy play's hosts: --limit applies
    assert loader["tasks"][0]["name"] == "Load and validate the service spec (shipyard_spec)"
    first = play["tasks"][0]
    assert first["name"] == "Give every host of the play the spec's variables (shipyard_spec)"
    seen = (
        "{{ {'service': shipyard_service, 'release': shipyard_release, 'secret_length':"
        " (shipyard_secrets | default({})).values() | map('length') | list} | to_json }}"
    )
    probe = [
        loader,
        {
            "name": "Probe",
            "hosts": "all",
            "gather_facts": False,
            "tasks": [
                first,
                {
                    "name": "Write what this host sees",
                    "ansible.builtin.copy": {
                        "content": seen,
                        "dest": str(tmp / "seen-{{ inventory_hostname }}.json"),
                        "mode": "0600",
                    },
                },
            ],
        },
    ]
    path = tmp / "probe.yml"
    path.write_text(yaml.safe_dump(probe, sort_keys=False))
    return path


def _spec(tmp: Path, **changes: Any) -> Path:
    doc: dict[str, Any] = {
        "name": "probe",
        "version": "1.0.0",
        "artifact": {"path": os.path.relpath(DIST / "hello-1.0.0.tar", tmp), "sha256": sha("1.0.0")},
        "command": "/usr/bin/python3 server.py --port {port}",
        "instances": 2,
        "ports": {"base": 9100},
        "env": {"GREETING": "pa{{ lookup('pipe', 'id') }}ss"},
        "secrets": {"API_TOKEN": {"env": "PROBE_API_TOKEN"}},
    }
    doc.update(changes)
    path = tmp / "probe-spec.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _run(
    tmp: Path, spec: Path | str, *, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    inventory = tmp / "inventory.yml"
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"h1": local, "h2": local}}}))
    full_env = {
        "PATH": f"{BIN}{os.pathsep}/usr/bin:/bin",
        "HOME": str(tmp),
        "PYTHONPATH": str(ROOT / "src"),
        "ANSIBLE_COLLECTIONS_PATH": str(collection.collections_path()),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
        **(env or {}),
    }
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-vvv", "-i", str(inventory), str(_playbook(tmp)), "-e", f"shipyard_spec={spec}"],
        capture_output=True, text=True, env=full_env, cwd=tmp, timeout=300, check=False,
    )  # fmt: skip


def test_every_host_gets_what_render_prints_and_data_stays_data(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    proc = _run(tmp_path, spec.name, env={"PROBE_API_TOKEN": SECRET})  # relative to the cwd
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rendered = api.render(spec)
    for host in ("h1", "h2"):  # run_once + set_fact: every host of the play has it
        seen = json.loads((tmp_path / f"seen-{host}.json").read_text())
        assert seen["service"] == rendered["shipyard_service"]
        assert seen["release"] == rendered["shipyard_release"] == "1.0.0"
        assert seen["secret_length"] == [len(SECRET)]
    service = json.loads((tmp_path / "seen-h1.json").read_text())["service"]
    assert service["env"]["GREETING"] == "pa{{ lookup('pipe', 'id') }}ss"  # never templated
    assert service["artifact"]["path"] == str((DIST / "hello-1.0.0.tar").resolve())
    assert SECRET not in proc.stdout + proc.stderr  # not even at -vvv


def test_a_bad_spec_fails_with_the_lines_of_shipyard_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path, name="Bad", version=1, resources={"memory": "lots"})
    assert cli_main(["validate", str(spec)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("invalid input:")]
    assert len(lines) == 3
    proc = _run(tmp_path, spec)
    assert proc.returncode != 0
    for line in lines:
        assert line in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not list(tmp_path.glob("seen-*.json"))  # nothing ran after it


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"artifact": {"path": str(DIST / "hello-1.0.0.tar"), "sha256": "0" * 64}}, "artifact.sha256: '0000"),
        (
            {"strategy": "container"},
            "strategy: 'container' is not allowed: this playbook runs the multi strategy",
        ),
        (
            {"secrets": {"API_TOKEN": {"env": "PROBE_UNSET_TOKEN"}}},
            "secrets.API_TOKEN: 'env PROBE_UNSET_TOKEN'",
        ),
    ],
)
def test_what_a_deploy_checks_is_checked_before_any_host(
    tmp_path: Path, changes: dict[str, Any], expected: str
) -> None:
    proc = _run(tmp_path, _spec(tmp_path, **changes))
    assert proc.returncode != 0
    assert "invalid input: " in proc.stdout and expected in proc.stdout, proc.stdout
    assert not list(tmp_path.glob("seen-*.json"))


def test_without_the_shipyard_package_the_error_says_what_to_install(tmp_path: Path) -> None:
    fake = tmp_path / "fake" / "shipyard"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no shipyard in this Python')\n")
    proc = _run(tmp_path, _spec(tmp_path), env={"PYTHONPATH": str(fake.parent)})
    assert proc.returncode != 0
    assert "needs the shipyard Python package on the controller" in proc.stdout
    assert "pip install shipyard" in proc.stdout
