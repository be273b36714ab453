"""The container strategy's image commands: build, push."""

from __future__ import annotations

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
