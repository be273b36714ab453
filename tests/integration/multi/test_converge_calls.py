"""The cost model of a deploy: remote executions per host, counted by the converge itself.

A no-op is one module call per host; a first deploy or an upgrade is two module calls plus
the artifact's copy (temp dir, copy, cleanup). Hooks run where a play asks for them, and a
play without hooks includes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _relia import make_spec, version_at

from shipyard.core.progress import EventKind, ProgressEvent
from shipyard.core.runner import PlaybookResult, run_playbook
from shipyard.core.spec import load_spec
from shipyard.lab import LabStatus
from shipyard.strategies.multi import CONVERGE

pytestmark = pytest.mark.lab

NAME = "calls"
BASE = 10600


def deploy(
    lab: LabStatus, spec: Path, work: Path, events: list[ProgressEvent] | None = None, **extra: Any
) -> PlaybookResult:
    return run_playbook(
        "deploy",
        inventory=lab.inventory,
        extravars={"shipyard_service": load_spec(spec).to_ansible(), "shipyard_hosts": "lab[0:1]", **extra},
        progress=events.append if events is not None else None,
        capture=(CONVERGE,),
        work_dir=work,
    )


def calls(result: PlaybookResult) -> dict[str, dict[str, Any]]:
    return {host: res[CONVERGE]["calls"] for host, res in result.captured.items()}


def test_a_noop_is_one_remote_call_per_host_and_a_deploy_two_plus_the_copy(
    lab: LabStatus, tmp_path: Path
) -> None:
    v1 = make_spec(tmp_path, name=NAME, base=BASE, instances=3)
    v2 = make_spec(tmp_path, name=NAME, version="2.0.0", base=BASE, instances=3)
    hosts = [h.name for h in lab.hosts[:2]]

    first = deploy(lab, v1, tmp_path / "w1")
    assert first.ok, first.failures
    for host in hosts:
        assert calls(first)[host]["module"] == 2
        assert calls(first)[host]["copies"] == [NAME]
        assert calls(first)[host]["remote"] == 5  # 2 calls + temp dir + copy + cleanup

    events: list[ProgressEvent] = []
    noop = deploy(lab, v1, tmp_path / "w2", events)
    assert noop.ok and noop.changed == 0, noop.failures
    assert {h: (c["module"], c["remote"], c["copies"]) for h, c in calls(noop).items()} == dict.fromkeys(
        hosts, (1, 1, [])
    )
    # no hooks given: the hook tasks are skipped, nothing is included
    tasks = [e.task for e in events if e.kind is EventKind.OK]
    assert all((t or "").startswith("Converge the service") for t in tasks), tasks
    assert not any("included" in (e.message or "") for e in events)

    # Ansible's own module execution (AnsiballZ) gives the same answer as the lean runner
    for runner in ("module", "lean"):
        again = deploy(lab, v1, tmp_path / f"w-{runner}", shipyard_converge_runner=runner)
        assert again.ok and again.changed == 0, again.failures
        for host in hosts:
            res = again.captured[host][CONVERGE]
            assert res["runner"] == runner and res["calls"]["module"] == 1
            assert [(i["port"], i["release"]) for i in res["instances"]] == [
                (BASE + i, "1.0.0") for i in range(3)
            ]

    upgrade = deploy(lab, v2, tmp_path / "w3")
    assert upgrade.ok and upgrade.changed > 0, upgrade.failures
    assert {h: c["module"] for h, c in calls(upgrade).items()} == dict.fromkeys(hosts, 2)
    for host in lab.hosts[:2]:
        assert [version_at(host.address, BASE + i) for i in range(3)] == ["2.0.0"] * 3


def test_hooks_run_before_after_and_per_host(lab: LabStatus, tmp_path: Path) -> None:
    spec = make_spec(tmp_path, name="hooked", base=BASE + 50, instances=1)
    files = {}
    for hook in ("before", "after", "health"):
        files[hook] = tmp_path / f"{hook}.yml"
        files[hook].write_text(
            f"- name: Hook {hook}\n"
            "  ansible.builtin.command: /bin/true\n"
            "  changed_when: false\n"
            + ("  when: shipyard_converge.services.hooked.current == '1.0.0'\n" if hook != "before" else "")
        )
    events: list[ProgressEvent] = []
    result = deploy(
        lab,
        spec,
        tmp_path / "w",
        events,
        shipyard_before_converge_tasks=str(files["before"]),
        shipyard_after_converge_tasks=str(files["after"]),
        shipyard_health_tasks=str(files["health"]),
    )
    assert result.ok, result.failures
    ran = [(e.task, e.host) for e in events if e.kind is EventKind.OK and (e.task or "").startswith("Hook ")]
    hosts = {h.name for h in lab.hosts[:2]}
    for hook in ("before", "after", "health"):
        assert {h for t, h in ran if t == f"Hook {hook}"} == hosts, ran
    order = [t for t, _ in ran]
    assert order.index("Hook before") < order.index("Hook after") < order.index("Hook health")
