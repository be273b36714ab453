"""An application's services on their hosts: status in one playbook run, and the result of
verbs applied service by service (rollback, remove).

``status`` reads every instance of every host service of the app with one
``service_instances_info`` call per host (``playbooks/status.yml`` with
``shipyard_status_services``); lambda and ami services are listed as not on hosts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from shipyard.core.app import App, place
from shipyard.core.errors import OperationError
from shipyard.core.inputs import inventory_path
from shipyard.core.results import Result
from shipyard.core.runner import run_playbook
from shipyard.strategies._options import Options
from shipyard.strategies.multi import INSTANCES_INFO, Failure, Outcome


@dataclass(frozen=True)
class AppInstance:
    """One instance of one service of an app on one host."""

    service: str
    host: str
    #: ``<service>@<port>``: the unit's instance, as the journal names it
    instance: str
    port: int
    #: systemd's ActiveState and SubState
    state: str
    substate: str
    release: str | None
    #: bytes (systemd's MemoryCurrent), None when not accounted
    memory: int | None
    #: nanoseconds of CPU time (CPUUsageNSec), None when not accounted
    cpu_nsec: int | None
    restarts: int | None
    healthy: bool | None
    in_rotation: bool | None = None
    pid: int | None = None


@dataclass(frozen=True)
class AppStatus(Result):
    """Every instance of every host service of an app, from one playbook run."""

    kind: ClassVar[str] = "app-status"

    app: str
    operation: str
    outcome: Outcome
    instances: tuple[AppInstance, ...]
    #: per host: the services placed there
    placement: Mapping[str, tuple[str, ...]]
    #: services that do not run on hosts (lambda, ami): not reported here
    not_on_hosts: tuple[str, ...]
    failures: tuple[Failure, ...]
    duration: float
    run_dir: str

    @property
    def ok(self) -> bool:
        """True when every host answered."""
        return self.outcome is Outcome.OK


@dataclass(frozen=True)
class ServiceOutcome:
    """What a verb did to one service of an app."""

    service: str
    strategy: str
    ok: bool
    #: why the service was not touched (the strategy has no such verb), else None
    skipped: str | None = None
    result: Result | None = None


@dataclass(frozen=True)
class AppResult(Result):
    """A verb applied to an app's services one after another (reverse wave order)."""

    kind: ClassVar[str] = "app"

    app: str
    operation: str
    outcome: Outcome
    services: tuple[ServiceOutcome, ...]

    @property
    def ok(self) -> bool:
        """True when no service failed (skipped ones do not fail)."""
        return self.outcome is Outcome.OK


def status_vars(app: App, placement: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """``shipyard_status_services``: per host, what ``service_instances_info`` reads there."""
    by_name = {s.name: s for s in app.services}
    per_host: dict[str, list[dict[str, Any]]] = {}
    for host, names in placement.items():
        items = []
        for name in names:
            service = by_name[name].spec.service
            items.append(
                {
                    "service": name,
                    "ports": service.port_list(),
                    "health": {"path": service.health.path, "timeout": service.health.timeout},
                }
            )
        per_host[host] = items
    return {"shipyard_status_services": per_host, "shipyard_hosts": ",".join(placement) or "none"}


def _instance(service: str, host: str, inst: Mapping[str, Any]) -> AppInstance:
    state, _, substate = str(inst.get("state") or "unknown").partition("/")
    port = int(inst.get("port", 0))
    return AppInstance(
        service=service,
        host=host,
        instance=f"{service}@{port}",
        port=port,
        state=state,
        substate=substate or "unknown",
        release=inst.get("release"),
        memory=inst.get("memory"),
        cpu_nsec=inst.get("cpu_nsec"),
        restarts=inst.get("restarts"),
        healthy=inst.get("healthy"),
        in_rotation=inst.get("in_rotation"),
        pid=inst.get("pid") or None,
    )


def status(app: App, opts: Options) -> AppStatus:
    """Every instance of every host service of ``app``, in one playbook run.

    Raises:
        SpecErrors: a placement matches no host.
        OperationError: no host matched.
    """
    inv = inventory_path(opts.inventory)
    placement = place(app, inv, limit=opts.hosts)
    if not placement:
        raise OperationError("status: no host matched the app's placements and the --hosts pattern")
    result = run_playbook(
        "status",
        inventory=inv,
        extravars=status_vars(app, placement),
        progress=opts.progress,
        capture=(INSTANCES_INFO,),
        work_dir=opts.work_dir,
    )
    instances: list[AppInstance] = []
    for host in placement:
        res = result.captured.get(host, {}).get(INSTANCES_INFO) or {}
        for report in res.get("services") or []:
            name = str(report.get("service"))
            instances.extend(_instance(name, host, i) for i in report.get("instances") or [])
    order = {name: i for i, name in enumerate(app.names())}
    instances.sort(key=lambda i: (order.get(i.service, 0), list(placement).index(i.host), i.port))
    return AppStatus(
        app=app.name,
        operation="status",
        outcome=Outcome.OK if result.ok else Outcome.FAILED,
        instances=tuple(instances),
        placement={h: tuple(n) for h, n in placement.items()},
        not_on_hosts=tuple(s.name for s in app.services if not s.on_hosts),
        failures=tuple(
            Failure(host=f.host, task=f.task, message=f.message, unreachable=f.unreachable)
            for f in result.failures
        ),
        duration=round(result.duration, 3),
        run_dir=str(Path(result.run_dir)),
    )
