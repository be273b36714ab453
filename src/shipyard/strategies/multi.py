"""The multi strategy: many instances of a service per host, as systemd template units.

deploy, rollback, remove and status of a service on its hosts, each one playbook run
(``playbooks/deploy.yml`` and friends) through :mod:`shipyard.core.runner`; the container
strategy runs on the same engine (:mod:`shipyard.strategies.container.run`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from shipyard.core.errors import OperationError, SpecError
from shipyard.core.inputs import inventory_path, secret_vars, verify_artifact
from shipyard.core.results import Result
from shipyard.core.runner import PlaybookResult, TaskDiff, TaskFailure, run_playbook
from shipyard.core.spec import VERSION_RE, LoadedSpec
from shipyard.strategies._options import Options

INSTANCES = "shipyard.deploy.service_instances"
CONVERGE = "shipyard.deploy.service_converge"
INSTANCES_INFO = "shipyard.deploy.service_instances_info"
#: the strategies that run on hosts with this engine
HOST_STRATEGIES = ("multi", "container")


class Outcome(enum.Enum):
    """How an operation ended."""

    OK = "ok"
    FAILED = "failed"


@dataclass(frozen=True)
class InstanceStatus:
    """One instance of a service on one host."""

    host: str
    port: int
    unit: str
    #: systemd's ActiveState: active, inactive, failed, activating, …
    state: str
    #: systemd's SubState: running, dead, auto-restart, …
    substate: str
    pid: int | None
    release: str | None
    memory: int | None
    restarts: int | None
    healthy: bool | None
    #: whether the host's balancer sends it requests (None: no balancer or unknown)
    in_rotation: bool | None = None
    #: container strategy: the runc container id and the image digest it runs (else None)
    container: str | None = None
    image: str | None = None


@dataclass(frozen=True)
class HostOutcome:
    """What happened on one host."""

    host: str
    ok: bool
    changed: int
    failed: int
    unreachable: bool
    current_release: str | None = None
    previous_release: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Failure:
    """A failed task on a host, with the module's reason."""

    host: str
    task: str
    message: str
    unreachable: bool = False


