"""Two deploys of the same service to the same host: the second waits for the first, or fails
clearly when it may not wait that long; the two never interleave.

Run A upgrades 1.0.0 -> 2.0.0. The moment A holds the host's lease (its lease file is on the
host, seen over ssh), run B starts: B1 may wait 2 s and must fail naming the lease's holder,
having changed nothing; B2 deploys 1.0.0 back and must start its own work only after A
released the lease. The converge takes and drops the lease inside its one module call, so the
times come from the host (``lock.acquired`` / ``lock.released`` in the converge's result);
the lab's hosts share the controller's clock, so they compare with the controller's event
times.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from _relia import make_spec, ssh, version_at

from shipyard.core.progress import EventKind, ProgressEvent
from shipyard.core.runner import PlaybookResult, run_playbook
from shipyard.core.spec import load_spec
from shipyard.lab import Lab, LabStatus
from shipyard.strategies.multi import CONVERGE

pytestmark = pytest.mark.lab

NAME = "relcon"
BASE = 10400
PORTS = [BASE, BASE + 1, BASE + 2]
CONVERGE_TASK = "Converge the service on the host"


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[float, str, ProgressEvent]] = []
        self.lock = threading.Lock()

    def for_run(self, run: str) -> Callable[[ProgressEvent], None]:
        def callback(event: ProgressEvent) -> None:
            with self.lock:
                self.events.append((time.time(), run, event))

        return callback

    def at(self, run: str, kinds: set[EventKind], task: str | None = None) -> list[float]:
        return [
            t
            for t, r, e in self.events
            if r == run and e.kind in kinds and (task is None or (e.task or "").startswith(task))
        ]


def deploy(
    lab: LabStatus, spec: Path, host: str, log: Log, run: str, work: Path, **extra: Any
) -> PlaybookResult:
    loaded = load_spec(spec)
    return run_playbook(
        "deploy",
        inventory=lab.inventory,
        extravars={"shipyard_service": loaded.to_ansible(), "shipyard_hosts": host, **extra},
        progress=log.for_run(run),
        capture=(CONVERGE,),
        work_dir=work,
    )


def slow(spec: Path) -> Path:
    """Each instance takes 3 s to start, so a deploy's rolling restart holds the lease for 9 s or
    more: long enough for the other runs to meet it (the converge is otherwise sub-second)."""
    doc = yaml.safe_load(spec.read_text())
    doc["command"] = ["/bin/sh", "-c", 'sleep 3; exec /usr/bin/python3 server.py --port "$PORT"']
    spec.write_text(yaml.safe_dump(doc))
    return spec


def lease_times(result: PlaybookResult, host: str) -> dict[str, float]:
    return dict(result.captured[host][CONVERGE]["lock"][NAME])


def test_second_deploy_waits_or_fails_clearly_and_never_interleaves(lab: LabStatus, tmp_path: Path) -> None:
    host = lab.hosts[0]
    v1, v2 = (
        slow(make_spec(tmp_path, name=NAME, version=v, base=BASE, instances=3)) for v in ("1.0.0", "2.0.0")
    )
    log = Log()
    assert deploy(lab, v1, host.name, log, "first", tmp_path / "w0").ok
    results: dict[str, PlaybookResult] = {}

    def run(name: str, spec: Path) -> None:
        results[name] = deploy(lab, spec, host.name, log, name, tmp_path / name)

    a = threading.Thread(target=run, args=("A", v2), daemon=True)
    a.start()
    lease = f"/run/shipyard/locks/{NAME}.json"
    deadline = time.monotonic() + 180
    while Lab(lab.name).ssh(host.name, ["test", "-e", lease], timeout=30).returncode != 0:
        assert time.monotonic() < deadline, "run A never took the lease"
        assert a.is_alive(), results
        time.sleep(0.05)
    b2 = threading.Thread(target=run, args=("B2", v1), daemon=True)
    b2.start()
    # B1: the same deploy, allowed to wait 2 s only: a clear failure, nothing changed
    b1 = deploy(lab, v1, host.name, log, "B1", tmp_path / "b1", shipyard_lock_wait=2)
    assert not b1.ok
    assert b1.changed == 0
    [failure] = b1.failures
    assert failure.task.startswith(CONVERGE_TASK)
    assert f"service {NAME} is locked on {host.name} by another run (pid " in failure.message
    assert "wait for it to finish, or raise shipyard_lock_wait" in failure.message
    a.join(timeout=600)
    b2.join(timeout=600)
    result_a, result_b2 = results["A"], results["B2"]
    assert result_a.ok and result_a.changed > 0, result_a.failures
    assert result_b2.ok and result_b2.changed > 0, result_b2.failures

    # never interleaved: B2 asked for the lease while A held it, got it only after A released
    # it, and all of B2's work (under its lease) came after A's last change
    a_lease, b2_lease = lease_times(result_a, host.name), lease_times(result_b2, host.name)
    b2_asked = log.at("B2", {EventKind.TASK}, CONVERGE_TASK)
    assert b2_asked
    assert b2_asked[0] < a_lease["released"] < b2_lease["acquired"]
    assert a_lease["acquired"] < a_lease["released"]
    a_actions = result_a.captured[host.name][CONVERGE]["services"][NAME]["actions"]
    assert a_actions, "run A changed nothing"
    # the last deploy wins, whole: every instance runs 1.0.0, and no lease is left
    assert [version_at(host.address, p) for p in PORTS] == ["1.0.0"] * 3
    assert f"{NAME}.json" not in ssh(lab, host.name, ["ls", "/run/shipyard/locks"])
