"""The Python API: shipyard's verbs, each a thin facade over the spec's strategy.

Every verb reads and validates its spec once (:func:`shipyard.core.spec.load_spec`), then hands
the loaded spec to the strategy's code (:mod:`shipyard.strategies`), which checks the rest
(artifact sha256, secrets, inventory) before any host or AWS call: a bad input raises
:class:`~shipyard.core.errors.SpecError` with nothing touched. Progress goes to an optional
callback of :class:`~shipyard.core.progress.ProgressEvent`; results are frozen dataclasses
deriving from :class:`~shipyard.core.results.Result` (``result.kind`` tells them apart).

Example:
    >>> import shipyard
    >>> result = shipyard.deploy("services/hello.yml", inventory="inventories/lab/hosts.yml")
    >>> [(i.host, i.port, i.release) for i in result.instances]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shipyard import strategies
from shipyard.core import aws, journal
from shipyard.core.app import (
    App,
    AppCheck,
    InventoryView,
    as_app,
    check_app,
    host_loads,
    inventory_resources,
    is_app,
    place,
    read_host_resources,
    service_rows,
    waves,
)
from shipyard.core.errors import SpecError, SpecErrors
from shipyard.core.inputs import (
    DEFAULT_INVENTORY,
    inventory_candidate,
    inventory_path,
    secret_values,
    verify_artifact,
    verify_url_artifact,
)
from shipyard.core.progress import ProgressCallback
from shipyard.core.results import Result, to_jsonable
from shipyard.core.spec import LoadedSpec, load_spec
from shipyard.strategies import Options, apps
from shipyard.strategies.ami import bake as ami
from shipyard.strategies.ami.bake import BakeResult
from shipyard.strategies.apps import AppDeployResult, AppResult, AppStatus, ServiceOutcome
from shipyard.strategies.container import image
from shipyard.strategies.container import run as container_run
from shipyard.strategies.container.image import ImageResult
from shipyard.strategies.lambda_ import invoke as lambda_invoke
from shipyard.strategies.lambda_ import package as lambda_package
from shipyard.strategies.lambda_.deploy import LambdaResult
from shipyard.strategies.lambda_.invoke import InvokeResult
from shipyard.strategies.lambda_.package import PackageResult
from shipyard.strategies.multi import DeployResult, Failure, HostOutcome, InstanceStatus, Outcome
from shipyard.strategies.multi import check_host_spec as multi_check

__all__ = [
    "DEFAULT_INVENTORY",
    "App",
    "AppCheck",
    "AppDeployResult",
    "AppResult",
    "AppStatus",
    "BakeResult",
    "DeployResult",
    "Failure",
    "HostOutcome",
    "ImageResult",
    "InstanceStatus",
    "InvokeResult",
    "LambdaResult",
    "Outcome",
    "PackageResult",
    "Result",
    "bake",
    "build",
    "deploy",
    "invoke",
    "logs",
    "package",
    "promote",
    "prune",
    "push",
    "remove",
    "render",
    "rollback",
    "rollout",
    "status",
    "to_jsonable",
    "validate",
]


def validate(
    path: Path | str | App,
    *,
    offline: bool = False,
    inventory: Path | str | None = None,
    progress: ProgressCallback | None = None,
    work_dir: Path | None = None,
) -> LoadedSpec | AppCheck:
    """Validate a spec file: its format, that file secrets are regular files, and its artifact's
    sha256 (a local file is read; a URL is downloaded unless ``offline``). Raises SpecErrors
    naming every bad field.

    An app (an app file or a directory, see :mod:`shipyard.core.app`) is validated whole: every
    spec as above, then duplicate names, dependencies and cycles, and with an inventory (the
    given one, $SHIPYARD_INVENTORY or the lab's) port clashes per host and each host's capacity
    (memory and cores from the inventory's ``shipyard_memory`` / ``shipyard_cpus``, else read
    from the hosts in one run; ``offline``: never). Returns an :class:`AppCheck` saying what was
    checked and what was skipped; every problem is raised at once as SpecErrors (exit 2).
    """
    if isinstance(path, App) or is_app(path):
        return _validate_app(as_app(path), offline, inventory, progress, work_dir)
    loaded = load_spec(path)
    _check_spec(loaded, offline)
    return loaded


def _spec_errors(
    app: App, offline: bool, secrets: dict[str, dict[str, str]] | None = None
) -> list[SpecError]:
    """Every problem of every spec of ``app`` (:func:`_check_spec`), collected rather than
    raised; given ``secrets``, each host service's secret values are read into it too."""
    errors: list[SpecError] = []
    for svc in app.services:
        try:
            _check_spec(svc.spec, offline)
            if secrets is not None and svc.on_hosts:
                secrets[svc.name] = dict(secret_values(svc.spec))
        except SpecErrors as exc:
            errors.extend(exc.errors)
        except SpecError as exc:
            errors.append(exc)
    return errors


def _check_spec(loaded: LoadedSpec, offline: bool) -> None:
    loaded.check_secret_files()
    verify_artifact(loaded)
    if not offline:
        verify_url_artifact(loaded)


def _validate_app(
    app: App,
    offline: bool,
    inventory: Path | str | None,
    progress: ProgressCallback | None,
    work_dir: Path | None,
) -> AppCheck:
    errors = _spec_errors(app, offline)
    skipped: list[str] = []
    placement: dict[str, list[str]] | None = None
    loads = []
    inv = inventory_path(inventory) if inventory is not None else _lab_inventory(None)
    try:
        if inv is None:
            skipped.append(
                "placement, port clashes per host and capacity: no inventory (pass --inventory or "
                "bring the lab up); services with the same hosts were checked for port clashes"
            )
            check_app(app)
        else:
            view = InventoryView(inv)
            placement = place(app, view)
            if offline:
                resources, unknown = inventory_resources(view, list(placement))
                if unknown:
                    skipped.append(
                        f"capacity of {', '.join(unknown)}: --offline, and the inventory sets no "
                        "shipyard_memory / shipyard_cpus for them"
                    )
            else:
                resources = read_host_resources(view, list(placement), progress=progress, work_dir=work_dir)
            check_app(app, placement, resources)
            loads = host_loads(app, placement, resources)
    except SpecErrors as exc:
        errors.extend(exc.errors)
    if errors:
        raise SpecErrors(errors)
    return AppCheck(
        app=app.name,
        path=str(app.path),
        services=service_rows(app),
        waves=tuple(tuple(w) for w in waves(app)),
        placement={h: tuple(n) for h, n in (placement or {}).items()},
        hosts=tuple(loads),
        skipped=tuple(skipped),
    )


def render(spec: Path | str) -> dict[str, Any]:
    """The extra variables the playbooks take for SPEC (validated, artifact checked, no secrets)."""
    loaded = load_spec(spec)
    verify_artifact(loaded)
    return {"shipyard_service": loaded.to_ansible(), "shipyard_release": loaded.service.version}


#: The strategies that talk to AWS (their endpoint may default to the lab's emulator).
_AWS_STRATEGIES = ("ami", "lambda")


def _lab_inventory(inventory: Path | str | None) -> Path | None:
    """The inventory a command targets, if it exists (the lab's when none is named)."""
    path, _ = inventory_candidate(inventory)
    return path if path.is_file() else None


def _endpoint(
    endpoint_url: str | None, inventory: Path | str | None, progress: ProgressCallback | None
) -> str | None:
    """The AWS endpoint: the given one, else the lab's emulator when no AWS settings exist."""
    return aws.lab_endpoint(endpoint_url, _lab_inventory(inventory), progress=progress)


def _run(action: str, spec: Path | str, strategy: str | None, opts: Options) -> Result:
    loaded = load_spec(spec)
    name = strategy or loaded.service.strategy
    if name in _AWS_STRATEGIES:
        opts = dataclasses.replace(
            opts, endpoint_url=_endpoint(opts.endpoint_url, opts.inventory, opts.progress)
        )
    return strategies.verb(name, action)(loaded, opts)


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
    canary: int | None = None,
    watch: float | str | None = None,
    alarms: Sequence[str] | None = None,
    prune: bool = False,
) -> DeployResult | LambdaResult | AppDeployResult:
    """Deploy a service by its spec's strategy (or ``strategy``), or a whole app.

    multi: release, units, instances, health-gated rolling restart. container: the same engine,
    each instance a runc container from the spec's image (built and pushed first). lambda: the
    ZIP is packaged, then the function, version, alias (``canary`` percent) and triggers are
    reconciled against ``endpoint_url`` (else $AWS_ENDPOINT_URL). With a watch (``watch``,
    ``alarms`` or the spec's ``lambda.canary``) the canary finishes itself: its alarms (else the
    new version's Errors metric) are watched, then the alias is promoted, or rolled back and the
    result fails naming the alarm; an interrupt (:class:`~shipyard.core.errors.Interrupted`)
    leaves the alias weighted. ami has no deploy: bake and roll out (a SpecError says so).

    Args:
        spec: path of the service spec.
        inventory: Ansible inventory; $SHIPYARD_INVENTORY or the lab's when None.
        hosts: host pattern to limit the deploy to.
        check: dry run (Ansible check mode): report what would change.
        diff: report before/after.
        progress: called with progress events.
        work_dir: where run directories go.
        timeout: seconds before the run is stopped.
        strategy: override the spec's strategy.
        endpoint_url: the AWS endpoint (lambda).
        canary: percent of traffic for the new version (lambda); None: the spec's
            ``lambda.canary.weight``, 0: no canary.
        watch: how long to watch the canary before promoting it: seconds or ``30s``/``5m``/``1h``
            (10 s to 1 h; 0: no watch); None: the spec's (lambda).
        alarms: CloudWatch alarms that roll the canary back; None: the spec's (lambda).
        prune: for an app, remove the services its hosts run for it that the app file no longer
            names (with ``check``: only list them).
    """
    opts = Options(
        inventory=inventory, hosts=hosts, check=check, diff=diff, progress=progress, work_dir=work_dir,
        timeout=timeout, endpoint_url=endpoint_url, canary=canary,
        watch=watch, alarms=tuple(alarms) if alarms is not None and not isinstance(alarms, str) else alarms,
        prune=prune,
    )  # fmt: skip
    if isinstance(spec, App) or is_app(spec):
        return _deploy_app(as_app(spec), opts)
    if prune:
        raise SpecError("--prune", True, "--prune applies to an app (an app file or a directory), not a spec")
    result = _run("deploy", spec, strategy, opts)
    assert isinstance(result, (DeployResult, LambdaResult))
    return result


