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

from shipyard.core.app import App, place, waves
from shipyard.core.errors import OperationError
from shipyard.core.inputs import inventory_path
from shipyard.core.results import Result
from shipyard.core.runner import run_playbook
from shipyard.strategies._options import Options
from shipyard.strategies.multi import CONVERGE, INSTANCES_INFO, Failure, Outcome, failure_of


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
        failures=tuple(failure_of(f) for f in result.failures),
        duration=round(result.duration, 3),
        run_dir=str(Path(result.run_dir)),
    )


# -- deploy: every host service of the app in one playbook run ----------------------------------


@dataclass(frozen=True)
class ServiceDeploy:
    """What an app deploy did to one service."""

    service: str
    strategy: str
    #: ok | changed | failed | skipped
    state: str
    hosts: tuple[str, ...] = ()
    message: str | None = None
    #: the services this one waited for that failed or were skipped (when skipped)
    blocked_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class AppDeployResult(Result):
    """The outcome of ``shipyard deploy APP``: every service's, and the run's cost."""

    kind: ClassVar[str] = "app-deploy"

    app: str
    operation: str
    outcome: Outcome
    check: bool
    services: tuple[ServiceDeploy, ...]
    waves: tuple[tuple[str, ...], ...]
    placement: Mapping[str, tuple[str, ...]]
    #: remote executions per host (the converge's own count, summed over waves)
    remote_calls: Mapping[str, int]
    failures: tuple[Failure, ...]
    duration: float
    run_dir: str

    @property
    def ok(self) -> bool:
        """True when no service failed or was skipped."""
        return self.outcome is Outcome.OK

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(s.service for s in self.services if s.state == "failed")

    @property
    def skipped(self) -> tuple[str, ...]:
        return tuple(s.service for s in self.services if s.state == "skipped")


