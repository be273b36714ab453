"""The ``shipyard`` command line: a thin layer over :mod:`shipyard.api` and :mod:`shipyard.lab`.

One module per area (spec, lab, hosts, image, lambda_, ami) registers its commands on the one
group in :mod:`shipyard.cli._base`, where the options shared by several commands are defined
once. ``main(argv) -> int`` is the entry point (tests call it directly).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from shipyard.cli import ami, hosts, image, lab, lambda_, spec  # noqa: F401 - they register commands
from shipyard.cli._base import _err, cli
from shipyard.core.constants import EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, EXIT_SETUP
from shipyard.core.errors import Interrupted, ShipyardError

__all__ = ["cli", "main"]


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
    except click.exceptions.Abort as exc:
        err.print(_interrupted(exc.__cause__), markup=False)
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
    except KeyboardInterrupt as exc:
        err.print(_interrupted(exc), markup=False)
        return EXIT_INTERRUPTED
    return EXIT_OK


def _interrupted(exc: BaseException | None) -> str:
    """``interrupted``, and what was left behind and how to finish when the verb said so."""
    return f"interrupted: {exc}" if isinstance(exc, Interrupted) else "interrupted"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