def _deploy_app(app: App, opts: Options) -> AppDeployResult:
    """Check the whole app, build its images, deploy its host services in one playbook run
    (wave by wave), then its lambda services (those whose dependencies were deployed)."""
    secrets: dict[str, dict[str, str]] = {}
    errors = _spec_errors(app, offline=False, secrets=secrets)
    if errors:
        raise SpecErrors(errors)
    inv = inventory_path(opts.inventory)
    view = InventoryView(inv)
    placement = place(app, view, limit=opts.hosts)
    resources = read_host_resources(view, list(placement), progress=opts.progress, work_dir=opts.work_dir)
    check_app(app, placement, resources)
    extra: dict[str, dict[str, Any]] = {}
    for svc in app.services:
        if svc.strategy == "container":
            built = container_run.container_vars(svc.spec, inv, check=opts.check, progress=opts.progress)
            extra[svc.name] = {
                "runtime": "container",
                "image": {
                    "name": built["shipyard_image"],
                    "digest": built["shipyard_image_digest"],
                    "tls_verify": built["shipyard_image_tls_verify"],
                },
                "container": built["shipyard_container"],
            }
    hosted = [s for s in app.services if s.on_hosts]
    result = (
        apps.deploy(app, opts, extra=extra, secrets=secrets, placement=placement, inventory=inv)
        if hosted
        else None
    )
    outcomes = list(result.services) if result else []
    blocked = {o.service for o in outcomes if o.state in ("failed", "skipped")}
    for svc in app.services:
        if svc.on_hosts:
            continue
        waited = tuple(d for d in svc.depends_on if d in blocked)
        if svc.strategy != "lambda":
            why = (
                f"the {svc.strategy} strategy is baked and rolled out with `shipyard bake` and `shipyard ami`"
            )
            outcomes.append(apps.ServiceDeploy(svc.name, svc.strategy, "skipped", (), why))
        elif waited:
            outcomes.append(
                apps.ServiceDeploy(
                    svc.name,
                    svc.strategy,
                    "skipped",
                    (),
                    f"not deployed: it depends on {', '.join(waited)}",
                    waited,
                )
            )
            blocked.add(svc.name)
        else:
            one = _run("deploy", svc.spec.path, None, opts)
            ok = bool(getattr(one, "ok", False))
            state = ("changed" if getattr(one, "changed", False) else "ok") if ok else "failed"
            message = None
            if not ok:
                failures = "; ".join(f.message for f in getattr(one, "failures", ()) or ())
                message = getattr(one, "message", None) or failures or "failed"
            outcomes.append(apps.ServiceDeploy(svc.name, svc.strategy, state, (), message))
            if not ok:
                blocked.add(svc.name)
    order = {n: i for i, n in enumerate(app.names())}
    outcomes.sort(key=lambda o: order.get(o.service, 0))
    if opts.prune:
        outcomes.extend(apps.prune(app, opts, inv, list(placement)))
    bad = any(o.state == "failed" or (o.state == "skipped" and o.blocked_by) for o in outcomes)
    ok = not bad and (result is None or result.ok or not result.failures)
    return AppDeployResult(
        app=app.name,
        operation="deploy",
        outcome=Outcome.OK if ok else Outcome.FAILED,
        check=opts.check,
        services=tuple(outcomes),
        waves=tuple(tuple(w) for w in waves(app)),
        placement=dict(result.placement) if result else {},
        remote_calls=dict(result.remote_calls) if result else {},
        failures=result.failures if result else (),
        duration=result.duration if result else 0.0,
        run_dir=result.run_dir if result else "",
    )


