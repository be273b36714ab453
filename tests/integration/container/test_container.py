"""The container strategy on real lab hosts: instances as runc containers under systemd.

Each deploy builds the example's image, pushes it to the lab's registry and the hosts pull it
by digest; 3 instances on each of 2 lab hosts run as containers (runc inside the hosts, limits
enforced through the delegated cgroups), then: a re-run changes nothing; an
upgrade under bounded load drops no request; a failing image is rolled back while the old one
keeps serving; rollback and remove; an instance over its memory limit is killed by the kernel
(the OOM event is read from the machine's kernel log) and restarted while its siblings answer.

Service names start with ``ctr`` and ports are 9600-9799, apart from the other tests' services.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from _hello import DIST, sha
from _load import Load, failures, summary

from shipyard import api
from shipyard.cli import main as cli_main
from shipyard.lab import Lab, LabStatus

HOSTS = "lab[0:1]"
INSTANCES = 3
#: bounds of one load phase: a container deploy builds, pushes and pulls its image first
LOAD_SECONDS = 600.0
LOAD_REQUESTS = 400_000

pytestmark = pytest.mark.lab


def make_spec(tmp: Path, *, name: str, version: str, base: int, balancer: int | None = None) -> Path:
    doc: dict[str, Any] = {
        "name": name,
        "version": version,
        "strategy": "container",
        "artifact": {"path": str(DIST / f"hello-{version}.tar"), "sha256": sha(version)},
        "command": "/usr/bin/python3 server.py --port {port}",
        "instances": INSTANCES,
        "ports": {"base": base},
        "env": {"HELLO_NAME": name, "HELLO_DEBUG_ENDPOINTS": "1"},
        "resources": {"memory": "64M", "cpu": "50%", "tasks": 64},
        "health": {"path": "/health", "timeout": 2, "interval": 0.2, "start_timeout": 20},
        "keep_releases": 3,
        "container": {"read_only": True},
    }
    if balancer is not None:
        doc["balancer"] = {"port": balancer, "drain_timeout": 5}
    path = tmp / f"{name}-{version}.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def digest_of(spec: Path) -> str:
    """The digest of the spec's image (builds are reproducible: the one deploy pushed)."""
    return api.build(spec).digest


def ssh(lab_api: Lab, host: str, argv: list[str]) -> str:
    proc = lab_api.ssh(host, argv, timeout=60)
    assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)
    return proc.stdout


def get(address: str, port: int, path: str = "/health", timeout: float = 3) -> int | None:
    try:
        with urllib.request.urlopen(f"http://{address}:{port}{path}", timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, urllib.error.URLError):
        return None


def containers(lab_api: Lab, host: str, name: str) -> dict[str, str]:
    """runc container id -> status, for the service's containers on ``host``."""
    out = ssh(lab_api, host, ["runc", "list", "-q"]).split()
    found = {}
    for cid in out:
        if re.fullmatch(rf"shipyard-{name}-\d+", cid):
            state = lab_api.ssh(host, ["runc", "state", cid], timeout=30).stdout
            found[cid] = "running" if '"running"' in state else state
    return found


