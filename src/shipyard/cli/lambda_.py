"""The lambda strategy's commands: package, invoke, promote."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from shipyard.cli._base import (
    _emit_json,
    _endpoint_option,
    _finish,
    _json_option,
    _out,
    _Progress,
    _quiet_option,
    cli,
)
from shipyard.core.constants import EXIT_FAILED
from shipyard.core.errors import SpecError

# -- lambda strategy -----------------------------------------------------------------------------


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), default=None, help="Directory for the ZIP.")
@_json_option
@_quiet_option
def package(spec: Path, out: Path | None, quiet: bool, as_json: bool) -> None:
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
    "--sample", default=None,
    type=click.Choice(
        ["ses", "sqs", "sns", "s3", "kinesis", "dynamodb", "http", "schedule", "apigw", "direct"]
    ),
    help="Use a sample event of this trigger kind, filled from the spec's triggers (without SPEC: print it).",
)  # fmt: skip
@_endpoint_option
@_json_option
@_quiet_option
def invoke(
    spec: Path | None,
    event: str | None,
    sample: str | None,
    endpoint_url: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Run the handler locally from the built ZIP with an event; prints result and logs."""
    from shipyard import api
    from shipyard.core.spec import load_spec
    from shipyard.strategies.lambda_.invoke import read_event, sample_event

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