def rollback(
    spec: Path | str | App,
    *,
    to: str | None = None,
    inventory: Path | str | None = None,
    hosts: str | None = None,
    check: bool = False,
    progress: ProgressCallback | None = None,
    work_dir: Path | None = None,
    endpoint_url: str | None = None,
) -> DeployResult | LambdaResult | AppResult:
    """Switch a service back to its previous release (or to version ``to``) on every host.

    For the lambda strategy: point the alias at the previous published version. For an app:
    every service, dependents first (reverse wave order), one run per service.
    """
    opts = Options(
        inventory=inventory, hosts=hosts, check=check, progress=progress, work_dir=work_dir,
        endpoint_url=endpoint_url, to=to,
    )  # fmt: skip
    if isinstance(spec, App) or is_app(spec):
        return _each(as_app(spec), "rollback", opts)
    result = _run("rollback", spec, None, opts)
    assert isinstance(result, (DeployResult, LambdaResult))
    return result


def remove(
    spec: Path | str | App,
    *,
    inventory: Path | str | None = None,
    hosts: str | None = None,
    check: bool = False,
    progress: ProgressCallback | None = None,
    work_dir: Path | None = None,
) -> DeployResult | AppResult:
    """Remove a service from its hosts: instances, units, files, and its ports in the registry.

    For an app: every host service, dependents first (reverse wave order), each from its own
    placement; lambda and ami services are reported as skipped.
    """
    opts = Options(inventory=inventory, hosts=hosts, check=check, progress=progress, work_dir=work_dir)
    if isinstance(spec, App) or is_app(spec):
        return _each(as_app(spec), "remove", opts)
    result = _run("remove", spec, None, opts)
    assert isinstance(result, DeployResult)
    return result


