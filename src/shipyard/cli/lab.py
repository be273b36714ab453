"""The local lab's commands: lab up, lab status, lab down."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from shipyard.cli._base import _emit_json, _err, _json_option, _out, _Progress, _quiet_option, cli
from shipyard.core.constants import EXIT_FAILED

# -- the lab -------------------------------------------------------------------------------------


@cli.group()
def lab() -> None:
    """The local lab: systemd hosts in network namespaces and a moto AWS endpoint."""


def _lab_name_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--name", default="default", show_default=True, help="Lab name (several labs can be up)."
    )(f)


def _print_lab(status: Any) -> None:
    table = Table(title=f"lab {status.name}: {'up' if status.up else 'down'}")
    for column in ("host", "address", "up", "ssh"):
        table.add_column(column)
    for host in status.hosts:
        table.add_row(host.name, host.address, "yes" if host.up else "no", "ok" if host.ssh_ok else "no")
    _out.print(table)
    _out.print(f"AWS endpoint: {status.aws_endpoint or '-'}")
    _out.print(f"image registry: {status.registry or '-'} (plain HTTP)")
    _out.print(f"inventory: {status.inventory or '-'}")


@lab.command("up")
@click.option(
    "--hosts", "hosts", type=click.IntRange(1, 16), default=2, show_default=True, help="Number of hosts."
)
@_lab_name_option
@click.option(
    "--inventory",
    type=click.Path(path_type=Path),
    default=Path("inventories/lab/hosts.yml"),
    show_default=True,
    help="Where to write the Ansible inventory.",
)
@click.option("--no-aws", is_flag=True, help="Do not start the moto AWS endpoint.")
@_json_option
@_quiet_option
def lab_up(hosts: int, name: str, inventory: Path, no_aws: bool, as_json: bool, quiet: bool) -> None:
    """Bring up N systemd hosts (and a moto server) and write an inventory."""
    from shipyard.lab import Lab

    with _Progress(quiet) as progress:
        status = Lab(name, progress=progress).up(hosts=hosts, inventory=inventory.resolve(), aws=not no_aws)
    if as_json:
        _emit_json(status.to_dict())
    else:
        _print_lab(status)


@lab.command("status")
@_lab_name_option
@_json_option
@_quiet_option
def lab_status(name: str, quiet: bool, as_json: bool) -> None:
    """Show the lab's hosts (up, address, ssh) and AWS endpoint."""
    from shipyard.lab import Lab

    status = Lab(name).status()
    if as_json:
        _emit_json(status.to_dict())
    else:
        _print_lab(status)
    if not status.up:
        raise click.exceptions.Exit(EXIT_FAILED)


@lab.command("down")
@_lab_name_option
@_quiet_option
def lab_down(name: str, quiet: bool) -> None:
    """Remove everything the lab made; safe to run twice."""
    from shipyard.lab import Lab

    with _Progress(quiet) as progress:
        Lab(name, progress=progress).down()
    if not quiet:
        _err().print(f"lab {name} is down")