@dataclass(frozen=True)
class DeployResult(Result):
    """The result of deploy, rollback, remove and status on hosts (multi and container)."""

    kind: ClassVar[str] = "hosts"

    service: str
    version: str
    operation: str
    outcome: Outcome
    check: bool
    changed: int
    hosts: tuple[HostOutcome, ...]
    instances: tuple[InstanceStatus, ...]
    failures: tuple[Failure, ...]
    duration: float
    run_dir: str
    #: with ``--diff``: what each changed task changed on each host
    diffs: tuple[TaskDiff, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every host succeeded."""
        return self.outcome is Outcome.OK


def check_host_spec(spec: LoadedSpec) -> None:
    """Refuse a spec whose strategy does not run on hosts."""
    if spec.service.strategy not in HOST_STRATEGIES:
        raise SpecError(
            "strategy",
            spec.service.strategy,
            "this command runs the multi and container strategies: set strategy: multi or container",
            source=str(spec.path),
        )


def _instances(result: PlaybookResult, action: str) -> tuple[InstanceStatus, ...]:
    out: list[InstanceStatus] = []
    for host in sorted(result.captured):
        res = result.captured[host].get(action) or {}
        out.extend(_instance(host, inst) for inst in res.get("instances") or [])
    for failure in result.failures:  # a failed deploy still reports the instances it saw
        for inst in failure.result.get("instances") or []:
            if not any(o.host == failure.host and o.port == inst.get("port") for o in out):
                out.append(_instance(failure.host, inst))
    return tuple(out)


def _instance(host: str, inst: Mapping[str, Any]) -> InstanceStatus:
    state, _, substate = str(inst.get("state") or "unknown").partition("/")
    return InstanceStatus(
        host=host,
        port=int(inst.get("port", 0)),
        unit=str(inst.get("unit", "")),
        state=state,
        substate=substate or "unknown",
        pid=inst.get("pid") or None,
        release=inst.get("release"),
        memory=inst.get("memory"),
        restarts=inst.get("restarts"),
        healthy=inst.get("healthy"),
        in_rotation=inst.get("in_rotation"),
        container=inst.get("container"),
        image=inst.get("image"),
    )


def failure_of(f: TaskFailure) -> Failure:
    return Failure(host=f.host, task=f.task, message=f.message, unreachable=f.unreachable)


def _shape(
    spec: LoadedSpec, operation: str, result: PlaybookResult, *, check: bool, action: str
) -> DeployResult:
    hosts: list[HostOutcome] = []
    for h in result.hosts:
        res = result.captured.get(h.host, {}).get(action) or {}
        message = next((f.message for f in result.failures if f.host == h.host), None)
        hosts.append(
            HostOutcome(
                host=h.host,
                ok=h.succeeded,
                changed=h.changed,
                failed=h.failed,
                unreachable=h.unreachable > 0,
                current_release=res.get("current_release"),
                previous_release=res.get("previous_release"),
                message=message,
            )
        )
    return DeployResult(
        service=spec.service.name,
        version=spec.service.version,
        operation=operation,
        outcome=Outcome.OK if result.ok else Outcome.FAILED,
        check=check,
        changed=result.changed,
        hosts=tuple(hosts),
        instances=_instances(result, action),
        failures=tuple(failure_of(f) for f in result.failures),
        duration=round(result.duration, 3),
        run_dir=str(result.run_dir),
        diffs=result.diffs,
    )


def common_vars(spec: LoadedSpec, hosts: str | None) -> dict[str, Any]:
    """The variables every host playbook takes: the normalized spec and the host pattern."""
    return {"shipyard_service": spec.to_ansible(), "shipyard_hosts": hosts or "all"}


def prepare(spec: LoadedSpec, opts: Options) -> tuple[Path, dict[str, Any]]:
    """Everything a deploy checks before any host is touched: the strategy, the artifact's
    sha256, every secret, the inventory. Returns the inventory and the secret variables."""
    check_host_spec(spec)
    verify_artifact(spec)
    secrets = secret_vars(spec)
    return inventory_path(opts.inventory), secrets


def deploy(
    spec: LoadedSpec,
    opts: Options,
    *,
    playbook: str = "deploy",
    extra: Mapping[str, Any] | None = None,
    prepared: tuple[Path, dict[str, Any]] | None = None,
) -> DeployResult:
    """Deploy a service on its hosts: release, units, instances, health-gated rolling restart."""
    inv, secrets = prepared or prepare(spec, opts)
    extravars = {**common_vars(spec, opts.hosts), "shipyard_release": spec.service.version, **(extra or {})}
    result = run_playbook(
        playbook,
        inventory=inv,
        extravars=extravars,
        secret_vars=secrets,
        check=opts.check,
        diff=opts.diff,
        progress=opts.progress,
        capture=(CONVERGE,),
        work_dir=opts.work_dir,
        timeout=opts.timeout,
    )
    return _shape(spec, "deploy", result, check=opts.check, action=CONVERGE)


def _host_verb(
    spec: LoadedSpec, opts: Options, operation: str, extravars: dict[str, Any], *, action: str = INSTANCES
) -> DeployResult:
    """Run the ``operation`` playbook on the service's hosts (no secrets) and shape its result."""
    result = run_playbook(
        operation,
        inventory=inventory_path(opts.inventory),
        extravars=extravars,
        check=opts.check,
        progress=opts.progress,
        capture=(action,),
        work_dir=opts.work_dir,
    )
    return _shape(spec, operation, result, check=opts.check, action=action)


def rollback(spec: LoadedSpec, opts: Options) -> DeployResult:
    """Switch back to the previous release (or to ``opts.to``) on every host."""
    check_host_spec(spec)
    extravars = common_vars(spec, opts.hosts)
    if opts.to is not None:
        if not VERSION_RE.match(opts.to) or ".." in opts.to:
            fix = "give a version that is installed on the hosts (see shipyard status)"
            raise SpecError("--to", opts.to, fix)
        extravars["shipyard_rollback_to"] = opts.to
    return _host_verb(spec, opts, "rollback", extravars)


def remove(spec: LoadedSpec, opts: Options) -> DeployResult:
    """Remove a service from its hosts: instances, units, files, and its ports in the registry."""
    check_host_spec(spec)
    return _host_verb(spec, opts, "remove", common_vars(spec, opts.hosts))


def status(spec: LoadedSpec, opts: Options) -> DeployResult:
    """Every instance of a service on every host: port, state, release, memory, health."""
    check_host_spec(spec)
    shaped = _host_verb(spec, opts, "status", common_vars(spec, opts.hosts), action=INSTANCES_INFO)
    if not shaped.hosts:
        raise OperationError("status: no host matched the inventory and --hosts pattern")
    return shaped