def host_plan(
    app: App, placement: Mapping[str, Sequence[str]], extra: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """``shipyard_app``: the waves of the app's host services, where each runs, and each one's
    normalized spec (``extra``: per service the converge's runtime, image and container)."""
    on_hosts = {s.name for s in app.services if s.on_hosts}
    host_waves = [[n for n in wave if n in on_hosts] for wave in waves(app)]
    services: dict[str, Any] = {}
    for svc in app.services:
        if svc.name in on_hosts:
            services[svc.name] = {
                **svc.spec.to_ansible(),
                "release": svc.spec.service.version,
                **dict(extra.get(svc.name) or {}),
            }
    return {
        "name": app.name,
        "waves": [w for w in host_waves if w],
        "placement": {h: [n for n in names if n in on_hosts] for h, names in placement.items()},
        "depends_on": {s.name: list(s.depends_on) for s in app.services},
        "services": services,
    }


def _outcomes(app: App, plan: Mapping[str, Any], result: Any) -> tuple[list[ServiceDeploy], dict[str, int]]:
    """Each host service's state from the converge results of every wave on every host."""
    per: dict[str, dict[str, list[str]]] = {}
    messages: dict[str, str] = {}
    calls: dict[str, int] = {}
    for host, actions in result.captured_all.items():
        for res in actions.get(CONVERGE, ()):
            calls[host] = calls.get(host, 0) + int((res.get("calls") or {}).get("remote") or 0)
            for name, one in (res.get("services") or {}).items():
                state = "failed" if one.get("failed") else ("changed" if one.get("changed") else "ok")
                per.setdefault(name, {}).setdefault(state, []).append(host)
                if one.get("failed") and one.get("msg"):
                    messages.setdefault(name, f"{host}: {one['msg']}")
    unreachable = {f.host for f in result.failures if f.unreachable}
    failed_names = {n for n, states in per.items() if "failed" in states}
    for host in unreachable:
        for name in plan["placement"].get(host, []):
            failed_names.add(name)
            per.setdefault(name, {}).setdefault("failed", []).append(host)
            messages.setdefault(name, f"{host}: unreachable")
    depends = plan["depends_on"]
    blocked: set[str] = set(failed_names)
    for wave in waves(app):
        for name in wave:
            if set(depends.get(name) or []) & blocked:
                blocked.add(name)
    out = []
    for svc in app.services:
        if not svc.on_hosts:
            continue
        states = per.get(svc.name, {})
        hosts = tuple(sorted({h for hs in states.values() for h in hs}))
        if "failed" in states:
            out.append(ServiceDeploy(svc.name, svc.strategy, "failed", hosts, messages.get(svc.name)))
        elif svc.name in blocked:
            waited = tuple(d for d in svc.depends_on if d in blocked)
            why = f"not deployed: it depends on {', '.join(waited)}"
            out.append(ServiceDeploy(svc.name, svc.strategy, "skipped", (), why, waited))
        elif not states:
            why = "no host reported on it (see the run's failures)"
            out.append(ServiceDeploy(svc.name, svc.strategy, "failed", (), why))
        else:
            state = "changed" if "changed" in states else "ok"
            out.append(ServiceDeploy(svc.name, svc.strategy, state, hosts))
    return out, calls


def deploy(
    app: App,
    opts: Options,
    *,
    extra: Mapping[str, Mapping[str, Any]],
    secrets: Mapping[str, Mapping[str, str]],
    placement: Mapping[str, Sequence[str]],
    inventory: Path,
) -> AppDeployResult:
    """Every host service of ``app`` in one playbook run (``playbooks/app.yml``), wave by wave.

    The caller has checked everything before (specs, artifacts, secrets, placement, ports,
    capacity) and built the container images (``extra``).
    """
    plan = host_plan(app, placement, extra)
    hosts = [h for h, names in plan["placement"].items() if names]
    if not hosts:
        raise OperationError(f"app {app.name}: no host service is placed on any host")
    result = run_playbook(
        "app",
        inventory=inventory,
        extravars={"shipyard_app": plan, "shipyard_hosts": ",".join(hosts)},
        secret_vars={"shipyard_app_secrets": {k: dict(v) for k, v in secrets.items() if v}},
        check=opts.check,
        diff=opts.diff,
        progress=opts.progress,
        capture=(CONVERGE,),
        work_dir=opts.work_dir,
        timeout=opts.timeout,
    )
    services, calls = _outcomes(app, plan, result)
    ok = result.ok and not any(s.state in ("failed", "skipped") for s in services)
    return AppDeployResult(
        app=app.name,
        operation="deploy",
        outcome=Outcome.OK if ok else Outcome.FAILED,
        check=opts.check,
        services=tuple(services),
        waves=tuple(tuple(w) for w in plan["waves"]),
        placement={h: tuple(n) for h, n in plan["placement"].items()},
        remote_calls=calls,
        failures=tuple(failure_of(f) for f in result.failures),
        duration=round(result.duration, 3),
        run_dir=str(Path(result.run_dir)),
    )


# -- prune: the services an app's hosts still run that its file no longer names -----------------


def members(app: App, opts: Options, inventory: Path, hosts: Sequence[str]) -> dict[str, list[str]]:
    """{service: [hosts]} of every service the hosts record as the app's (one call per host)."""
    result = run_playbook(
        "app_members",
        inventory=inventory,
        extravars={"shipyard_app_name": app.name, "shipyard_hosts": ",".join(hosts)},
        progress=opts.progress,
        capture=("ansible.builtin.raw",),
        work_dir=opts.work_dir,
    )
    if result.failures:
        raise OperationError(
            "cannot read which services the hosts run for app "
            f"{app.name}: " + "; ".join(f"{f.host}: {f.message}" for f in result.failures)
        )
    found: dict[str, list[str]] = {}
    for host in hosts:
        out = str((result.captured.get(host, {}).get("ansible.builtin.raw") or {}).get("stdout", ""))
        for name in out.split():
            found.setdefault(name, []).append(host)
    return found


def prune(app: App, opts: Options, inventory: Path, hosts: Sequence[str]) -> list[ServiceDeploy]:
    """Remove (with ``opts.check``: only list) the services dropped from the app file."""
    dropped = {n: h for n, h in members(app, opts, inventory, hosts).items() if n not in app.names()}
    out = []
    for name, on in sorted(dropped.items()):
        if opts.check:
            out.append(ServiceDeploy(name, "-", "would be removed", tuple(on), "dropped from the app file"))
            continue
        result = run_playbook(
            "remove",
            inventory=inventory,
            extravars={"shipyard_service": {"name": name, "rollout": {}}, "shipyard_hosts": ",".join(on)},
            progress=opts.progress,
            work_dir=opts.work_dir,
        )
        if result.ok:
            out.append(ServiceDeploy(name, "-", "removed", tuple(on), "dropped from the app file"))
        else:
            why = "; ".join(f"{f.host}: {f.message}" for f in result.failures) or "remove failed"
            out.append(ServiceDeploy(name, "-", "failed", tuple(on), why))
    return out
