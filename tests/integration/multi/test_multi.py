"""The multi strategy end to end on real lab hosts: API, CLI, playbooks, module, units.

The tests in this module share the session lab and run in order; each uses its own service
name (and ports) so that they do not depend on one another's leftovers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from _hello import DIST, sha

from shipyard import api
from shipyard.cli import main as cli_main
from shipyard.core.errors import SpecError
from shipyard.core.runner import run_playbook
from shipyard.lab import Lab, LabStatus

pytestmark = pytest.mark.lab


def make_spec(
    tmp: Path,
    *,
    name: str,
    version: str = "1.0.0",
    instances: int = 3,
    base: int = 8080,
    env: dict[str, str] | None = None,
    secrets: dict[str, Any] | None = None,
    memory: str = "64M",
    start_timeout: float = 15,
) -> Path:
    doc = {
        "name": name,
        "version": version,
        "artifact": {"path": str(DIST / f"hello-{version}.tar"), "sha256": sha(version)},
        "command": "/usr/bin/python3 server.py --port {port}",
        "instances": instances,
        "ports": {"base": base},
        "env": {"HELLO_NAME": name, **(env or {})},
        "secrets": secrets or {},
        "resources": {"memory": memory, "cpu": "50%", "tasks": 64},
        "health": {"path": "/health", "timeout": 2, "interval": 0.2, "start_timeout": start_timeout},
        "keep_releases": 2,
    }
    path = tmp / f"{name}-{version}-{instances}.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def get(url: str, timeout: float = 3) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def answers(lab: Any, ports: list[int], path: str = "/") -> dict[tuple[str, int], Any]:
    out = {}
    for host in lab.hosts[:2]:
        for port in ports:
            status, body = get(f"http://{host.address}:{port}{path}")
            out[(host.name, port)] = (status, json.loads(body) if path == "/" else body)
    return out


def ssh(lab: Any, host: str, argv: list[str]) -> str:
    from shipyard.lab import Lab

    proc = Lab(lab.name).ssh(host, argv)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def show(lab: Any, host: str, unit: str, props: str) -> dict[str, str]:
    out = ssh(lab, host, ["systemctl", "show", "-p", props, unit])
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def deploy(spec: Path, lab: Any, **kw: Any) -> api.DeployResult:
    return api.deploy(spec, inventory=lab.inventory, hosts=kw.pop("hosts", "lab[0:1]"), **kw)


def test_deploy_three_instances_on_two_hosts_then_noop(lab: Any, tmp_path: Path) -> None:
    spec = make_spec(tmp_path, name="alpha", base=8100)
    check = deploy(spec, lab, check=True)
    assert check.ok, check.failures
    assert check.changed > 0
    first = deploy(spec, lab)
    assert first.ok, first.failures
    assert first.changed > 0
    got = answers(lab, [8100, 8101, 8102])
    assert len(got) == 6
    for (host, port), (status, doc) in got.items():
        assert status == 200, (host, port)
        assert doc["version"] == "1.0.0" and doc["port"] == port and doc["service"] == "alpha"
    health = answers(lab, [8100, 8101, 8102], "/health")
    assert {s for s, _ in health.values()} == {200}
    assert len(first.instances) == 6
    assert {(i.port, i.release, i.state) for i in first.instances} == {
        (p, "1.0.0", "active") for p in (8100, 8101, 8102)
    }
    second = deploy(spec, lab)
    assert second.ok and second.changed == 0, second.hosts


def test_check_mode_reports_without_touching(lab: Any, tmp_path: Path) -> None:
    spec = make_spec(tmp_path, name="beta", base=8150, instances=2)
    result = deploy(spec, lab, check=True)
    assert result.ok and result.changed > 0
    out = ssh(lab, lab.hosts[0].name, ["sh", "-c", "ls /opt/shipyard/beta 2>&1; ls /etc/systemd/system"])
    assert "shipyard-beta@.service" not in out
    assert "No such file" in out


def test_clashing_ports_are_refused_naming_both_services(lab: Any, tmp_path: Path) -> None:
    one = make_spec(tmp_path, name="gamma", base=8200, instances=2)
    assert deploy(one, lab).ok
    clash = make_spec(tmp_path, name="delta", base=8201, instances=2)
    result = deploy(clash, lab)
    assert not result.ok
    text = " ".join(f.message for f in result.failures)
    assert "gamma" in text and "delta" in text and "8201" in text
    # delta touched nothing: no release dir, gamma keeps serving.
    out = ssh(lab, lab.hosts[0].name, ["sh", "-c", "ls /opt/shipyard"])
    assert "delta" not in out.split()
    assert {s for s, _ in answers(lab, [8200, 8201], "/health").values()} == {200}
    distinct = make_spec(tmp_path, name="delta", base=8210, instances=2)
    assert deploy(distinct, lab).ok
    assert {s for s, _ in answers(lab, [8200, 8201, 8210, 8211], "/health").values()} == {200}
    # a port some other process listens on is refused too (sshd on 22 is below 1024: use a listener)
    host = lab.hosts[0].name
    ssh(lab, host, ["systemd-run", "--unit=sy-squatter", "/usr/bin/python3", "-m", "http.server", "8230"])
    try:
        squat = make_spec(tmp_path, name="squat", base=8230, instances=1)
        result = deploy(squat, lab, hosts=host)
        assert not result.ok
        assert "8230" in " ".join(f.message for f in result.failures)
    finally:
        ssh(lab, host, ["systemctl", "stop", "sy-squatter"])


def test_upgrade_rolls_one_by_one_and_broken_version_rolls_back(lab: Any, tmp_path: Path) -> None:
    ports = [8300, 8301, 8302]
    assert deploy(make_spec(tmp_path, name="eps", base=8300), lab).ok
    up = deploy(make_spec(tmp_path, name="eps", version="2.0.0", base=8300), lab)
    assert up.ok, up.failures
    assert {d["version"] for _, d in answers(lab, ports).values()} == {"2.0.0"}
    # one at a time: each instance became active at a different moment, in port order,
    # separated by at least one health probe.
    host = lab.hosts[0].name
    stamps = [
        int(
            show(lab, host, f"shipyard-eps@{p}.service", "ActiveEnterTimestampMonotonic")[
                "ActiveEnterTimestampMonotonic"
            ]
        )
        for p in ports
    ]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3, stamps
    # the broken build fails its health check: previous release keeps serving everywhere
    bad = make_spec(tmp_path, name="eps", version="9.9.9-broken", base=8300, start_timeout=3)
    result = deploy(bad, lab)
    assert not result.ok
    message = " ".join(f.message for f in result.failures)
    assert "eps@8300" in message or "8300" in message
    assert "503" in message or "health" in message.lower()
    assert {d["version"] for _, d in answers(lab, ports).values()} == {"2.0.0"}
    out = ssh(lab, host, ["readlink", "/opt/shipyard/eps/current"])
    assert out.strip().endswith("/2.0.0")
    # the CLI says why and exits 1
    code = cli_main(["deploy", str(bad), "-i", str(lab.inventory), "--hosts", host, "--quiet"])
    assert code == 1
    # rollback on purpose, to 1.0.0
    back = api.rollback(
        make_spec(tmp_path, name="eps", base=8300), to="1.0.0", inventory=lab.inventory, hosts="lab[0:1]"
    )
    assert back.ok, back.failures
    assert {d["version"] for _, d in answers(lab, ports).values()} == {"1.0.0"}


def test_limits_are_set_and_memory_limit_is_enforced(lab: Any, tmp_path: Path) -> None:
    spec = make_spec(tmp_path, name="zeta", base=8400, env={"HELLO_DEBUG_ENDPOINTS": "1"})
    assert deploy(spec, lab).ok
    host = lab.hosts[0]
    for port in (8400, 8401, 8402):
        props = show(lab, host.name, f"shipyard-zeta@{port}.service", "MemoryMax,CPUQuotaPerSecUSec,TasksMax")
        assert props == {"MemoryMax": "67108864", "CPUQuotaPerSecUSec": "500ms", "TasksMax": "64"}
    before = show(lab, host.name, "shipyard-zeta@8400.service", "NRestarts,MainPID")
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        get(f"http://{host.address}:8400/debug/allocate?mb=200", timeout=10)
    # killed by the kernel, restarted by systemd; siblings kept answering
    assert {s for s, _ in answers(lab, [8401, 8402], "/health").values()} == {200}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        after = show(lab, host.name, "shipyard-zeta@8400.service", "NRestarts,MainPID,ActiveState")
        if (
            after["ActiveState"] == "active"
            and after["MainPID"] != before["MainPID"]
            and after["MainPID"] != "0"
        ):
            break
        time.sleep(0.3)
    assert int(after["NRestarts"]) > int(before["NRestarts"]), after
    # Hosts cannot read the kernel log (no CAP_SYSLOG); the machine's shows the OOM kill in
    # this host's cgroup, for this very unit.
    kernel = subprocess.run(["dmesg"], capture_output=True, text=True, check=True).stdout
    assert re.search(rf"oom_memcg=\S*/shipyard-lab/{lab.name}/1/\S*shipyard-zeta@8400\.service", kernel), (
        "no OOM kill of shipyard-zeta@8400 in the kernel log"
    )
    # active is not yet listening (Type=simple): give the restarted instance time on a busy machine
    deadline = time.monotonic() + 30
    while True:
        try:
            status, _ = get(f"http://{host.address}:8400/health")
        except (urllib.error.URLError, OSError):
            status = 0
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert status == 200


def test_secrets_never_leak(
    lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    canary = "CANARY-secret-4b1d9e"
    monkeypatch.setenv("ETA_TOKEN", canary)
    monkeypatch.setenv("SHIPYARD_WORK_DIR", str(tmp_path / "work"))
    spec = make_spec(
        tmp_path, name="eta", base=8500, instances=1, secrets={"API_TOKEN": {"env": "ETA_TOKEN"}}
    )
    code = cli_main(["deploy", str(spec), "-i", str(lab.inventory), "--hosts", "lab[0:1]", "--json"])
    out, err = capfd.readouterr()
    assert code == 0, err
    assert canary not in out and canary not in err
    doc = json.loads(out)
    assert doc["ok"] is True
    leaked = subprocess.run(
        ["grep", "-rl", canary, str(tmp_path / "work")], capture_output=True, text=True, check=False
    )
    assert leaked.stdout == ""
    host = lab.hosts[0].name
    # the instance has it, in a root-only file; no journal line carries it
    mode = ssh(lab, host, ["stat", "-c", "%a %U", "/etc/shipyard/eta/secrets.env"]).strip()
    assert mode == "600 root"
    assert canary in ssh(lab, host, ["cat", "/etc/shipyard/eta/secrets.env"])
    journal = ssh(lab, host, ["journalctl", "--no-pager", "-o", "cat"])
    assert canary not in journal
    world = ssh(
        lab, host, ["sh", "-c", "grep -rl " + canary + " /etc /opt /var/log /tmp 2>/dev/null || true"]
    )
    assert world.strip().splitlines() == ["/etc/shipyard/eta/secrets.env"]
    # verbose runs keep it censored too
    code = cli_main(["status", str(spec), "-i", str(lab.inventory), "--hosts", "lab[0:1]"])
    out, err = capfd.readouterr()
    assert canary not in out + err


def test_status_json_reports_every_instance(
    lab: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = make_spec(tmp_path, name="theta", base=8600, instances=2)
    assert deploy(spec, lab).ok
    assert cli_main(["status", str(spec), "-i", str(lab.inventory), "--hosts", "lab[0:1]", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    seen = {(i["host"], i["port"]) for i in doc["instances"]}
    assert seen == {(h.name, p) for h in lab.hosts[:2] for p in (8600, 8601)}
    for inst in doc["instances"]:
        assert inst["state"] == "active" and inst["release"] == "1.0.0"
        assert inst["pid"] and inst["memory"] and inst["memory"] > 0
        assert inst["restarts"] == 0 and inst["healthy"] is True


def test_scaling_starts_and_stops_exactly_the_difference(lab: Any, tmp_path: Path) -> None:
    host = lab.hosts[0]
    assert deploy(make_spec(tmp_path, name="iota", base=8700, instances=3), lab, hosts=host.name).ok
    pids = {
        p: show(lab, host.name, f"shipyard-iota@{p}.service", "MainPID")["MainPID"] for p in range(8700, 8703)
    }
    five = deploy(make_spec(tmp_path, name="iota", base=8700, instances=5), lab, hosts=host.name)
    assert five.ok
    after = {
        p: show(lab, host.name, f"shipyard-iota@{p}.service", "MainPID")["MainPID"] for p in range(8700, 8705)
    }
    assert all(after[p] == pids[p] for p in pids), "existing instances were restarted"
    assert all(after[p] != "0" for p in (8703, 8704))
    two = deploy(make_spec(tmp_path, name="iota", base=8700, instances=2), lab, hosts=host.name)
    assert two.ok
    final = {
        p: show(lab, host.name, f"shipyard-iota@{p}.service", "MainPID,ActiveState")
        for p in range(8700, 8705)
    }
    assert final[8700]["MainPID"] == pids[8700] and final[8701]["MainPID"] == pids[8701]
    assert [final[p]["ActiveState"] for p in (8702, 8703, 8704)] == ["inactive"] * 3
    assert sorted(i.port for i in two.instances) == [8700, 8701]


def test_remove_frees_units_files_and_ports(lab: Any, tmp_path: Path) -> None:
    host = lab.hosts[0].name
    spec = make_spec(tmp_path, name="kappa", base=8800, instances=2)
    assert deploy(spec, lab, hosts=host).ok
    gone = api.remove(spec, inventory=lab.inventory, hosts=host)
    assert gone.ok and gone.changed > 0
    out = ssh(lab, host, ["sh", "-c", "ls /opt/shipyard /etc/systemd/system; cat /etc/shipyard/ports.json"])
    assert "kappa" not in out
    again = api.remove(spec, inventory=lab.inventory, hosts=host)
    assert again.ok and again.changed == 0
    # the ports can now be claimed by another service
    assert deploy(make_spec(tmp_path, name="lambda-x", base=8800, instances=2), lab, hosts=host).ok


def test_bad_input_touches_nothing(lab: Any, tmp_path: Path) -> None:
    spec = make_spec(tmp_path, name="mu", base=8900, instances=1)
    doc = yaml.safe_load(spec.read_text())
    doc["artifact"]["sha256"] = "f" * 64
    spec.write_text(yaml.safe_dump(doc))
    with pytest.raises(SpecError) as info:
        deploy(spec, lab)
    assert info.value.field == "artifact.sha256"
    # an ansible-playbook user gets no API check: the role refuses on the controller itself
    good = api.render(make_spec(tmp_path, name="mu", base=8900, instances=1))
    for artifact, message in (
        ({"sha256": "f" * 64}, "sha256 mismatch: expected " + "f" * 64),
        ({"path": str(tmp_path / "gone.tar")}, "no such file on the controller"),
    ):
        extravars = dict(good)
        extravars["shipyard_service"] = {
            **good["shipyard_service"],
            "artifact": {**good["shipyard_service"]["artifact"], **artifact},
        }
        result = run_playbook("deploy", inventory=lab.inventory, extravars=extravars, limit="lab[0]")
        assert not result.ok
        assert any(message in f.message and "Rebuild the artifact" in f.message for f in result.failures), (
            result.failures
        )
    out = ssh(lab, lab.hosts[0].name, ["sh", "-c", "ls /opt/shipyard"])
    assert "mu" not in out.split()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))


def test_check_with_diff_prints_what_would_change(lab: LabStatus, tmp_path: Path) -> None:
    """--diff shows the diffs (it was passed to Ansible and never printed); --check writes nothing."""
    from _relia import make_spec as relia_spec

    host = lab.hosts[0]
    spec = relia_spec(tmp_path, name="reldiff", base=10560, instances=1)
    shipyard = str(Path(sys.executable).parent / "shipyard")
    run = subprocess.run(
        [shipyard, "deploy", str(spec), "-i", str(lab.inventory), "--hosts", host.name, "--check", "--diff", "-q"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"--- {host.name}: " in run.stdout
    assert "+++ /etc/shipyard/reldiff/env" in run.stdout  # the env file that would be written
    assert 'HELLO_NAME="reldiff"' in run.stdout
    gone = Lab(lab.name).ssh(host.name, ["test", "-e", "/etc/shipyard/reldiff/env"])
    assert gone.returncode != 0, "check mode wrote the env file"
