"""Commands on a service's hosts (multi, container) and its Lambda: deploy, status, rollback, remove."""

from __future__ import annotations

from pathlib import Path

import click

from shipyard.cli._base import (
    _canary_options,
    _endpoint_option,
    _host_options,
    _json_option,
    _Progress,
    _quiet_option,
    _strategy_option,
    cli,
)
from shipyard.cli.app import finish


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@_host_options
@click.option("--check", is_flag=True, help="Dry run: report what would change.")
@click.option("--diff", is_flag=True, help="Show before/after.")
@click.option(
    "--prune", is_flag=True, help="App: remove the services dropped from the app file (--check: list them)."
)
@_strategy_option
@_endpoint_option
@_canary_options
@_json_option
@_quiet_option
def deploy(
    spec: Path,
    inventory: Path | None,
    hosts: str | None,
    check: bool,
    diff: bool,
    prune: bool,
    strategy: str | None,
    endpoint_url: str | None,
    canary: int | None,
    watch: int | None,
    alarms: tuple[str, ...] | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Deploy a service by its spec, or an app (an app file or a directory of specs) in one run.

    lambda: --canary N weights the alias; with --watch (or --alarm, or the spec's lambda.canary)
    the canary is watched, then promoted, or rolled back (exit 1) when an alarm fires.
    """
    from shipyard import api

    with _Progress(quiet) as progress:
        result = api.deploy(
            spec, inventory=inventory, hosts=hosts, check=check, diff=diff, progress=progress,
            strategy=strategy, endpoint_url=endpoint_url, canary=canary, watch=watch, alarms=alarms,
            prune=prune,
        )  # fmt: skip
    finish(result, as_json)


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@_host_options
@_json_option
@_quiet_option
def status(spec: Path, inventory: Path | None, hosts: str | None, as_json: bool, quiet: bool) -> None:
    """Show every instance of a service: host, port, state, release, memory, restarts.

    SPEC may be an app (an app file or a directory): one table of every instance of every
    service, with CPU time, from one playbook run."""
    from shipyard import api

    with _Progress(quiet) as progress:
        result = api.status(spec, inventory=inventory, hosts=hosts, progress=progress)
    finish(result, as_json)


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--to", "to", default=None, help="Version to switch to (default: the previous release).")
@_host_options
@click.option("--check", is_flag=True, help="Dry run.")
@_endpoint_option
@_json_option
@_quiet_option
def rollback(
    spec: Path,
    to: str | None,
    inventory: Path | None,
    hosts: str | None,
    check: bool,
    endpoint_url: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Switch a service back to its previous release (or --to VERSION); lambda: the alias.

    SPEC may be an app: every service, dependents first, one run per service."""
    from shipyard import api

    with _Progress(quiet) as progress:
        result = api.rollback(
            spec, to=to, inventory=inventory, hosts=hosts, check=check, progress=progress,
            endpoint_url=endpoint_url,
        )  # fmt: skip
    finish(result, as_json)


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@_host_options
@click.option("--check", is_flag=True, help="Dry run.")
@_json_option
@_quiet_option
def remove(
    spec: Path, inventory: Path | None, hosts: str | None, check: bool, as_json: bool, quiet: bool
) -> None:
    """Remove a service: instances, units, files; its ports are freed.

    SPEC may be an app: every host service, dependents first, one run per service."""
    from shipyard import api

    with _Progress(quiet) as progress:
        result = api.remove(spec, inventory=inventory, hosts=hosts, check=check, progress=progress)
    finish(result, as_json)
