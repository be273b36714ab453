"""Zero-downtime rolling upgrades under load: the multi strategy behind a per-host HAProxy.

A bounded load generator (threads, HTTP/1.1 keep-alive) hits both lab hosts' balancers while
the service goes 1.0.0 -> 2.0.0 and then 2.0.0 -> 9.9.9-broken; every response is recorded.
Lab-host addresses only; at most MAX_REQUESTS requests and MAX_SECONDS seconds per phase.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from _hello import DIST, sha
from _load import MAX_REQUESTS, Load, failures, summary

from shipyard import api
from shipyard.cli import main as cli_main
from shipyard.lab import Lab

BASE_PORT = 9400
LB_PORT = 9480
INSTANCES = 4

pytestmark = pytest.mark.lab


def make_spec(
    tmp: Path,
    *,
    name: str,
    version: str,
    base: int,
    balancer: int | None,
    rollout: dict[str, Any] | None = None,
) -> Path:
    doc: dict[str, Any] = {
        "name": name,
        "version": version,
        "artifact": {"path": str(DIST / f"hello-{version}.tar"), "sha256": sha(version)},
        "command": "/usr/bin/python3 server.py --port {port}",
        "instances": INSTANCES,
        "ports": {"base": base},
        "resources": {"memory": "64M", "cpu": "50%", "tasks": 64},
        "health": {"path": "/health", "timeout": 2, "interval": 0.2, "start_timeout": 5},
        "keep_releases": 3,
    }
    if balancer is not None:
        doc["balancer"] = {"port": balancer, "drain_timeout": 5}
    if rollout is not None:
        doc["rollout"] = rollout
    path = tmp / f"{name}-{version}.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def instances_on(lab_api: Lab, host: str, service: str, base: int) -> dict[int, tuple[str, str]]:
    """port -> (release the process runs, MainPID) for each instance on ``host``."""
    out = {}
    for port in range(base, base + INSTANCES):
        unit = f"shipyard-{service}@{port}.service"
        script = (
            f"pid=$(systemctl show -p MainPID --value {unit}); echo $pid; readlink /proc/$pid/cwd || true"
        )
        lines = lab_api.ssh(host, ["sh", "-c", script]).stdout.split()
        out[port] = (lines[1].rsplit("/", 1)[-1] if len(lines) > 1 else "", lines[0] if lines else "")
    return out


def test_upgrade_under_load_drops_no_request(
    lab: Any, lab_api: Lab, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    hosts = "lab[0:1]"
    addresses = [h.address for h in lab.hosts[:2]]
    names = [h.name for h in lab.hosts[:2]]
    first = api.deploy(
        make_spec(tmp_path, name="zd", version="1.0.0", base=BASE_PORT, balancer=LB_PORT),
        inventory=lab.inventory,
        hosts=hosts,
    )
    assert first.ok, first.failures
    assert {(i.release, i.in_rotation) for i in first.instances} == {("1.0.0", True)}
    assert len(first.instances) == 2 * INSTANCES

    # v1 -> v2 under continuous load (12 s of load first: the upgrade itself is one converge
    # call per host now, and the run must still see at least 3000 requests in all)
    load = Load(addresses, LB_PORT).start()
    time.sleep(12)
    upgrade = api.deploy(
        make_spec(tmp_path, name="zd", version="2.0.0", base=BASE_PORT, balancer=LB_PORT),
        inventory=lab.inventory,
        hosts=hosts,
    )
    returned = time.monotonic()
    time.sleep(2)
    responses = load.finish()
    assert upgrade.ok, upgrade.failures
    with capfd.disabled():
        print(f"v1 -> v2: {summary(responses)}")
    assert failures(responses) == [], summary(responses)
    assert len(responses) >= 3000, summary(responses)
    assert len(responses) <= MAX_REQUESTS
    after = [r for r in responses if r.started > returned]
    assert after, "no request after the deploy returned"
    assert {r.version for r in after} == {"2.0.0"}, summary(after)
    assert {r.version for r in responses} == {"1.0.0", "2.0.0"}
    assert {(i.release, i.in_rotation) for i in upgrade.instances} == {("2.0.0", True)}

    # v2 -> a version that fails its health check, under continuous load
    pids = {name: instances_on(lab_api, name, "zd", BASE_PORT) for name in names}
    load = Load(addresses, LB_PORT).start()
    time.sleep(2)
    bad = make_spec(tmp_path, name="zd", version="9.9.9-broken", base=BASE_PORT, balancer=LB_PORT)
    code = cli_main(["deploy", str(bad), "-i", str(lab.inventory), "--hosts", hosts, "--quiet"])
    out, err = capfd.readouterr()
    time.sleep(2)
    responses = load.finish()
    with capfd.disabled():
        print(f"v2 -> 9.9.9-broken: {summary(responses)}")
    assert code == 1, out + err
    assert f"shipyard-zd@{BASE_PORT}.service" in out + err, out + err
    assert "failed its health check" in out + err
    assert failures(responses) == [], summary(responses)
    assert len(responses) >= 1000, summary(responses)
    assert {r.version for r in responses} == {"2.0.0"}, "the broken version got traffic"
    for name in names:
        now = instances_on(lab_api, name, "zd", BASE_PORT)
        assert {release for release, _ in now.values()} == {"2.0.0"}, (name, now)
        # only the failing instance was restarted (and restarted back)
        same = [p for p in now if now[p][1] == pids[name][p][1]]
        assert len(same) == INSTANCES - 1, (name, now, pids[name])

    # status shows every instance back on 2.0.0 and in rotation
    status = api.status(
        make_spec(tmp_path, name="zd", version="2.0.0", base=BASE_PORT, balancer=LB_PORT),
        inventory=lab.inventory,
        hosts=hosts,
    )
    assert {(i.release, i.in_rotation) for i in status.instances} == {("2.0.0", True)}
    code = cli_main(["status", str(bad), "-i", str(lab.inventory), "--hosts", hosts])
    out, _ = capfd.readouterr()
    assert code == 0
    assert "rotat" in out  # the "in rotation" column (rich may wrap or cut the header)


def test_serial_batches_stop_at_the_first_failed_host(
    lab: Any, lab_api: Lab, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    rollout = {"serial": 1, "max_fail_percentage": 0}
    base = 9500
    good = make_spec(tmp_path, name="zs", version="1.0.0", base=base, balancer=None, rollout=rollout)
    first = api.deploy(good, inventory=lab.inventory, hosts="lab")
    assert first.ok, first.failures
    names = [h.name for h in lab.hosts]
    assert len(names) == 3
    before = {name: instances_on(lab_api, name, "zs", base) for name in names}
    bad = make_spec(tmp_path, name="zs", version="9.9.9-broken", base=base, balancer=None, rollout=rollout)
    code = cli_main(["deploy", str(bad), "-i", str(lab.inventory), "--hosts", "lab", "--quiet"])
    out, err = capfd.readouterr()
    assert code == 1, out + err
    assert f"shipyard-zs@{base}.service" in out + err
    first_host, *others = sorted(names)
    assert first_host in out + err
    for name in names:
        current = lab_api.ssh(name, ["readlink", "/opt/shipyard/zs/current"]).stdout.strip()
        assert current.endswith("/1.0.0"), (name, current)
        now = instances_on(lab_api, name, "zs", base)
        assert {release for release, _ in now.values()} == {"1.0.0"}, (name, now)
    for name in others:  # never touched: same processes, no broken release on the host
        assert instances_on(lab_api, name, "zs", base) == before[name]
        ls = lab_api.ssh(name, ["ls", "/opt/shipyard/zs/releases"]).stdout.split()
        assert "9.9.9-broken" not in ls, (name, ls)
