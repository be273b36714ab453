"""The Python API: the verbs of shipyard, returning typed results.

Every function validates its input completely (spec, artifact sha256, secrets, inventory)
before any host or AWS call, so a bad input raises :class:`~shipyard.errors.SpecError` with
nothing touched. Progress goes to an optional callback; results are frozen dataclasses.

Example:
    >>> import shipyard
    >>> result = shipyard.deploy("services/hello.yml", inventory="inventories/lab/hosts.yml")
    >>> [(i.host, i.port, i.release) for i in result.instances]
"""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard import lambda_deploy
from shipyard.errors import OperationError, SpecError
from shipyard.fsutil import sha256_file
from shipyard.lambda_deploy import LambdaResult
from shipyard.lambda_invoke import InvokeResult
from shipyard.lambda_pkg import PackageResult
from shipyard.oci import ImageResult
from shipyard.runner import PlaybookResult, ProgressCallback, TaskFailure, run_playbook
from shipyard.spec import LoadedSpec, load_spec

#: The inventory used when none is given: the one `shipyard lab up` writes.
DEFAULT_INVENTORY = Path("inventories/lab/hosts.yml")

INSTANCES = "shipyard.deploy.service_instances"
INSTANCES_INFO = "shipyard.deploy.service_instances_info"


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
class DeployResult:
    """The result of deploy, rollback, remove and status."""

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

    @property
    def ok(self) -> bool:
        """True when every host succeeded."""
        return self.outcome is Outcome.OK

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        doc: dict[str, Any] = to_jsonable(self)
        return doc