def status(
    spec: Path | str | App,
    *,
    inventory: Path | str | None = None,
    hosts: str | None = None,
    progress: ProgressCallback | None = None,
    work_dir: Path | None = None,
) -> DeployResult | AppStatus:
    """Report every instance of a service on every host: port, state, release, memory, health.

    For an app: every instance of every host service, from one playbook run (an
    :class:`AppStatus`; memory, CPU time, restarts, health, rotation per instance).
    """
    opts = Options(inventory=inventory, hosts=hosts, progress=progress, work_dir=work_dir)
    if isinstance(spec, App) or is_app(spec):
        return apps.status(as_app(spec), opts)
    result = _run("status", spec, None, opts)
    assert isinstance(result, DeployResult)
    return result


def _each(app: App, action: str, opts: Options) -> AppResult:
    """``action`` on every service of ``app``, dependents first (reverse wave order), each
    through its strategy's own verb on its own placement (one run per service)."""
    order = [name for wave in reversed(waves(app)) for name in wave]
    outcomes: list[ServiceOutcome] = []
    for name in order:
        svc = app.service(name)
        found = strategies.get(svc.strategy).verbs.get(action)
        if found is None:
            why = f"the {svc.strategy} strategy has no {action}"
            outcomes.append(ServiceOutcome(name, svc.strategy, ok=True, skipped=why))
            continue
        one = opts
        if svc.hosts is not None:
            pattern = svc.hosts if opts.hosts is None else f"{svc.hosts}:&{opts.hosts}"
            one = dataclasses.replace(opts, hosts=pattern)
        if svc.strategy in _AWS_STRATEGIES:
            one = dataclasses.replace(
                one, endpoint_url=_endpoint(opts.endpoint_url, opts.inventory, opts.progress)
            )
        result = found(svc.spec, one)
        outcomes.append(
            ServiceOutcome(name, svc.strategy, ok=bool(getattr(result, "ok", True)), result=result)
        )
    ok = all(o.ok for o in outcomes)
    return AppResult(app.name, action, Outcome.OK if ok else Outcome.FAILED, tuple(outcomes))


