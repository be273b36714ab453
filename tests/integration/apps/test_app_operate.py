"""Operating an app on real lab hosts: two services deployed with today's per-service deploy on
two hosts, then ``logs APP`` shows lines from both hosts and both services, ``status APP
--json`` lists every instance with memory and restarts, ``remove APP`` removes both; and
``validate`` of an overcommitted app reads the hosts' real numbers and refuses with exit 2."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml
from _apps import write_app, write_spec

from shipyard import api
from shipyard.cli import main as cli_main
from shipyard.lab import Lab, LabStatus

pytestmark = pytest.mark.lab

HOSTS = "lab[0:1]"


def units(lab_api: Lab, host: str, service: str) -> str:
    done = lab_api.ssh(
        host, ["systemctl", "list-units", "--all", "--plain", "--no-legend", f"shipyard-{service}@*"]
    )
    return done.stdout.strip()


def test_logs_status_and_remove_of_an_app_on_two_hosts(
    lab: LabStatus, lab_api: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lab.inventory is not None
    inv = str(lab.inventory)
    front = write_spec(tmp_path, "appfront", 9410, start_timeout=15)
    back = write_spec(tmp_path, "appback", 9510, start_timeout=15)
    app = write_app(
        tmp_path,
        "opsapp",
        [
            {"spec": "../services/appfront.yml", "hosts": HOSTS, "depends_on": ["appback"]},
            {"spec": "../services/appback.yml", "hosts": HOSTS},
        ],
    )
    hosts = [h.name for h in lab.hosts[:2]]
    for spec in (back, front):
        assert api.deploy(spec, inventory=inv, hosts=HOSTS).ok

    capsys.readouterr()
    assert cli_main(["logs", str(app), "-n", "5", "-i", inv]) == 0
    out = capsys.readouterr().out.splitlines()
    seen = set()
    for line in out:
        match = re.match(r"^(\S+) (appfront|appback)@(\d+) \| ", line)
        assert match, line
        seen.add((match.group(1), match.group(2)))
    assert seen == {(h, s) for h in hosts for s in ("appfront", "appback")}
    assert len(out) <= 2 * 2 * 5  # -n 5: per service per host

    assert cli_main(["logs", str(app), "--service", "appback", "--host", hosts[1], "-n", "3", "-i", inv]) == 0
    only = capsys.readouterr().out.splitlines()
    assert only and all(line.startswith(f"{hosts[1]} appback@") for line in only)

    started = time.monotonic()
    assert cli_main(["logs", str(app), "-f", "--timeout", "2", "-n", "1", "-i", inv]) == 0
    assert time.monotonic() - started < 15  # a bounded follow ends
    assert capsys.readouterr().out.strip()

    assert cli_main(["status", str(app), "--json", "-i", inv]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["app"] == "opsapp" and doc["ok"] is True
    rows = {(i["service"], i["host"], i["port"]): i for i in doc["instances"]}
    assert set(rows) == {
        (s, h, p)
        for h in hosts
        for s, base in (("appfront", 9410), ("appback", 9510))
        for p in (base, base + 1)
    }
    for row in rows.values():
        assert row["state"] == "active" and row["substate"] == "running"
        assert row["release"] == "1.0.0" and row["healthy"] is True
        assert isinstance(row["memory"], int) and row["memory"] > 0
        assert row["restarts"] == 0
        assert row["instance"] == f"{row['service']}@{row['port']}"
    assert cli_main(["status", str(app), "-i", inv]) == 0
    table = capsys.readouterr().out
    assert "cpu time" in table and "appfront@9410" in table

    assert cli_main(["remove", str(app), "-i", inv, "--json"]) == 0
    removed = json.loads(capsys.readouterr().out)
    assert [s["service"] for s in removed["services"]] == ["appfront", "appback"]  # dependents first
    for host in hosts:
        for service in ("appfront", "appback"):
            assert units(lab_api, host, service) == ""


def test_validate_reads_the_hosts_numbers_and_refuses_an_overcommitted_app(
    lab: LabStatus, lab_api: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lab.inventory is not None
    host = lab.hosts[0].name
    meminfo = lab_api.ssh(host, ["grep", "MemTotal", "/proc/meminfo"]).stdout.split()
    host_memory = int(meminfo[1]) * 1024
    write_spec(tmp_path, "hog", 9610, memory="8G", instances=4, start_timeout=15)
    app = write_app(tmp_path, "hogs", [{"spec": "../services/hog.yml", "hosts": "lab[0]"}])
    assert cli_main(["validate", str(app), "-i", str(lab.inventory)]) == 2
    err = capsys.readouterr().err
    assert (
        f"capacity.memory: '{host}' is not allowed: the services placed on {host} need 32G (hog 4 x 8G)"
        in err
    )
    assert "(host) less the 256M reserve" in err
    shown = re.search(r"but it has (\S+) \(host\)", err)
    assert shown is not None
    # the figure is the host's own (MemTotal, or its memory cgroup's limit when smaller)
    assert shown.group(1).endswith("G") and float(shown.group(1)[:-1]) * 1024**3 <= host_memory * 1.01
    assert units(lab_api, host, "hog") == ""  # nothing was touched

    override = tmp_path / "inventory.yml"
    doc = yaml.safe_load(Path(lab.inventory).read_text())
    doc["all"]["children"]["lab"]["hosts"][host].update(shipyard_memory="64G", shipyard_cpus=2)
    override.write_text(yaml.safe_dump(doc))
    assert cli_main(["validate", str(app), "-i", str(override)]) == 0  # the inventory's figures win
    assert f"{host}: memory 32G of 63.75G, cpu 1 of 2 cores (inventory)" in capsys.readouterr().out
