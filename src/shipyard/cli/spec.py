"""Commands on spec files: validate, schema, render."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from shipyard.cli._base import (
    _emit_json,
    _err,
    _inventory_option,
    _json_option,
    _jsonable,
    _out,
    _Progress,
    _quiet_option,
    cli,
)
from shipyard.core.constants import EXIT_INVALID
from shipyard.core.errors import SpecError, SpecErrors

# -- spec ----------------------------------------------------------------------------------------


@cli.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--offline",
    is_flag=True,
    help="Do not download URL artifacts to check their sha256, and do not read hosts' memory and cores.",
)
@_inventory_option
@_json_option
@_quiet_option
def validate(
    specs: tuple[Path, ...], offline: bool, inventory: Path | None, quiet: bool, as_json: bool
) -> None:
    """Validate service specs and their artifacts (sha256); nothing is changed. Exit 2 names
    every bad field.

    An app (an app file or a directory of specs) is validated whole: every spec, duplicate
    names, dependencies and cycles, and with an inventory port clashes per host and capacity
    (each host's memory and cores from the inventory or read from the hosts; --offline: not read).
    """
    from shipyard import api

    results: list[dict[str, Any]] = []
    errors: list[SpecError] = []
    for path in specs:
        try:
            with _Progress(quiet) as progress:
                loaded = api.validate(path, offline=offline, inventory=inventory, progress=progress)
        except SpecErrors as exc:
            errors.extend(exc.errors)
            results.append(
                {"file": str(path), "valid": False, "errors": [_spec_error_doc(e) for e in exc.errors]}
            )
        except SpecError as exc:
            errors.append(exc)
            results.append({"file": str(path), "valid": False, "errors": [_spec_error_doc(exc)]})
        else:
            if isinstance(loaded, api.AppCheck):
                results.append({"file": str(path), "valid": True, **loaded.to_dict()})
                continue
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
            if doc["valid"] and "waves" in doc:
                _print_app_check(doc)
            elif doc["valid"]:
                _out.print(f"{doc['file']}: ok ({doc['name']} {doc['version']}, {doc['strategy']})")
    if errors and as_json:  # the document above is the one JSON document; the lines go to stderr
        for error in errors:
            _err().print(f"invalid input: {error.message}", markup=False)
        raise click.exceptions.Exit(EXIT_INVALID)
    if errors:
        raise SpecErrors(errors)


def _print_app_check(doc: dict[str, Any]) -> None:
    waves = " -> ".join(", ".join(w) for w in doc["waves"])
    count = len(doc["services"])
    _out.print(f"{doc['file']}: ok (app {doc['app']}: {count} services; waves: {waves})", markup=False)
    for host in doc["hosts"]:
        _out.print(
            f"  {host['host']}: memory {_size(host['memory_used'])} of {_size(host['memory_available'])}, "
            f"cpu {host['cpus_used']:g} of {host['cpus_available']:g} cores ({host['source']})",
            markup=False,
        )
    for host, names in doc["placement"].items():
        if not any(h["host"] == host for h in doc["hosts"]):
            _out.print(f"  {host}: {', '.join(names)}", markup=False)
    for reason in doc["skipped"]:
        _err().print(f"skipped: {reason}", markup=False)


def _size(value: float) -> str:
    from shipyard.core.app import format_bytes

    return format_bytes(value)


def _spec_error_doc(exc: SpecError) -> dict[str, Any]:
    return {"field": exc.field, "value": _jsonable(exc.value), "fix": exc.fix, "message": exc.message}


@cli.command()
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Write to a file instead of stdout."
)
@_quiet_option
def schema(out: Path | None, quiet: bool) -> None:
    """Print the JSON Schema of the service spec (for editors)."""
    from shipyard.core.fsutil import atomic_write
    from shipyard.core.spec import json_schema

    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        atomic_write(out, text, mode=0o644)


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@_json_option
@_quiet_option
def render(spec: Path, as_json: bool, quiet: bool) -> None:
    """Print the playbooks' variables for SPEC as a YAML vars file (ansible-playbook -e @FILE).

    The spec is validated and its artifact checked against its sha256 first. The file's root is
    tagged ``!unsafe``: Ansible never templates a value of it. ``--json`` prints the same
    variables as JSON for tools (jq, or a play's ``from_json``, whose result Ansible 2.19 never
    templates); do not pass that JSON to ``-e @FILE``: Ansible templates plain vars files.
    Secret values are not included: pass them as ``shipyard_secrets`` yourself, from a vault,
    marked ``!unsafe`` too.
    """
    from shipyard import api
    from shipyard.core import ansible_vars

    variables = api.render(spec)
    if as_json:
        _emit_json(variables)
    else:
        sys.stdout.write(ansible_vars.dumps(variables))