def test_container_lifecycle(
    lab: LabStatus, lab_api: Lab, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    name, base, lb = "ctr", 9600, 9680
    hosts = lab.hosts[:2]
    v1 = make_spec(tmp_path, name=name, version="1.0.0", base=base, balancer=lb)
    v2 = make_spec(tmp_path, name=name, version="2.0.0", base=base, balancer=lb)

    # image built, pushed to the lab's registry, pulled by digest: 3 containers per host, each
    # healthy, with its container id and image digest
    first = api.deploy(v1, inventory=lab.inventory, hosts=HOSTS, strategy="container")
    assert first.ok, first.failures
    assert len(first.instances) == 2 * INSTANCES
    for inst in first.instances:
        assert (inst.state, inst.release, inst.healthy) == ("active", "1.0.0", True), inst
        assert inst.container == f"shipyard-{name}-{inst.port}", inst
        assert inst.image == digest_of(v1), inst
        assert inst.memory and inst.memory > 1_000_000, inst  # the unit's cgroup covers the container
    for host in hosts:
        assert containers(lab_api, host.name, name) == {
            f"shipyard-{name}-{p}": "running" for p in range(base, base + INSTANCES)
        }
        for port in range(base, base + INSTANCES):
            assert get(host.address, port) == 200, (host.name, port)
        # the container runs as nobody, without capabilities, on a read-only root
        pid = ssh(lab_api, host.name, ["sh", "-c", f"runc state shipyard-{name}-{base} | grep '\"pid\"'"])
        pid = re.sub(r"\D", "", pid)
        status = ssh(lab_api, host.name, ["cat", f"/proc/{pid}/status"])
        assert re.search(r"^Uid:\s+65534\b", status, re.M), status
        assert re.search(r"^CapEff:\s+0+$", status, re.M), status
        assert re.search(r"^NoNewPrivs:\s+1$", status, re.M), status
        mounts = ssh(lab_api, host.name, ["cat", f"/proc/{pid}/mounts"]).splitlines()
        root = [m for m in mounts if m.split()[1] == "/"]
        assert root and "ro" in root[-1].split()[3].split(","), root
        limit = ssh(lab_api, host.name, ["sh", "-c",
                    f"cat /sys/fs/cgroup/memory/system.slice/*/shipyard-{name}@{base}.service/"
                    f"shipyard-{name}-{base}/memory.limit_in_bytes"])  # fmt: skip
        assert limit.strip() == str(64 * 1024 * 1024)

    # a re-run changes nothing
    again = api.deploy(v1, inventory=lab.inventory, hosts=HOSTS, strategy="container")
    assert again.ok, again.failures
    assert again.changed == 0, [h for h in again.hosts if h.changed]

    # 1.0.0 -> 2.0.0 under continuous load through each host's balancer: no failed request
    addresses = [h.address for h in hosts]
    digest_of(v2)  # built before the load starts (a deploy also pushes and pulls: allow minutes)
    load = Load(addresses, lb, max_seconds=LOAD_SECONDS, max_requests=LOAD_REQUESTS).start()
    time.sleep(2)
    upgrade = api.deploy(v2, inventory=lab.inventory, hosts=HOSTS, strategy="container")
    returned = time.monotonic()
    time.sleep(2)
    responses = load.finish()
    assert upgrade.ok, upgrade.failures
    with capfd.disabled():
        print(f"container 1.0.0 -> 2.0.0: {summary(responses)}")
    assert failures(responses) == [], summary(responses)
    assert len(responses) >= 1000, summary(responses)
    assert {r.version for r in responses} == {"1.0.0", "2.0.0"}
    assert {r.version for r in responses if r.started > returned} == {"2.0.0"}
    assert {(i.release, i.image, i.healthy) for i in upgrade.instances} == {("2.0.0", digest_of(v2), True)}

    # an image that fails its health check is rolled back; the old one keeps serving
    load = Load(addresses, lb, max_seconds=LOAD_SECONDS, max_requests=LOAD_REQUESTS).start()
    time.sleep(1)
    bad = make_spec(tmp_path, name=name, version="9.9.9-broken", base=base, balancer=lb)
    code = cli_main(["deploy", str(bad), "--strategy", "container", "-i", str(lab.inventory),
                     "--hosts", HOSTS, "--quiet"])  # fmt: skip
    out, err = capfd.readouterr()
    time.sleep(1)
    responses = load.finish()
    with capfd.disabled():
        print(f"container 2.0.0 -> 9.9.9-broken: {summary(responses)}")
    assert code == 1, out + err
    assert "failed its health check" in out + err
    assert f"shipyard-{name}@{base}.service" in out + err
    assert failures(responses) == [], summary(responses)
    assert {r.version for r in responses} == {"2.0.0"}, "the broken image got traffic"
    status = api.status(bad, inventory=lab.inventory, hosts=HOSTS)
    assert {(i.release, i.image, i.healthy) for i in status.instances} == {("2.0.0", digest_of(v2), True)}
    for host in hosts:
        current = ssh(lab_api, host.name, ["readlink", f"/opt/shipyard/{name}/current"]).strip()
        assert current.endswith("/2.0.0"), current

    # rollback goes to the previous image (1.0.0), health-gated
    back = api.rollback(bad, inventory=lab.inventory, hosts=HOSTS)
    assert back.ok, back.failures
    assert {(i.release, i.image, i.healthy) for i in back.instances} == {("1.0.0", digest_of(v1), True)}

    # remove leaves no container, bundle or unit
    gone = api.remove(bad, inventory=lab.inventory, hosts=HOSTS)
    assert gone.ok, gone.failures
    for host in hosts:
        assert containers(lab_api, host.name, name) == {}
        left = ssh(lab_api, host.name, ["sh", "-c",
                   f"ls -d /opt/shipyard/{name} /etc/systemd/system/shipyard-{name}@.service "
                   f"/sys/fs/cgroup/memory/system.slice/*/shipyard-{name}@* "
                   f"/sys/fs/cgroup/cpuset/shipyard-{name}-* 2>/dev/null; true"])  # fmt: skip
        assert left.strip() == "", left
        for port in range(base, base + INSTANCES):
            assert get(host.address, port) is None


def oom_lines(lab_name: str, unit: str) -> set[str]:
    """The machine's kernel log lines about OOM kills in ``unit``'s cgroup in lab ``lab_name``."""
    log = subprocess.run(["dmesg"], capture_output=True, text=True, check=True, timeout=30).stdout
    return {
        line
        for line in log.splitlines()
        if "oom_memcg=" in line and f"shipyard-lab/{lab_name}/" in line and f"/{unit}/" in line
    }


def test_memory_limit_is_enforced_and_only_the_offender_restarts(
    lab: LabStatus, lab_api: Lab, tmp_path: Path
) -> None:
    name, base = "ctrmem", 9700
    spec = make_spec(tmp_path, name=name, version="1.0.0", base=base)
    first = api.deploy(spec, inventory=lab.inventory, hosts=HOSTS, strategy="container")
    assert first.ok, first.failures
    host = lab.hosts[0]
    victim, siblings = base, [base + 1, base + 2]
    unit = f"shipyard-{name}@{victim}.service"
    before = oom_lines(lab.name, unit)

    # the siblings are polled all along; every answer must be 200
    answers: list[int | None] = []
    stop = threading.Event()

    def poll() -> None:
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            answers.extend(get(host.address, p) for p in siblings)
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        # 200 MiB in a 64 MiB container: the kernel kills it mid-request
        assert get(host.address, victim, "/debug/allocate?mb=200", timeout=30) is None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (oom_lines(lab.name, unit) - before):
            time.sleep(0.5)
        events = oom_lines(lab.name, unit) - before
        assert events, "no OOM kill of the container's cgroup in the kernel log"
        assert any(f"/{unit}/shipyard-{name}-{victim}," in line for line in events), events
        # systemd restarts the unit, the container answers again
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and get(host.address, victim) != 200:
            time.sleep(0.5)
        assert get(host.address, victim) == 200
        time.sleep(1)
    finally:
        stop.set()
        poller.join(timeout=15)
    assert len(answers) >= 20, answers
    assert set(answers) == {200}, f"a sibling failed while its neighbour was OOM-killed: {answers}"

    status = api.status(spec, inventory=lab.inventory, hosts=host.name)
    by_port = {i.port: i for i in status.instances}
    assert by_port[victim].restarts and by_port[victim].restarts >= 1, by_port[victim]
    assert by_port[victim].healthy is True
    assert [by_port[p].restarts for p in siblings] == [0, 0]
    assert api.remove(spec, inventory=lab.inventory, hosts=HOSTS).ok
