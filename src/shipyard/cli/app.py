"""Commands and printing for applications: ``shipyard logs``, and the tables of an app's
status and of verbs applied to its services (``status``, ``rollback``, ``remove`` take an app)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from shipyard.cli._base import _emit_json, _err, _finish, _inventory_option, _out, _quiet_option, cli
from shipyard.core.constants import EXIT_FAILED


def finish(result: Any, as_json: bool) -> None:
    """Print a verb's result (an app's or a service's) and exit 1 when it failed."""
    if result.kind == "app-status":
        _finish_app_status(result, as_json)
    elif result.kind == "app":
        _finish_app_result(result, as_json)
    elif result.kind == "app-deploy":
        _finish_app_deploy(result, as_json)
    else:
        _finish(result, as_json)


def _finish_app_status(result: Any, as_json: bool) -> None:
    if as_json:
        _emit_json(result.to_dict())
    else:
        state = "[green]ok[/]" if result.ok else "[red]FAILED[/]"
        _out.print(f"status of app {result.app}: {state}, {len(result.instances)} instances")
        table = Table()
        columns = ("service", "host", "instance", "state", "release", "memory", "cpu time", "restarts")
        for column in (*columns, "healthy", "in rotation"):
            table.add_column(column)
        for i in result.instances:
            table.add_row(
                i.service,
                i.host,
                i.instance,
                f"{i.state}/{i.substate}",
                i.release or "-",
                f"{i.memory / 1048576:.1f}M" if isinstance(i.memory, int) else "-",
                f"{i.cpu_nsec / 1e9:.2f}s" if isinstance(i.cpu_nsec, int) else "-",
                str(i.restarts) if i.restarts is not None else "-",
                _yes_no(i.healthy),
                _yes_no(i.in_rotation),
            )
        _out.print(table)
        if result.not_on_hosts:
            _out.print(f"not on hosts (lambda, ami): {', '.join(result.not_on_hosts)}", markup=False)
        for f in result.failures:
            _err().print(
                f"{'unreachable' if f.unreachable else 'failed'} {f.host}: {f.task}: {f.message}",
                markup=False,
            )
    if not result.ok:
        raise click.exceptions.Exit(EXIT_FAILED)


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _finish_app_deploy(result: Any, as_json: bool) -> None:
    if as_json:
        _emit_json(result.to_dict())
    else:
        state = "[green]ok[/]" if result.ok else "[red]FAILED[/]"
        changed = sum(1 for s in result.services if s.state == "changed")
        check = " (check mode)" if result.check else ""
        _out.print(
            f"deployed app {result.app}{check}: {state}, {changed} of {len(result.services)} services changed"
        )
        table = Table()
        for column in ("service", "strategy", "state", "hosts", "note"):
            table.add_column(column)
        for s in result.services:
            table.add_row(s.service, s.strategy, s.state, ", ".join(s.hosts) or "-", s.message or "")
        _out.print(table)
        if result.failed:
            _err().print(f"failed: {', '.join(result.failed)}", markup=False)
        if result.skipped:
            _err().print(f"skipped: {', '.join(result.skipped)}", markup=False)
    if not result.ok:
        raise click.exceptions.Exit(EXIT_FAILED)


def _finish_app_result(result: Any, as_json: bool) -> None:
    if as_json:
        _emit_json(result.to_dict())
    else:
        state = "[green]ok[/]" if result.ok else "[red]FAILED[/]"
        _out.print(f"{result.operation} of app {result.app}: {state}")
        for svc in result.services:
            if svc.skipped:
                _out.print(f"  {svc.service}: skipped ({svc.skipped})", markup=False)
            else:
                changed = getattr(svc.result, "changed", None)
                extra = f", {changed} changed" if isinstance(changed, int) else ""
                _out.print(f"  {svc.service}: {'ok' if svc.ok else 'FAILED'}{extra}", markup=False)
                for f in getattr(svc.result, "failures", ()):
                    _err().print(f"failed {svc.service} on {f.host}: {f.task}: {f.message}", markup=False)
    if not result.ok:
        raise click.exceptions.Exit(EXIT_FAILED)


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option(
    "--service",
    "-s",
    "services",
    multiple=True,
    metavar="NAME",
    help="Only this service of the app (repeatable).",
)
@click.option(
    "--host",
    "-H",
    "hosts",
    default=None,
    metavar="PATTERN",
    help="Only the hosts this inventory pattern matches.",
)
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(1, 10000),
    default=10,
    show_default=True,
    help="Lines per service per host.",
)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until Ctrl-C (or --timeout).")
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 86400),
    default=None,
    help="With -f: stop after this many seconds.",
)
@_inventory_option
@_quiet_option
def logs(
    spec: Path,
    services: tuple[str, ...],
    hosts: str | None,
    lines: int,
    follow: bool,
    timeout: float | None,
    inventory: Path | None,
    quiet: bool,
) -> None:
    """Print the journals of a service's (or an app's) instances from every host, each line
    prefixed with the host and the instance (service@port). Exit 1 when a host could not be read."""
    from shipyard import api

    def show(line: Any) -> None:
        sys.stdout.write(f"{line.host} {line.instance} | {line.message}\n")
        sys.stdout.flush()

    failed = api.logs(
        spec, on_line=show, services=services or None, hosts=hosts, lines=lines, follow=follow,
        timeout=timeout, inventory=inventory,
    )  # fmt: skip
    for error in failed:
        _err().print(
            f"failed {error.host}: cannot read the journal (ssh rc {error.rc}): {error.message}", markup=False
        )
    if failed:
        raise click.exceptions.Exit(EXIT_FAILED)
