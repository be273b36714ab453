"""The runner API on real lab hosts, from a venv that is not activated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from _root import ROOT

PROBE = ROOT / "tests" / "integration" / "playbooks" / "probe.yml"

SCRIPT = r"""
import json, sys
from shipyard.core.runner import run_playbook
events = []
result = run_playbook(sys.argv[1], inventory=sys.argv[2], limit=sys.argv[3],
                      extravars={"probe_marker": "m-1"}, secret_vars={"probe_secret": sys.argv[4]},
                      progress=events.append, work_dir=__import__("pathlib").Path(sys.argv[5]))
print(json.dumps({
    "status": result.status.value, "ok": result.ok, "changed": result.changed,
    "hosts": [h.__dict__ for h in result.hosts], "failures": [f.task for f in result.failures],
    "events": [[e.kind.value, e.host, e.task] for e in events], "run_dir": str(result.run_dir),
}))
"""


def _run(lab: Any, tmp_path: Path, secret: str) -> dict[str, Any]:
    hosts = [h.name for h in lab.hosts[:2]]
    # A bare environment: the venv is not activated and ansible-playbook is not on PATH.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT,
            str(PROBE),
            str(lab.inventory),
            ",".join(hosts),
            secret,
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.lab
def test_playbook_on_two_lab_hosts_through_the_api(lab: Any, tmp_path: Path) -> None:
    secret = "CANARY-runner-7f3a9"
    doc = _run(lab, tmp_path, secret)
    names = sorted(h.name for h in lab.hosts[:2])
    assert doc["status"] == "successful"
    assert doc["ok"] is True
    assert sorted(h["host"] for h in doc["hosts"]) == names
    for host in doc["hosts"]:
        assert host["failed"] == 0 and host["unreachable"] == 0
        assert host["ok"] >= 3
    kinds = [e[0] for e in doc["events"]]
    assert kinds[0] == "play"
    assert kinds.count("task") == 3
    assert {e[1] for e in doc["events"] if e[0] in ("ok", "changed")} == set(names)
    assert kinds[-1] == "stats"
    # The secret reached the hosts…
    for name in names:
        out = lab_ssh(lab, name, ["cat", "/tmp/shipyard-probe-secret"])
        assert out.strip() == secret
    # …but not the runner's artifacts.
    leaked = subprocess.run(
        ["grep", "-rl", secret, doc["run_dir"]], capture_output=True, text=True, check=False
    )
    assert leaked.stdout == ""
    # A second run changes only the secret-free marker file: nothing.
    again = _run(lab, tmp_path, secret)
    assert again["changed"] == 0


def lab_ssh(lab: Any, host: str, argv: list[str]) -> str:
    from shipyard.lab import Lab

    proc = Lab(lab.name).ssh(host, argv)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