def to_jsonable(value: Any) -> Any:
    """Convert dataclasses, enums and paths into JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name in ("ok",):
            if hasattr(type(value), name) and isinstance(getattr(type(value), name), property):
                out[name] = getattr(value, name)
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


# -- validation helpers --------------------------------------------------------------------------


def validate(path: Path | str) -> LoadedSpec:
    """Validate a spec file (its format, and that file secrets are regular files). Raises
    SpecErrors naming every bad field."""
    loaded = load_spec(path)
    loaded.check_secret_files()
    return loaded


def _inventory(inventory: Path | str | None) -> Path:
    inv = (
        Path(inventory)
        if inventory is not None
        else Path(os.environ.get("SHIPYARD_INVENTORY", DEFAULT_INVENTORY))
    )
    if not inv.exists():
        raise SpecError(
            "--inventory",
            str(inv),
            "the inventory does not exist: run `shipyard lab up` or pass --inventory FILE",
        )
    return inv


def verify_artifact(spec: LoadedSpec) -> Path | None:
    """Check that a local artifact exists and matches its sha256, before any host is touched."""
    art = spec.service.artifact
    path = spec.artifact_path()
    if art is None or path is None:
        return None
    if not path.is_file():
        raise SpecError(
            "artifact.path",
            art.path,
            f"no such file ({path}): build it (make examples) or fix the path",
            source=str(spec.path),
        )
    actual = sha256_file(path)
    if actual != art.sha256:
        raise SpecError(
            "artifact.sha256",
            art.sha256,
            f"the file {path.name} has sha256 {actual}: rebuild the artifact or update the spec",
            source=str(spec.path),
        )
    return path


def _prepare(
    spec_path: Path | str, inventory: Path | str | None, *, need_artifact: bool, need_secrets: bool
) -> tuple[LoadedSpec, Path, dict[str, Any] | None]:
    spec = load_spec(spec_path)
    if spec.service.strategy not in ("multi", "container"):
        raise SpecError(
            "strategy",
            spec.service.strategy,
            "this command runs the multi and container strategies: set strategy: multi or container",
            source=str(spec.path),
        )
    if need_artifact:
        verify_artifact(spec)
    secrets = None
    if need_secrets:
        values = spec.resolve_secrets()
        secrets = {"shipyard_secrets": {k: v.get_secret_value() for k, v in values.items()}}
    return spec, _inventory(inventory), secrets


def render(spec: Path | str) -> dict[str, Any]:
    """The extra variables the playbooks take for SPEC (validated, artifact checked, no secrets)."""
    loaded = load_spec(spec)
    verify_artifact(loaded)
    return {"shipyard_service": loaded.to_ansible(), "shipyard_release": loaded.service.version}


# -- result shaping ------------------------------------------------------------------------------


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


def _failure(f: TaskFailure) -> Failure:
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
        failures=tuple(_failure(f) for f in result.failures),
        duration=round(result.duration, 3),
        run_dir=str(result.run_dir),
    )


def _common_vars(spec: LoadedSpec, hosts: str | None) -> dict[str, Any]:
    return {"shipyard_service": spec.to_ansible(), "shipyard_hosts": hosts or "all"}


def _container_vars(
    spec: LoadedSpec, inventory: Path, *, check: bool, progress: ProgressCallback | None
) -> dict[str, Any]:
    """The container strategy's extra variables: its settings and the image the hosts pull.

    The image is built (cached, reproducible) and pushed to the registry (the spec's, else the
    inventory's ``shipyard_registry``); the hosts pull it by digest. In check mode it is only
    built: the digest is known, nothing is pushed.
    """
    from shipyard import oci

    registry, lab = oci.resolve_registry(spec, inventory)
    if check:
        built = build(spec.path, progress=progress)
        image, digest = f"{registry}/{built.image}", built.digest
    else:
        pushed = push(spec.path, inventory=inventory, progress=progress)
        image, digest = pushed.image, pushed.digest
    section = spec.service.container
    return {
        "shipyard_container": section.model_dump() if section is not None else {"read_only": True},
        "shipyard_image": image,
        "shipyard_image_digest": digest,
        "shipyard_image_tls_verify": not lab,
    }


# -- the verbs -----------------------------------------------------------------------------------


def deploy(
    spec: Path | str,
    *,
    inventory: Path | str | None = None,
    hosts: str | None = None,
    check: bool = False,
    diff: bool = False,
    progress: ProgressCallback | None = None,
    work_dir: Path | None = None,
    timeout: int | None = None,
    strategy: str | None = None,
    endpoint_url: str | None = None,
    canary: int = 0,
) -> DeployResult | LambdaResult:
    """Deploy a service by its spec (multi strategy): release, units, instances, health-gated.

    With strategy container the same engine runs each instance as a runc container from the
    spec's image (playbooks/container.yml); status, rollback and remove work on it unchanged.

    With strategy lambda (the spec's, or ``strategy="lambda"``) the ZIP is packaged, then the
    function, version, alias and triggers are reconciled (see :mod:`shipyard.lambda_deploy`);
    ``endpoint_url`` (else $AWS_ENDPOINT_URL) and ``canary`` (percent) apply to it.

    Args:
        spec: path of the service spec.
        inventory: Ansible inventory; the lab's when None.
        hosts: host pattern to limit the deploy to.
        check: dry run (Ansible check mode): report what would change.
        diff: report before/after.
        progress: called with progress events.
        work_dir: where run directories go.
        timeout: seconds before the run is stopped.
    """
    chosen = _strategy(spec, strategy)
    if chosen == "lambda":
        return lambda_deploy.run(
            spec, "deploy", endpoint_url=endpoint_url, canary=canary, check=check, diff=diff,
            progress=progress, work_dir=work_dir, timeout=timeout,
        )  # fmt: skip
    loaded, inv, secrets = _prepare(spec, inventory, need_artifact=True, need_secrets=True)
    extravars = {**_common_vars(loaded, hosts), "shipyard_release": loaded.service.version}
    if chosen == "container":
        extravars.update(_container_vars(loaded, inv, check=check, progress=progress))
    result = run_playbook(
        "container" if chosen == "container" else "deploy",
        inventory=inv,
        extravars=extravars,
        secret_vars=secrets,
        check=check,
        diff=diff,
        progress=progress,
        capture=(INSTANCES,),
        work_dir=work_dir,
        timeout=timeout,
    )
    return _shape(loaded, "deploy", result, check=check, action=INSTANCES)


def rollback(
    spec: Path | str,
    *,
    to: str | None = None,
    inventory: Path | str | None = None,
    hosts: str | None = None,
    check: bool = False,
    progress: ProgressCallback | None = None,
    work_dir: Path | None = None,
    endpoint_url: str | None = None,
) -> DeployResult | LambdaResult:
    """Switch a service back to its previous release (or to version ``to``) on every host.

    For the lambda strategy: point the alias at the previous published version.
    """
    if _strategy(spec, None) == "lambda":
        return lambda_deploy.run(spec, "rollback", endpoint_url=endpoint_url, check=check, progress=progress,
                                 work_dir=work_dir)  # fmt: skip
    loaded, inv, _ = _prepare(spec, inventory, need_artifact=False, need_secrets=False)
    extravars = _common_vars(loaded, hosts)
    if to is not None:
        from shipyard.spec import VERSION_RE

        if not VERSION_RE.match(to) or ".." in to:
            raise SpecError("--to", to, "give a version that is installed on the hosts (see shipyard status)")
        extravars["shipyard_rollback_to"] = to
    result = run_playbook(
        "rollback",
        inventory=inv,
        extravars=extravars,
        check=check,
        progress=progress,
        capture=(INSTANCES,),
        work_dir=work_dir,
    )
    return _shape(loaded, "rollback", result, check=check, action=INSTANCES)


def remove(
    spec: Path | str,
    *,
    inventory: Path | str | None = None,
    hosts: str | None = None,
    check: bool = False,
    progress: ProgressCallback | None = None,
    work_dir: Path | None = None,
) -> DeployResult:
    """Remove a service from its hosts: instances, units, files, and its ports in the registry."""
    loaded, inv, _ = _prepare(spec, inventory, need_artifact=False, need_secrets=False)
    result = run_playbook(
        "remove",
        inventory=inv,
        extravars=_common_vars(loaded, hosts),
        check=check,
        progress=progress,
        capture=(INSTANCES,),
        work_dir=work_dir,
    )
    return _shape(loaded, "remove", result, check=check, action=INSTANCES)


def status(
    spec: Path | str,
    *,
    inventory: Path | str | None = None,
    hosts: str | None = None,
    progress: ProgressCallback | None = None,
    work_dir: Path | None = None,
) -> DeployResult:
    """Report every instance of a service on every host: port, state, release, memory, health."""
    loaded, inv, _ = _prepare(spec, inventory, need_artifact=False, need_secrets=False)
    result = run_playbook(
        "status",
        inventory=inv,
        extravars=_common_vars(loaded, hosts),
        progress=progress,
        capture=(INSTANCES_INFO,),
        work_dir=work_dir,
    )
    shaped = _shape(loaded, "status", result, check=False, action=INSTANCES_INFO)
    if not result.hosts:
        raise OperationError("status: no host matched the inventory and --hosts pattern")
    return shaped


# -- the lambda strategy -------------------------------------------------------------------------

_STRATEGIES = ("multi", "ami", "lambda", "container")


def _strategy(spec: Path | str, strategy: str | None) -> str:
    if strategy is not None:
        if strategy not in _STRATEGIES:
            raise SpecError("--strategy", strategy, f"use one of {', '.join(_STRATEGIES)}")
        return strategy
    return load_spec(spec).service.strategy


def package(spec: Path | str, *, out_dir: Path | str | None = None) -> PackageResult:
    """Build the spec's reproducible Lambda ZIP (size limits and handler import checked)."""
    from shipyard import lambda_pkg

    return lambda_pkg.package(load_spec(spec), out_dir=Path(out_dir) if out_dir is not None else None)


def _lines(progress: ProgressCallback | None) -> Callable[[str], None] | None:
    """A line callback (as the lab and image builder use) feeding a ProgressCallback."""
    if progress is None:
        return None
    from shipyard.runner import EventKind, ProgressEvent

    return lambda message: progress(ProgressEvent(EventKind.LINE, message))


def build(
    spec: Path | str, *, out: Path | str | None = None, progress: ProgressCallback | None = None
) -> ImageResult:
    """Build the spec's container image as an OCI image layout, reproducibly (same inputs, same digest).

    Args:
        spec: path of the service spec (needs a local artifact and a command).
        out: the layout directory (default ``build/images/<service>``).
        progress: progress callback.

    Returns:
        The image: repository ``shipyard/<service>``, tag (the version), digest, layers, path.
    """
    from shipyard import oci

    return oci.build(spec, out=out, progress=_lines(progress))


def push(
    spec: Path | str,
    *,
    inventory: Path | str | None = None,
    out: Path | str | None = None,
    tls_verify: bool | None = None,
    progress: ProgressCallback | None = None,
) -> ImageResult:
    """Build the spec's image and push it by tag (the version) to its registry; report the digest.

    The registry is the spec's ``container.registry``, else the inventory's ``shipyard_registry``
    (the lab's, plain HTTP: TLS is not verified for it unless ``tls_verify=True``).

    Args:
        spec: path of the service spec.
        inventory: the inventory naming ``shipyard_registry`` (default: $SHIPYARD_INVENTORY or
            the lab's).
        out: the layout directory to build into and push from.
        tls_verify: require HTTPS (default: not for the lab's registry, yes for the spec's).
        progress: progress callback.

    Returns:
        The image in the registry (``<registry>/shipyard/<service>``), tag, digest, layers.
    """
    from shipyard import oci

    inv = (
        _inventory(inventory)
        if inventory is not None
        else Path(os.environ.get("SHIPYARD_INVENTORY", DEFAULT_INVENTORY))
    )
    return oci.push(spec, inventory=inv, layout=out, tls_verify=tls_verify, progress=_lines(progress))


def invoke(
    spec: Path | str,
    *,
    event: Any = None,
    endpoint_url: str | None = None,
    out_dir: Path | str | None = None,
) -> InvokeResult:
    """Run the spec's handler locally from its built ZIP with ``event`` (:mod:`shipyard.lambda_invoke`)."""
    from shipyard import lambda_invoke, lambda_pkg

    loaded = load_spec(spec)
    pkg = lambda_pkg.package(loaded, out_dir=Path(out_dir) if out_dir is not None else None)
    secrets = {k: v.get_secret_value() for k, v in loaded.resolve_secrets().items()}
    return lambda_invoke.invoke_zip(
        loaded, pkg.path, {} if event is None else event, endpoint_url=endpoint_url, secrets=secrets
    )


def promote(
    spec: Path | str,
    *,
    endpoint_url: str | None = None,
    check: bool = False,
    progress: ProgressCallback | None = None,
    work_dir: Path | None = None,
) -> LambdaResult:
    """Finish a canary: the alias points wholly at the new version."""
    return lambda_deploy.run(
        spec, "promote", endpoint_url=endpoint_url, check=check, progress=progress, work_dir=work_dir
    )


# -- ami strategy (the cloud steps live in shipyard.bake, Packer in shipyard.packer) ------------


def bake(
    spec: Path | str,
    *,
    endpoint_url: str | None = None,
    inventory: Path | str | None = None,
    host: str | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
    timeout: float | None = 1800,
) -> Any:
    """Bake SPEC into a machine image with Packer, or reuse the image with the same bake hash.

    Returns a :class:`shipyard.bake.BakeResult` (``cached`` tells whether Packer ran). In the
    lab, ``endpoint_url`` is the moto server and ``host`` the lab host Packer provisions.
    """
    from shipyard import bake as _bake

    return _bake.run_bake(
        spec,
        endpoint_url=endpoint_url,
        inventory=Path(inventory) if inventory is not None else None,
        host=host,
        force=force,
        progress=progress,
        timeout=timeout,
    )


def prune(
    spec: Path | str, *, keep: int | None = None, dry_run: bool = False, endpoint_url: str | None = None
) -> dict[str, Any]:
    """Deregister all but the ``keep`` newest images of SPEC's service (and their snapshots).

    Never removes an image a launch template version or a live instance uses.
    """
    from shipyard import bake as _bake

    return _bake.run_prune(spec, keep=keep, dry_run=dry_run, endpoint_url=endpoint_url)


def rollout(spec: Path | str, *, to: str | None = None, endpoint_url: str | None = None) -> dict[str, Any]:
    """Make SPEC's image (or version ``to``'s) the default of its launch template; refresh its ASG."""
    from shipyard import bake as _bake

    return _bake.run_rollout(spec, to=to, endpoint_url=endpoint_url)
