"""The ami strategy's commands: bake, prune, rollout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from shipyard.cli._base import (
    _emit_json,
    _inventory_option,
    _json_option,
    _out,
    _Progress,
    _quiet_option,
    cli,
)

# -- ami strategy --------------------------------------------------------------------------------


def _ami_endpoint_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--endpoint-url",
        "ami_endpoint",
        envvar="AWS_ENDPOINT_URL",
        default=None,
        help="EC2 endpoint (the lab's moto server); default: $AWS_ENDPOINT_URL, else real AWS.",
    )(f)


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Bake even when an image with the same bake hash exists.")
@click.option("--host", "host", default=None, help="Inventory host to provision (default: the first).")
@_inventory_option
@_ami_endpoint_option
@_json_option
@_quiet_option
def bake(
    spec: Path,
    force: bool,
    host: str | None,
    inventory: Path | None,
    ami_endpoint: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Bake SPEC into a machine image with Packer (or reuse the cached one)."""
    from shipyard import api

    with _Progress(quiet) as progress:
        result = api.bake(
            spec, endpoint_url=ami_endpoint, inventory=inventory, host=host, force=force, progress=progress
        )
    if as_json:
        _emit_json(result.to_dict())
    else:
        how = "reused" if result.cached else "baked"
        _out.print(
            f"{how} {result.ami_id} ({result.name}, {result.region}, bake hash {result.bake_hash[:12]})"
        )


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--keep", type=click.IntRange(1, 100), default=None, help="Images kept (default: ami.keep).")
@click.option(
    "--check", "--dry-run", "dry_run", is_flag=True, help="List what would be removed; remove nothing."
)
@_quiet_option
@_ami_endpoint_option
@_json_option
def prune(
    spec: Path, keep: int | None, dry_run: bool, quiet: bool, ami_endpoint: str | None, as_json: bool
) -> None:
    """Deregister old images of SPEC's service and delete their snapshots (never one in use)."""
    from shipyard import api

    result = api.prune(spec, keep=keep, dry_run=dry_run, endpoint_url=ami_endpoint)
    if as_json:
        _emit_json(result)
        return
    verb = "would remove" if dry_run else "removed"
    for region, doc in result["regions"].items():
        for image in doc["removed"]:
            _out.print(
                f"{verb} {region} {image['ami_id']} {image['name']} ({len(image['snapshots'])} snapshot(s))"
            )
        for image in doc["kept"]:
            why = " (in use)" if image["in_use"] else ""
            _out.print(f"kept {region} {image['ami_id']} {image['name']}{why}")


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--to", "to", default=None, help="Version whose image to roll out (a rollback).")
@_ami_endpoint_option
@_json_option
@_quiet_option
def rollout(spec: Path, to: str | None, quiet: bool, ami_endpoint: str | None, as_json: bool) -> None:
    """New launch template version with SPEC's image, made the default; ASG instance refresh."""
    from shipyard import api

    result = api.rollout(spec, to=to, endpoint_url=ami_endpoint)
    if as_json:
        _emit_json(result)
    else:
        refresh = f", instance refresh {result['instance_refresh']}" if result["instance_refresh"] else ""
        _out.print(
            f"rolled out {result['ami_id']} ({result['version']}) as {result['launch_template']} "
            f"version {result['template_version']}{refresh}"
        )
