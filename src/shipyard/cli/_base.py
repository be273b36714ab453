"""What every command shares: the group, options defined once, progress, printing results.

stdout carries results only (one JSON document with ``--json``); progress and errors go to
stderr. Exit codes are those of :mod:`shipyard.core.constants`.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shipyard import __version__
from shipyard.core import ansible_config, inputs
from shipyard.core.constants import (
    EXIT_FAILED,
    STRATEGIES,
)
from shipyard.core.progress import EventKind, ProgressEvent
from shipyard.core.spec import check_alarm_name, parse_duration

#: Results on stdout. Piped (not a terminal), tables keep their whole cells: rich would cut
#: them to 80 columns (``default-h1`` came out as ``defau…``).
_out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 1000)


def _ansible_version() -> str:
    """The installed ansible-core's version (what the playbooks run on)."""
    try:
        return importlib.metadata.version("ansible-core")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--version``: shipyard's and ansible-core's (looked up only when asked: start-up stays light)."""
    if value and not ctx.resilient_parsing:
        click.echo(f"shipyard {__version__} (ansible-core {_ansible_version()})")
        ctx.exit()


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


class _Progress:
    """Progress on stderr: a live status line on a terminal, plain lines otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.console = _err()
        self.status: Any = None

    def __enter__(self) -> _Progress:
        if not self.quiet and self.console.is_terminal:
            self.status = self.console.status("starting")
            self.status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.__exit__(None, None, None)

    def __call__(self, event: ProgressEvent) -> None:
        if self.quiet:
            return
        if self.status is not None:
            if event.kind in (EventKind.TASK, EventKind.PLAY, EventKind.LINE):
                self.status.update(escape(event.message))
            if event.kind in (EventKind.FAILED, EventKind.UNREACHABLE):
                self.console.print(f"[red]{event.kind.value}[/]: {escape(event.message)}")
            return
        # a message is text, never markup (an alarm's reason has [brackets], say)
        if event.kind in (EventKind.TASK, EventKind.PLAY, EventKind.LINE):
            self.console.print(f"{event.kind.value}: {event.message}", markup=False)
        elif event.kind in (EventKind.CHANGED, EventKind.FAILED, EventKind.UNREACHABLE):
            self.console.print(f"  {event.kind.value}: {event.message}", markup=False)


