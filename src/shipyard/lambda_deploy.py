"""The lambda strategy's deploy, promote and rollback: package in Python, reconcile in Ansible.

The AWS side is one implementation, the collection's ``shipyard.deploy.lambda_function``
module, run by ``playbooks/lambda.yml`` on localhost, so ``ansible-playbook`` users and the API
share it. AWS credentials found in the controller's environment and the spec's secrets reach
the module only through ansible-runner's 0600 secret vars file (deleted after the run), as
``no_log`` parameters: they never land in the run's artifacts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import OperationError, SpecError
from shipyard.fsutil import atomic_write
from shipyard.lambda_pkg import PackageResult, package, section
from shipyard.runner import ProgressCallback, default_work_dir, run_playbook
from shipyard.spec import LoadedSpec, load_spec

MODULE = "shipyard.deploy.lambda_function"
_CREDENTIALS = {
    "access_key": "AWS_ACCESS_KEY_ID",
    "secret_key": "AWS_SECRET_ACCESS_KEY",
    "session_token": "AWS_SESSION_TOKEN",
}


@dataclass(frozen=True)
class LambdaResult:
    """The result of deploy, promote and rollback for the lambda strategy."""

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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        from shipyard.api import to_jsonable

        doc: dict[str, Any] = to_jsonable(self)
        return doc


def _inventory(work: Path) -> Path:
    path = work / "lambda-localhost.yml"
    if not path.is_file():
        atomic_write(path, "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n", mode=0o644)
    return path


def _aws(endpoint_url: str | None, environ: Mapping[str, str]) -> dict[str, str]:
    out = {key: environ[env] for key, env in _CREDENTIALS.items() if environ.get(env)}
    endpoint = endpoint_url or environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        out["endpoint_url"] = endpoint
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if region:
        out["region"] = region
    return out


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
            "s3": [dict(e) for e in trig.s3],
            "streams": [dict(e) for e in trig.streams],
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
    spec_path: Path | str,
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
    loaded = load_spec(spec_path)
    if loaded.service.strategy != "lambda" and loaded.service.lambda_ is None:
        raise SpecError(
            "strategy", loaded.service.strategy, "add a lambda: section to deploy it as a function"
        )
    if not 0 <= canary < 100:
        raise SpecError("--canary", canary, "give a percentage from 0 to 99")
    sec = section(loaded)
    work = work_dir or default_work_dir()
    pkg = None
    secrets: dict[str, Any] = {"shipyard_aws": _aws(endpoint_url, os.environ)}
    if operation == "deploy":
        pkg = package(loaded, out_dir=out_dir or work / "lambda")
        values = loaded.resolve_secrets()
        secrets["shipyard_secrets"] = {k: v.get_secret_value() for k, v in values.items()}
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
