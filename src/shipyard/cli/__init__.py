"""The ``shipyard`` command line: a thin layer over :mod:`shipyard.api` and :mod:`shipyard.lab`.

One module per area (spec, app, lab, hosts, image, lambda_, ami) registers its commands on the one
group in :mod:`shipyard.cli._base`, where the options shared by several commands are defined
once. ``main(argv) -> int`` is the entry point (tests call it directly).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import click

from shipyard.cli import ami, app, hosts, image, lab, lambda_, spec  # noqa: F401 - they register commands
from shipyard.cli._base import _err, _jsonable, cli
from shipyard.core.constants import EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, EXIT_SETUP
from shipyard.core.errors import Interrupted, ShipyardError, SpecError, SpecErrors

__all__ = ["cli", "main"]


# -- entry point ---------------------------------------------------------------------------------


def _error_doc(exc: BaseException, exit_code: int) -> dict[str, Any]:
    """An error as the one JSON document ``--json`` promises (values as JSON, not reprs)."""
    doc: dict[str, Any] = {
        "error": str(exc),
        "field": None,
        "value": None,
        "fix": None,
        "exit_code": exit_code,
    }
    if isinstance(exc, SpecError):
        first = exc.errors[0] if isinstance(exc, SpecErrors) and exc.errors else exc
        doc.update(field=first.field, value=_jsonable(first.value), fix=first.fix)
        if isinstance(exc, SpecErrors):
            doc["errors"] = [
                {"field": e.field, "value": _jsonable(e.value), "fix": e.fix, "error": e.message}
                for e in exc.errors
            ]
    return doc


class _StderrWarnings(logging.Handler):
    """shipyard's warnings (e.g. which AWS endpoint a command uses) as ``warning: …`` lines."""

    def emit(self, record: logging.LogRecord) -> None:
        _err().print(f"warning: {record.getMessage()}", markup=False)


def _show_warnings() -> None:
    logger = logging.getLogger("shipyard")
    if not any(isinstance(h, _StderrWarnings) for h in logger.handlers):
        handler = _StderrWarnings(logging.WARNING)
        logger.addHandler(handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this directly).

    With ``--json`` an error is one JSON document on stdout too
    (``{"error", "field", "value", "fix", "exit_code"}``); its line still goes to stderr.
    """
    args = list(argv) if argv is not None else sys.argv[1:]
    as_json = "--json" in args
    err = _err()
    _show_warnings()

    def fail(exc: BaseException, code: int, lines: list[str]) -> int:
        for line in lines:
            err.print(line, markup=False)
        if as_json:
            sys.stdout.write(json.dumps(_error_doc(exc, code), indent=2, sort_keys=True) + "\n")
        return code

    try:
        # Without standalone mode click returns the code of a click.exceptions.Exit.
        code = cli.main(args=args, prog_name="shipyard", standalone_mode=False)
        if isinstance(code, int):
            return code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort as exc:
        return fail(exc, EXIT_INTERRUPTED, [_interrupted(exc.__cause__)])
    except click.ClickException as exc:
        return fail(exc, EXIT_INVALID, [f"error: {exc.format_message()}"])
    except ShipyardError as exc:
        prefix = (
            "invalid input"
            if exc.exit_code == EXIT_INVALID
            else ("setup" if exc.exit_code == EXIT_SETUP else "error")
        )
        return fail(exc, exc.exit_code, [f"{prefix}: {line}" for line in str(exc).splitlines()])
    except KeyboardInterrupt as exc:
        return fail(exc, EXIT_INTERRUPTED, [_interrupted(exc)])
    return EXIT_OK


def _interrupted(exc: BaseException | None) -> str:
    """``interrupted``, and what was left behind and how to finish when the verb said so."""
    return f"interrupted: {exc}" if isinstance(exc, Interrupted) else "interrupted"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
