"""The ``shipyard`` command line: a thin layer over :mod:`shipyard.api` and :mod:`shipyard.lab`.

stdout carries results only (one JSON document with ``--json``); progress and errors go to
stderr. Exit codes are those of :mod:`shipyard.constants`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from shipyard import __version__
from shipyard.constants import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, EXIT_SETUP
from shipyard.errors import ShipyardError, SpecError, SpecErrors
from shipyard.runner import EventKind, ProgressEvent

_out = Console(highlight=False, soft_wrap=True)


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
                self.status.update(event.message)
            if event.kind in (EventKind.FAILED, EventKind.UNREACHABLE):
                self.console.print(f"[red]{event.kind.value}[/]: {event.message}")
            return
        if event.kind in (EventKind.TASK, EventKind.PLAY, EventKind.LINE):
            self.console.print(f"{event.kind.value}: {event.message}")
        elif event.kind in (EventKind.CHANGED, EventKind.FAILED, EventKind.UNREACHABLE):
            self.console.print(f"  {event.kind.value}: {event.message}")

    def lab(self, message: str) -> None:
        self(ProgressEvent(EventKind.LINE, message))


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
        help="Ansible inventory (default: $SHIPYARD_INVENTORY or inventories/lab/hosts.yml).",
    )(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="shipyard")
def cli() -> None:
    """Deploy microservices with Ansible and Packer from one service spec."""


# -- spec ----------------------------------------------------------------------------------------


@cli.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path))
@_json_option
def validate(specs: tuple[Path, ...], as_json: bool) -> None:
    """Validate service specs; nothing is touched. Exit 2 names every bad field."""
    from shipyard import api

    results: list[dict[str, Any]] = []
    errors: list[SpecError] = []
    for path in specs:
        try:
            loaded = api.validate(path)
        except SpecErrors as exc:
            errors.extend(exc.errors)
            results.append(
                {"file": str(path), "valid": False, "errors": [_spec_error_doc(e) for e in exc.errors]}
            )
        except SpecError as exc:
            errors.append(exc)
            results.append({"file": str(path), "valid": False, "errors": [_spec_error_doc(exc)]})
        else:
            results.append(
                {
                    "file": str(path),
                    "valid": True,
                    "name": loaded.service.name,
                    "version": loaded.service.version,
                    "strategy": loaded.service.strategy,
                }
            )
    if as_json:
        _emit_json({"specs": results, "valid": not errors})
    else:
        for doc in results:
            if doc["valid"]:
                _out.print(f"{doc['file']}: ok ({doc['name']} {doc['version']}, {doc['strategy']})")
    if errors:
        raise SpecErrors(errors)


def _spec_error_doc(exc: SpecError) -> dict[str, Any]:
    return {"field": exc.field, "value": repr(exc.value), "fix": exc.fix, "message": exc.message}


@cli.command()
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Write to a file instead of stdout."
)
def schema(out: Path | None) -> None:
    """Print the JSON Schema of the service spec (for editors)."""
    from shipyard.fsutil import atomic_write
    from shipyard.spec import json_schema

    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        atomic_write(out, text, mode=0o644)


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@_json_option
def render(spec: Path, as_json: bool) -> None:
    """Print the playbooks' variables for SPEC as a YAML vars file (ansible-playbook -e @FILE).

    The spec is validated and its artifact checked against its sha256 first. The file's root is
    tagged ``!unsafe``: Ansible never templates a value of it. ``--json`` prints the same
    variables as JSON for tools (jq, or a play's ``from_json``, whose result Ansible 2.19 never
    templates); do not pass that JSON to ``-e @FILE``: Ansible templates plain vars files.
    Secret values are not included: pass them as ``shipyard_secrets`` yourself, from a vault,
    marked ``!unsafe`` too.
    """
    from shipyard import ansible_vars, api

    variables = api.render(spec)
    if as_json:
        _emit_json(variables)
    else:
        sys.stdout.write(ansible_vars.dumps(variables))


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
        status = Lab(name, progress=progress.lab).up(
            hosts=hosts, inventory=inventory.resolve(), aws=not no_aws
        )
    if as_json:
        _emit_json(status.to_dict())
    else:
        _print_lab(status)


@lab.command("status")
@_lab_name_option
@_json_option
def lab_status(name: str, as_json: bool) -> None:
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
        Lab(name, progress=progress.lab).down()
    if not quiet:
        _err().print(f"lab {name} is down")


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
    for f in result.failures:
        _err().print(
            f"[red]{'unreachable' if f.unreachable else 'failed'}[/] {f.host}: {f.task}: {f.message}"
        )


def _finish(result: Any, as_json: bool) -> None:
    if as_json:
        _emit_json(result.to_dict())
    elif hasattr(result, "function_arn"):
        _print_lambda(result)
    else:
        _print_result(result)
    if not result.ok:
        raise click.exceptions.Exit(EXIT_FAILED)


def _strategy_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--strategy", type=click.Choice(["multi", "ami", "lambda", "container"]), default=None,
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
        _out.print(f"  {action}")
    if result.message:
        _err().print(f"[red]failed[/]: {result.message}", markup=True)


def _host_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--hosts", "hosts", default=None, help="Host pattern (Ansible --limit).")(f)
    return _inventory_option(f)


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@_host_options
@click.option("--check", is_flag=True, help="Dry run: report what would change.")
@click.option("--diff", is_flag=True, help="Show before/after.")
@_strategy_option
@_endpoint_option
@click.option("--canary", type=click.IntRange(0, 99), default=0, help="lambda: percent to the new version.")
@_json_option
@_quiet_option
def deploy(
    spec: Path,
    inventory: Path | None,
    hosts: str | None,
    check: bool,
    diff: bool,
    strategy: str | None,
    endpoint_url: str | None,
    canary: int,
    as_json: bool,
    quiet: bool,
) -> None:
    """Deploy a service by its spec (health-gated, rolls back on failure)."""
    from shipyard import api

    with _Progress(quiet) as progress:
        result = api.deploy(
            spec, inventory=inventory, hosts=hosts, check=check, diff=diff, progress=progress,
            strategy=strategy, endpoint_url=endpoint_url, canary=canary,
        )  # fmt: skip
    _finish(result, as_json)


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@_host_options
@_json_option
@_quiet_option
def status(spec: Path, inventory: Path | None, hosts: str | None, as_json: bool, quiet: bool) -> None:
    """Show every instance of a service: host, port, state, release, memory, restarts."""
    from shipyard import api

    with _Progress(quiet) as progress:
        result = api.status(spec, inventory=inventory, hosts=hosts, progress=progress)
    _finish(result, as_json)


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
    """Switch a service back to its previous release (or --to VERSION); lambda: the alias."""
    from shipyard import api

    with _Progress(quiet) as progress:
        result = api.rollback(
            spec, to=to, inventory=inventory, hosts=hosts, check=check, progress=progress,
            endpoint_url=endpoint_url,
        )  # fmt: skip
    _finish(result, as_json)


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@_host_options
@click.option("--check", is_flag=True, help="Dry run.")
@_json_option
@_quiet_option
def remove(
    spec: Path, inventory: Path | None, hosts: str | None, check: bool, as_json: bool, quiet: bool
) -> None:
    """Remove a service: instances, units, files; its ports are freed."""
    from shipyard import api

    with _Progress(quiet) as progress:
        result = api.remove(spec, inventory=inventory, hosts=hosts, check=check, progress=progress)
    _finish(result, as_json)


# -- container strategy: the image ---------------------------------------------------------------


def _print_image(result: Any, as_json: bool) -> None:
    if as_json:
        _emit_json(
            {"image": result.image, "tag": result.tag, "digest": result.digest, "layers": list(result.layers)}
        )
    else:
        _out.print(f"{result.image}:{result.tag} {result.digest}")


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="OCI layout directory (default: build/images/<service>).")  # fmt: skip
@_json_option
@_quiet_option
def build(spec: Path, out: Path | None, as_json: bool, quiet: bool) -> None:
    """Build the spec's container image as a reproducible OCI layout; print its digest."""
    from shipyard import api

    with _Progress(quiet) as progress:
        result = api.build(spec, out=out, progress=progress)
    _print_image(result, as_json)


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@_inventory_option
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="OCI layout directory (default: build/images/<service>).")  # fmt: skip
@click.option("--tls-verify/--no-tls-verify", "tls_verify", default=None,
              help="Require HTTPS (default: off for the lab registry, on otherwise).")  # fmt: skip