def logs(
    spec: Path | str | App,
    *,
    on_line: Callable[[journal.LogLine], None],
    services: Sequence[str] | None = None,
    hosts: str | None = None,
    lines: int = 10,
    follow: bool = False,
    timeout: float | None = None,
    inventory: Path | str | None = None,
) -> list[journal.HostError]:
    """Stream the journals of a service's (or an app's) instances from every host, in parallel.

    Each line reaches ``on_line`` as a :class:`~shipyard.core.journal.LogLine` (host,
    instance, time, message): without ``follow`` the last ``lines`` of each service on each
    host, sorted by time; with it, also every new line until ``timeout`` seconds pass or the
    caller is interrupted (KeyboardInterrupt; every ssh process is stopped first).

    Args:
        spec: a spec file, an app file or directory, or a loaded app.
        on_line: called with every line.
        services: only these services of the app.
        hosts: only the hosts this pattern matches.
        lines: lines per service per host before following (1-10000).
        follow: keep reading new lines.
        timeout: with ``follow``: stop after this many seconds (None: until interrupted).
        inventory: the inventory (default: $SHIPYARD_INVENTORY or the lab's).

    Returns:
        The hosts whose journal could not be read.
    """
    inv = inventory_path(inventory)
    view = InventoryView(inv)
    if isinstance(spec, App) or is_app(spec):
        app = as_app(spec)
        for name in services or ():
            app.service(name)  # a SpecError naming the app's services
        placement = place(app, view, limit=hosts)
        wanted = set(services or app.names())
        targets = {h: [n for n in names if n in wanted] for h, names in placement.items()}
    else:
        loaded = load_spec(spec)
        multi_check(loaded)
        for name in services or ():
            if name != loaded.service.name:
                raise SpecError("--service", name, f"the spec's service is {loaded.service.name}")
        targets = {h: [loaded.service.name] for h in view.hosts(hosts or "all")}
    targets = {h: names for h, names in targets.items() if names}
    if not targets:
        raise SpecError(
            "--host", hosts or "all", "no host runs the chosen services: check --host and --service"
        )
    return journal.read(targets, view, lines=lines, follow=follow, on_line=on_line, timeout=timeout)


