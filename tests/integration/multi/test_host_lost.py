"""A host lost mid-deploy: one of three lab hosts is powered off while the deploy runs on it.

The deploy reaches the lost host (a watcher on it returns once the new release's artifact has
been copied there, and freezes the host's converge from then on, so the host cannot finish the
deploy in the second a power-off takes), then ``Lab.stop_host`` powers it off. The other two hosts finish (one failed host
in three is within the spec's ``max_fail_percentage: 34``), the result names the unreachable
host, and after ``Lab.start_host`` a rerun converges and the run after it changes nothing.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from _interrupt import FREEZE, THAW_BY_KILL
from _relia import make_spec, version_at

from shipyard import api
from shipyard.lab import Lab, LabStatus

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NAME = "rellost"
BASE = 10300
PORTS = [BASE, BASE + 1]
ROLLOUT = {"serial": "100%", "max_fail_percentage": 34, "max_unavailable": 1}


def test_a_host_lost_mid_deploy_fails_alone_and_a_rerun_converges(
    lab: LabStatus, lab_api: Lab, tmp_path: Path
) -> None:
    v1 = make_spec(tmp_path, name=NAME, base=BASE, rollout=ROLLOUT)
    v2 = make_spec(tmp_path, name=NAME, version="2.0.0", base=BASE, rollout=ROLLOUT)
    hosts = lab.hosts[:3]
    lost = hosts[2]
    first = api.deploy(v1, inventory=lab.inventory, hosts="lab")
    assert first.ok, first.failures

    results: dict[str, api.DeployResult] = {}

    def run() -> None:
        result = api.deploy(v2, inventory=lab.inventory, hosts="lab")
        assert isinstance(result, api.DeployResult)
        results["v2"] = result

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        staged = f"/root/.ansible/tmp/*/{NAME}.artifact"
        watch = (
            f"end=$(($(date +%s)+240)); until ls {staged} >/dev/null 2>&1; "
            "do [ $(date +%s) -gt $end ] && exit 3; sleep 0.01; done; " + FREEZE
        )
        reached = lab_api.ssh(lost.name, ["sh", "-c", watch], timeout=270)
        assert reached.returncode == 0, "the deploy never reached the host"
        lab_api.stop_host(lost.name)
        thread.join(timeout=600)
        assert not thread.is_alive(), "the deploy did not finish with a host gone"
        result = results["v2"]
        # the lost host is named, as unreachable; the others finished the upgrade
        assert not result.ok
        assert [h.host for h in result.hosts if h.unreachable] == [lost.name], result.hosts
        assert {f.host for f in result.failures} == {lost.name}
        assert any(f.unreachable for f in result.failures)
        for host in hosts[:2]:
            assert [version_at(host.address, p) for p in PORTS] == ["2.0.0", "2.0.0"], host.name
        assert {(i.host, i.release) for i in result.instances} == {(h.name, "2.0.0") for h in hosts[:2]}
    finally:
        thread.join(timeout=600)
        lab_api.start_host(lost.name)
        lab_api.ssh(lost.name, ["sh", "-c", THAW_BY_KILL])  # a no-op after the power-off

    # back up: it serves what it ran before (units enabled at boot), and a rerun converges
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and None in [version_at(lost.address, p) for p in PORTS]:
        time.sleep(0.5)
    assert None not in [version_at(lost.address, p) for p in PORTS]
    rerun = api.deploy(v2, inventory=lab.inventory, hosts="lab")
    assert rerun.ok, rerun.failures
    assert rerun.changed > 0
    assert {(i.host, i.port, i.release, i.state) for i in rerun.instances} == {
        (h.name, p, "2.0.0", "active") for h in hosts for p in PORTS
    }
    again = api.deploy(v2, inventory=lab.inventory, hosts="lab")
    assert again.ok and again.changed == 0, again.hosts
