"""Two deploys of the same service to the same host: the second waits for the first, or fails
clearly when it may not wait that long; the two never interleave.

Run A upgrades 1.0.0 -> 2.0.0. The moment A holds the host's lock (its lock task reported ok in
A's event stream), run B starts: B1 may wait 2 s and must fail naming the lock's holder, having
changed nothing; B2 deploys 1.0.0 back and must start its own work only after A released the
lock. Every event of both runs is time-stamped on the controller.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from _relia import make_spec, ssh, version_at

from shipyard import api
from shipyard.core.progress import EventKind, ProgressEvent
from shipyard.core.runner import run_playbook
from shipyard.core.spec import load_spec
from shipyard.lab import LabStatus

pytestmark = pytest.mark.lab

NAME = "relcon"
BASE = 10400
PORTS = [BASE, BASE + 1, BASE + 2]
TAKE = "Take the service's deploy lock"
RELEASE = "Release the service's deploy lock"


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[float, str, ProgressEvent]] = []
        self.lock = threading.Lock()
        self.a_holds = threading.Event()

    def for_run(self, run: str) -> Callable[[ProgressEvent], None]:
        def callback(event: ProgressEvent) -> None:
            with self.lock:
                self.events.append((time.monotonic(), run, event))
            if run == "A" and event.kind is EventKind.OK and (event.task or "").startswith(TAKE):
                self.a_holds.set()

        return callback

    def at(self, run: str, kinds: set[EventKind], task: str | None = None) -> list[float]:
        return [
            t
            for t, r, e in self.events
            if r == run and e.kind in kinds and (task is None or (e.task or "").startswith(task))
        ]


def test_second_deploy_waits_or_fails_clearly_and_never_interleaves(lab: LabStatus, tmp_path: Path) -> None:
    host = lab.hosts[0]
    v1 = make_spec(tmp_path, name=NAME, base=BASE, instances=3)
    v2 = make_spec(tmp_path, name=NAME, version="2.0.0", base=BASE, instances=3)
    assert api.deploy(v1, inventory=lab.inventory, hosts=host.name).ok
    log = Log()
    results: dict[str, object] = {}

    def deploy(run: str, spec: Path) -> None:
        results[run] = api.deploy(spec, inventory=lab.inventory, hosts=host.name, progress=log.for_run(run))

    a = threading.Thread(target=deploy, args=("A", v2), daemon=True)
    a.start()
    assert log.a_holds.wait(180), "run A never took the lock"
    b2 = threading.Thread(target=deploy, args=("B2", v1), daemon=True)
    b2.start()
    # B1: the same deploy, allowed to wait 2 s only: a clear failure, nothing changed
    loaded = load_spec(v1)
    b1 = run_playbook(
        "deploy",
        inventory=lab.inventory,
        extravars={
            "shipyard_service": loaded.to_ansible(),
            "shipyard_hosts": host.name,
            "shipyard_lock_wait": 2,
        },
        progress=log.for_run("B1"),
        work_dir=tmp_path / "work",
    )
    assert not b1.ok
    assert b1.changed == 0
    [failure] = b1.failures
    assert failure.task.startswith(TAKE)
    assert f"service {NAME} is locked on {host.name} by another run (pid " in failure.message
    assert "wait for it to finish, or raise shipyard_lock_wait" in failure.message
    a.join(timeout=600)
    b2.join(timeout=600)
    result_a, result_b2 = results["A"], results["B2"]
    assert isinstance(result_a, api.DeployResult) and isinstance(result_b2, api.DeployResult)
    assert result_a.ok and result_a.changed > 0, result_a.failures
    assert result_b2.ok and result_b2.changed > 0, result_b2.failures

    # never interleaved: B2 asked for the lock while A held it, got it only after A released it,
    # and every change B2 made came after A's last event
    a_released = log.at("A", {EventKind.OK}, RELEASE)
    b2_asked = log.at("B2", {EventKind.TASK}, TAKE)
    b2_got = log.at("B2", {EventKind.OK}, TAKE)
    assert a_released and b2_asked and b2_got
    assert b2_asked[0] < a_released[0] < b2_got[0]
    a_last = max(t for t, r, _ in log.events if r == "A")
    b2_changes = log.at("B2", {EventKind.CHANGED})
    assert b2_changes and min(b2_changes) > a_last
    assert not any(t > a_released[0] for t in log.at("A", {EventKind.CHANGED}))
    # the last deploy wins, whole: every instance runs 1.0.0, and no lock is left
    assert [version_at(host.address, p) for p in PORTS] == ["1.0.0"] * 3
    assert f"{NAME}.json" not in ssh(lab, host.name, ["ls", "/run/shipyard/locks"])