def promote(
    spec: Path | str,
    *,
    endpoint_url: str | None = None,
    check: bool = False,
    progress: ProgressCallback | None = None,
    work_dir: Path | None = None,
) -> LambdaResult:
    """Finish a canary: the alias points wholly at the new version (lambda)."""
    opts = Options(endpoint_url=endpoint_url, check=check, progress=progress, work_dir=work_dir)
    result = _run("promote", spec, None, opts)
    assert isinstance(result, LambdaResult)
    return result


# -- lambda ---------------------------------------------------------------------------------------


def package(spec: Path | str, *, out_dir: Path | str | None = None) -> PackageResult:
    """Build the spec's reproducible Lambda ZIP (size limits and handler checked)."""
    return lambda_package.package(load_spec(spec), out_dir=Path(out_dir) if out_dir is not None else None)


def invoke(
    spec: Path | str,
    *,
    event: Any = None,
    endpoint_url: str | None = None,
    out_dir: Path | str | None = None,
) -> InvokeResult:
    """Run the spec's handler locally from its built ZIP with ``event``."""
    loaded = load_spec(spec)
    pkg = lambda_package.package(loaded, out_dir=Path(out_dir) if out_dir is not None else None)
    secrets = secret_values(loaded)
    endpoint = _endpoint(endpoint_url, None, None)
    return lambda_invoke.invoke_zip(
        loaded, pkg.path, {} if event is None else event, endpoint_url=endpoint, secrets=secrets
    )


# -- container images -----------------------------------------------------------------------------


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
    return image.build(load_spec(spec), out=out, progress=progress)


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
            the lab's). Only read when the spec names no registry.
        out: the layout directory to build into and push from.
        tls_verify: require HTTPS (default: not for the lab's registry, yes for the spec's).
        progress: progress callback.

    Returns:
        The image in the registry (``<registry>/shipyard/<service>``), tag, digest, layers.
    """
    loaded = load_spec(spec)
    section = loaded.service.container
    inv = None if section is not None and section.registry else inventory_path(inventory)
    return image.push(loaded, inventory=inv, layout=out, tls_verify=tls_verify, progress=progress)


# -- ami ------------------------------------------------------------------------------------------


def bake(
    spec: Path | str,
    *,
    endpoint_url: str | None = None,
    inventory: Path | str | None = None,
    host: str | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
    timeout: float | None = 1800,
) -> BakeResult:
    """Bake SPEC into a machine image with Packer, or reuse the image with the same bake hash.

    ``result.cached`` tells whether Packer ran. In the lab, ``endpoint_url`` is the moto server
    and ``host`` the lab host Packer provisions.
    """
    loaded = load_spec(spec)
    if loaded.service.strategy != "ami":
        raise SpecError(
            "strategy",
            loaded.service.strategy,
            "bake, prune and rollout need strategy: ami and an ami: section",
            source=str(loaded.path),
        )
    return ami.run_bake(
        loaded,
        endpoint_url=_endpoint(endpoint_url, inventory, progress),
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
    loaded = load_spec(spec)
    return ami.run_prune(loaded, keep=keep, dry_run=dry_run, endpoint_url=_endpoint(endpoint_url, None, None))


def rollout(spec: Path | str, *, to: str | None = None, endpoint_url: str | None = None) -> dict[str, Any]:
    """Make SPEC's image (or version ``to``'s) the default of its launch template; refresh its ASG."""
    loaded = load_spec(spec)
    return ami.run_rollout(loaded, to=to, endpoint_url=_endpoint(endpoint_url, None, None))