@_json_option
@_quiet_option
def push(
    spec: Path, inventory: Path | None, out: Path | None, tls_verify: bool | None, as_json: bool, quiet: bool
) -> None:
    """Build the spec's image and push it by tag (its version); print the digest."""
    from shipyard import api

    with _Progress(quiet) as progress:
        result = api.push(spec, inventory=inventory, out=out, tls_verify=tls_verify, progress=progress)
    _print_image(result, as_json)


# -- lambda strategy -----------------------------------------------------------------------------


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), default=None, help="Directory for the ZIP.")
@_json_option
def package(spec: Path, out: Path | None, as_json: bool) -> None:
    """Build the spec's reproducible Lambda ZIP (limits and handler checked)."""
    from shipyard import api
    from shipyard.api import to_jsonable

    result = api.package(spec, out_dir=out)
    if as_json:
        _emit_json(to_jsonable(result))
    else:
        _out.print(f"{result.path}: {result.size} bytes, {result.files} files, sha256 {result.sha256}")


@cli.command()
@click.argument("spec", required=False, type=click.Path(path_type=Path))
@click.option("--event", "event", default=None, help="Event JSON file, or - for stdin.")
@click.option(
    "--sample", type=click.Choice(["s3", "apigw", "schedule", "kinesis", "dynamodb", "direct"]), default=None,
    help="Use a sample event (without SPEC: print it).",
)  # fmt: skip
@_endpoint_option
@_json_option
def invoke(
    spec: Path | None, event: str | None, sample: str | None, endpoint_url: str | None, as_json: bool
) -> None:
    """Run the handler locally from the built ZIP with an event; prints result and logs."""
    from shipyard import api
    from shipyard.lambda_invoke import read_event, sample_event
    from shipyard.spec import load_spec

    if spec is None:
        if sample is None:
            raise SpecError("SPEC", None, "give a spec, or --sample KIND to print a sample event")
        _emit_json(sample_event(sample))
        return
    if event is not None and sample is not None:
        raise SpecError("--event", event, "give --event or --sample, not both")
    payload: Any = {}
    if sample is not None:
        payload = sample_event(sample, load_spec(spec))
    elif event is not None:
        payload = read_event(event)
    result = api.invoke(spec, event=payload, endpoint_url=endpoint_url)
    if as_json:
        _emit_json(result.to_dict())
    else:
        sys.stderr.write(result.logs)
        _out.print(json.dumps(result.result if result.ok else result.error, indent=2, default=str))
        if not result.ok and result.error is not None:
            how = "timed out" if result.timed_out else "failed"
            sys.stderr.write(f"handler {how} after {result.duration:.3f} s: {result.error['errorMessage']}\n")
    if not result.ok:
        raise click.exceptions.Exit(EXIT_FAILED)


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--check", is_flag=True, help="Dry run.")
@_endpoint_option
@_json_option
@_quiet_option
def promote(spec: Path, check: bool, endpoint_url: str | None, as_json: bool, quiet: bool) -> None:
    """Finish a lambda canary: the alias points wholly at the new version."""
    from shipyard import api

    with _Progress(quiet) as progress:
        result = api.promote(spec, endpoint_url=endpoint_url, check=check, progress=progress)
    _finish(result, as_json)


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

    with _Progress(quiet or as_json) as progress:
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
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@_ami_endpoint_option
@_json_option
def prune(spec: Path, keep: int | None, dry_run: bool, ami_endpoint: str | None, as_json: bool) -> None:
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
def rollout(spec: Path, to: str | None, ami_endpoint: str | None, as_json: bool) -> None:
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


# -- entry point ---------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this directly)."""
    err = _err()
    try:
        # Without standalone mode click returns the code of a click.exceptions.Exit.
        code = cli.main(
            args=list(argv) if argv is not None else None, prog_name="shipyard", standalone_mode=False
        )
        if isinstance(code, int):
            return code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        err.print("interrupted")
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        err.print(f"error: {exc.format_message()}", markup=False)
        return EXIT_INVALID
    except ShipyardError as exc:
        prefix = (
            "invalid input"
            if exc.exit_code == EXIT_INVALID
            else ("setup" if exc.exit_code == EXIT_SETUP else "error")
        )
        for line in str(exc).splitlines():
            err.print(f"{prefix}: {line}", markup=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