def _jsonable(value: Any) -> Any:
    """``value`` if JSON can hold it as it is, else its text."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def _emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


def _json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")(f)


def _quiet_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--quiet", "-q", is_flag=True, help="No progress output.")(f)


def _inventory_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--inventory",
        "-i",
        type=click.Path(path_type=Path),
        default=None,
        help="Ansible inventory (default: $SHIPYARD_INVENTORY, $ANSIBLE_INVENTORY, your ansible.cfg's "
        "inventory, else inventories/lab/hosts.yml).",
    )(f)


#: The name of the ``-v`` parameter every command gets from :class:`_Group`.
_VERBOSE = "shipyard_verbose"


def _say_settings(inventory: Any, named: bool) -> None:
    """``-v``: the Ansible config file used, where each setting came from, the inventory."""
    err = _err()
    for line in ansible_config.resolve().describe():
        err.print(f"shipyard: {line}", markup=False)
    if named:
        err.print(f"shipyard: inventory {inputs.describe_inventory(inventory)}", markup=False)


class _Group(click.Group):
    """The ``shipyard`` group: every command added to it gets ``-v/--verbose``."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        taken = {opt for p in cmd.params for opt in getattr(p, "opts", ())}
        if not isinstance(cmd, click.Group) and not taken & {"-v", "--verbose"} and cmd.callback:
            cmd.params.append(
                click.Option(
                    ["-v", "--verbose", _VERBOSE],
                    is_flag=True,
                    help="Say which Ansible config file, settings and inventory are used (stderr).",
                )
            )
            callback = cmd.callback

            @functools.wraps(callback)
            def verbose_callback(*args: Any, **kwargs: Any) -> Any:
                if kwargs.pop(_VERBOSE, False):
                    _say_settings(kwargs.get("inventory"), "inventory" in kwargs)
                return callback(*args, **kwargs)

            cmd.callback = verbose_callback
        super().add_command(cmd, name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version (and ansible-core's) and exit.",
)
def cli() -> None:
    """Deploy microservices with Ansible and Packer from one service spec."""


# -- multi strategy ------------------------------------------------------------------------------


def _print_result(result: Any) -> None:
    verb = {"deploy": "deployed", "rollback": "rolled back", "remove": "removed", "status": "status of"}[
        result.operation
    ]
    state = "[green]ok[/]" if result.ok else "[red]FAILED[/]"
    check = " (check mode: nothing changed)" if result.check else ""
    _out.print(f"{verb} {result.service} {result.version}: {state}, {result.changed} changed{check}")
    if result.instances:
        table = Table()
        columns = ("host", "port", "state", "release", "pid", "memory", "restarts", "healthy", "in rotation")
        images = any(i.image for i in result.instances)  # container strategy: its image digest
        for column in columns + (("image",) if images else ()):
            table.add_column(column)
        for i in result.instances:
            memory = f"{i.memory / 1048576:.1f}M" if isinstance(i.memory, int) else "-"
            healthy = "-" if i.healthy is None else ("yes" if i.healthy else "no")
            rotation = "-" if i.in_rotation is None else ("yes" if i.in_rotation else "no")
            table.add_row(
                i.host,
                str(i.port),
                i.state,
                i.release or "-",
                str(i.pid or "-"),
                memory,
                str(i.restarts if i.restarts is not None else "-"),
                healthy,
                rotation,
                *(((i.image or "-")[:19],) if images else ()),
            )
        _out.print(table)
    for d in getattr(result, "diffs", ()):
        _out.print(f"--- {d.host}: {d.task}", markup=False)
        _out.print(d.text, markup=False)
    for f in result.failures:
        _err().print(
            f"[red]{'unreachable' if f.unreachable else 'failed'}[/] {f.host}: {f.task}: {f.message}"
        )


def _finish(result: Any, as_json: bool) -> None:
    if as_json:
        _emit_json(result.to_dict())
    elif result.kind == "lambda":
        _print_lambda(result)
    else:
        _print_result(result)
    if not result.ok:
        raise click.exceptions.Exit(EXIT_FAILED)


def _strategy_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--strategy", type=click.Choice(STRATEGIES), default=None,
        help="Override the spec's strategy.",
    )(f)  # fmt: skip


def _endpoint_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--endpoint-url", default=None, help="lambda: AWS API endpoint (default: $AWS_ENDPOINT_URL)."
    )(f)


def _print_lambda(result: Any) -> None:
    state = "[green]ok[/]" if result.ok else "[red]FAILED[/]"
    check = " (check mode: nothing changed)" if result.check else ""
    weights = "".join(f" +{v} at {w:.0%}" for v, w in result.weights.items())
    _out.print(
        f"{result.operation} {result.service} {result.version}: {state}; "
        f"alias {result.alias} -> {result.alias_version}{weights}{check}"
    )
    for action in result.actions:
        _out.print(f"  {action}", markup=False)
    if result.message:
        _err().print(f"[red]failed[/]: {escape(result.message)}", markup=True)


def _host_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--hosts", "hosts", default=None, help="Host pattern (Ansible --limit).")(f)
    return _inventory_option(f)


class _Duration(click.ParamType[int]):
    """A canary watch: 30s, 5m, 1h (10 s to 1 h), as seconds."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(f"{value!r}: {exc}", param, ctx)


def _alarm_names(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...] | None:
    for name in value:
        try:
            check_alarm_name(name)
        except ValueError as exc:
            raise click.BadParameter(f"{name!r}: {exc}", ctx, param) from None
    return value or None  # none given: the spec's


def _canary_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """lambda: --canary N, --watch DURATION, --alarm NAME (repeatable); they override lambda.canary."""
    f = click.option(
        "--alarm", "alarms", multiple=True, callback=_alarm_names, metavar="NAME",
        help="lambda: a CloudWatch alarm that rolls the canary back when it goes to ALARM "
        "(repeatable; none: the new version's Errors metric is watched).",
    )(f)  # fmt: skip
    f = click.option(
        "--watch", type=_Duration(), default=None,
        help="lambda: watch the canary this long (30s, 5m, 1h), then promote it or roll it back.",
    )(f)  # fmt: skip
    return click.option(
        "--canary", type=click.IntRange(0, 99), default=None,
        help="lambda: percent to the new version (0: none; default: the spec's lambda.canary).",
    )(f)  # fmt: skip
