"""The lambda strategy's deploy, promote and rollback: package in Python, reconcile in Ansible.

The AWS side is one implementation, the collection's ``shipyard.deploy.lambda_function``
module, run by ``playbooks/lambda.yml`` on localhost, so ``ansible-playbook`` users and the API
share it. AWS settings (:mod:`shipyard.core.aws`, the one resolver) and the spec's secrets reach
the module only through ansible-runner's 0600 secret vars file (deleted after the run), as
``no_log`` parameters: they never land in the run's artifacts.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from shipyard.core import aws
from shipyard.core.errors import OperationError, SpecError
from shipyard.core.fsutil import atomic_write
from shipyard.core.inputs import secret_vars
from shipyard.core.progress import ProgressCallback, say
from shipyard.core.results import Result
from shipyard.core.runner import default_work_dir, run_playbook
from shipyard.core.spec import LoadedSpec, as_loaded
from shipyard.strategies._options import Options
from shipyard.strategies.lambda_ import canary as canary_
from shipyard.strategies.lambda_.canary import CanaryOutcome
from shipyard.strategies.lambda_.package import PackageResult, package, section

MODULE = "shipyard.deploy.lambda_function"


@dataclass(frozen=True)
class LambdaResult(Result):
    """The result of deploy, promote and rollback for the lambda strategy."""

    kind: ClassVar[str] = "lambda"

    service: str
    version: str
    operation: str
    ok: bool
    check: bool
    changed: bool
    function_arn: str | None
    alias: str
    alias_version: str | None
    weights: Mapping[str, float]
    versions: tuple[str, ...]
    published: str | None
    code_uploaded: bool
    actions: tuple[str, ...]
    triggers: Mapping[str, Any]
    message: str | None
    run_dir: str
    duration: float
    package: PackageResult | None = field(default=None)
    #: a watched canary's end (deploy with a watch): promoted, or the alarm that rolled it back
    canary: CanaryOutcome | None = field(default=None)


def _inventory(work: Path) -> Path:
    path = work / "lambda-localhost.yml"
    if not path.is_file():
        atomic_write(path, "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n", mode=0o644)
    return path


def lambda_vars(spec: LoadedSpec, pkg: PackageResult | None, canary: int) -> dict[str, Any]:
    """The ``shipyard_lambda`` variable of playbooks/lambda.yml (no secret values)."""
    sec = section(spec)
    trig = sec.triggers
    doc: dict[str, Any] = {
        "name": spec.service.name,
        "runtime": sec.runtime,
        "handler": sec.handler,
        "memory": sec.memory,
        "timeout": sec.timeout,
        "environment": dict(spec.service.env),
        "alias": sec.alias,
        "canary": canary,
        "triggers": {
            "direct": list(trig.direct),
            "s3": [e.model_dump(exclude_none=True) for e in trig.s3],
            "streams": [e.model_dump() for e in trig.streams],
            "sqs": [e.model_dump() for e in trig.sqs],
            "sns": [e.model_dump() for e in trig.sns],
            "ses": [e.model_dump(exclude_none=True) for e in trig.ses],
            "http": list(trig.http),
            "schedule": list(trig.schedule),
        },
    }
    if sec.role:
        doc["role"] = sec.role
    if pkg is not None:
        doc["zip_file"] = str(pkg.path)
    return doc


def run(
    spec: LoadedSpec | Path | str,
    operation: str,
    *,
    endpoint_url: str | None = None,
    canary: int = 0,
    check: bool = False,
    diff: bool = False,
    progress: ProgressCallback | None = None,
    work_dir: Path | None = None,
    timeout: int | None = None,
    out_dir: Path | None = None,
) -> LambdaResult:
    """Deploy (package, then reconcile), promote or roll back a lambda-strategy service."""
    loaded = as_loaded(spec)
    if loaded.service.strategy != "lambda" and loaded.service.lambda_ is None:
        raise SpecError(
            "strategy", loaded.service.strategy, "add a lambda: section to deploy it as a function"
        )
    if not 0 <= canary < 100:
        raise SpecError("--canary", canary, "give a percentage from 0 to 99")
    sec = section(loaded)
    work = work_dir or default_work_dir()
    pkg = None
    secrets: dict[str, Any] = {"shipyard_aws": aws.resolve(endpoint_url).module_params()}
    if operation == "deploy":
        pkg = package(loaded, out_dir=out_dir or work / "lambda")
        secrets.update(secret_vars(loaded))
    started = time.monotonic()
    result = run_playbook(
        "lambda",
        inventory=_inventory(work),
        extravars={
            "shipyard_service": loaded.to_ansible(),
            "shipyard_lambda": lambda_vars(loaded, pkg, canary),
            "shipyard_lambda_operation": operation,
        },
        secret_vars=secrets,
        check=check,
        diff=diff,
        progress=progress,
        capture=(MODULE,),
        work_dir=work,
        timeout=timeout,
    )
    res: Mapping[str, Any] = result.captured.get("localhost", {}).get(MODULE) or {}
    message = None
    if result.failures:
        failure = result.failures[0]
        res = failure.result or res
        message = failure.message
    elif not result.ok:
        raise OperationError(f"lambda {operation} of {loaded.service.name} failed (run dir {result.run_dir})")
    alias = res.get("alias") or {}
    return LambdaResult(
        service=loaded.service.name,
        version=loaded.service.version,
        operation=operation,
        ok=result.ok and not result.failures,
        check=check,
        changed=bool(res.get("changed")),
        function_arn=res.get("function_arn"),
        alias=sec.alias,
        alias_version=alias.get("version"),
        weights=dict(alias.get("weights") or {}),
        versions=tuple(res.get("versions") or ()),
        published=res.get("published"),
        code_uploaded=bool(res.get("code_uploaded")),
        actions=tuple(res.get("actions") or ()),
        triggers=dict(res.get("triggers") or {}),
        message=message,
        run_dir=str(result.run_dir),
        duration=round(time.monotonic() - started, 3),
        package=pkg,
    )


# -- the strategy's verbs (the registry in shipyard.strategies calls these) ------------------------


def deploy(spec: LoadedSpec, opts: Options) -> LambdaResult:
    """Package the ZIP, then reconcile the function, its version, alias and triggers.

    With a canary watch (``lambda.canary`` or ``opts.watch``/``opts.alarms``): the alias is
    weighted, watched, then promoted, or rolled back when an alarm fires (a failed result
    naming it). Check mode does not watch.
    """
    if spec.service.lambda_ is None:  # not a function: run says so
        return run(spec, "deploy", endpoint_url=opts.endpoint_url, check=opts.check)
    plan = canary_.plan(spec, canary=opts.canary, watch=opts.watch, alarms=opts.alarms)
    cloudwatch = settings = None
    if plan.watch:
        settings = aws.resolve(opts.endpoint_url)
        cloudwatch = settings.client("cloudwatch")
        canary_.check_alarms(cloudwatch, plan)
    deployed = run(
        spec, "deploy", endpoint_url=opts.endpoint_url, canary=plan.weight, check=opts.check,
        diff=opts.diff, progress=opts.progress, work_dir=opts.work_dir, timeout=opts.timeout,
    )  # fmt: skip
    if cloudwatch is None or settings is None or not deployed.ok:
        return deployed
    if opts.check:
        say(opts.progress, f"check mode: the canary would be watched for {canary_.duration_text(plan.watch)}")
        return deployed
    if not deployed.weights:
        whole = f"alias {deployed.alias} is wholly on version {deployed.alias_version}"
        say(opts.progress, f"canary: {whole} (a first version, or nothing new): nothing to watch")
        return deployed
    version = next(iter(deployed.weights))
    outcome = canary_.watch(
        cloudwatch, plan, function=spec.service.name, alias=deployed.alias, version=version,
        hint=canary_.finish_hint(spec, opts.endpoint_url), progress=opts.progress,
    )  # fmt: skip
    now = canary_.moved(settings.client("lambda"), spec.service.name, deployed.alias, version)
    if now is not None:  # promoted or rolled back by someone else meanwhile: leave it so
        extra = "".join(f" +{v} at {w:.0%}" for v, w in now[1].items())
        note = f"the alias changed during the watch (now {deployed.alias} -> {now[0]}{extra}): left as it is"
        say(opts.progress, f"canary: {note}")
        return dataclasses.replace(
            deployed, ok=outcome.ok, alias_version=now[0], weights=now[1], canary=outcome,
            message=None if outcome.ok else f"canary: {outcome.message}; {note}",
            actions=(*deployed.actions, f"canary: {outcome.message}; {note}"),
        )  # fmt: skip
    after = (promote if outcome.ok else rollback)(spec, opts)
    return _after_watch(deployed, outcome, after)


def _after_watch(deployed: LambdaResult, outcome: CanaryOutcome, after: LambdaResult) -> LambdaResult:
    """The deploy's result once its canary is promoted or rolled back."""
    done = f"promoted: alias {after.alias} -> {after.alias_version}" if outcome.ok else (
        f"rolled back: alias {after.alias} -> {after.alias_version}"
    )  # fmt: skip
    if not after.ok:
        done = f"{'promote' if outcome.ok else 'rollback'} failed: {after.message}"
    message = None if outcome.ok and after.ok else f"canary: {outcome.message}; {done}"
    return dataclasses.replace(
        deployed,
        ok=outcome.ok and after.ok,
        changed=deployed.changed or after.changed,
        alias_version=after.alias_version,
        weights=dict(after.weights),
        actions=(*deployed.actions, f"canary: {outcome.message}; {done}", *after.actions),
        message=message,
        duration=round(deployed.duration + outcome.watched + after.duration, 3),
        canary=outcome,
    )


def rollback(spec: LoadedSpec, opts: Options) -> LambdaResult:
    """Point the alias back at the previous published version."""
    return run(
        spec, "rollback", endpoint_url=opts.endpoint_url, check=opts.check, progress=opts.progress,
        work_dir=opts.work_dir,
    )  # fmt: skip


def promote(spec: LoadedSpec, opts: Options) -> LambdaResult:
    """Finish a canary: the alias points wholly at the new version."""
    return run(
        spec, "promote", endpoint_url=opts.endpoint_url, check=opts.check, progress=opts.progress,
        work_dir=opts.work_dir,
    )  # fmt: skip
