"""The one error hierarchy of shipyard: every error carries its message and exit code."""

from __future__ import annotations

from typing import Any

from shipyard.core.constants import EXIT_FAILED, EXIT_INVALID, EXIT_SETUP, EXIT_TIMEOUT


class ShipyardError(Exception):
    """Base of every error shipyard raises on purpose.

    Args:
        message: what failed, where, and what to do.
        exit_code: the CLI exit code for this error.
    """

    exit_code: int = EXIT_FAILED

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class SpecError(ShipyardError):
    """Invalid input: a field of a service spec (or a CLI argument) is wrong. Nothing was touched.

    Args:
        field: dotted path of the field (``resources.memory``), or ``""`` for the whole file.
        value: the offending value (shown with ``repr``, shortened).
        fix: what to do instead.
        source: the file the value came from, if any.
    """

    exit_code = EXIT_INVALID

    def __init__(self, field: str, value: Any, fix: str, *, source: str | None = None) -> None:
        self.field = field
        self.value = value
        self.fix = fix
        self.source = source
        shown = _short_repr(value)
        where = f"{source}: " if source else ""
        label = field or "spec"
        super().__init__(f"{where}{label}: {shown} is not allowed: {fix}")


class SpecErrors(SpecError):
    """Several spec errors at once (all the fields that are wrong, not just the first)."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(first.field, first.value, first.fix, source=first.source)
        self.message = "\n".join(e.message for e in errors)

    def __str__(self) -> str:
        return self.message


class SetupError(ShipyardError):
    """A tool, privilege or the lab is missing; the message says what to run."""

    exit_code = EXIT_SETUP


class OperationError(ShipyardError):
    """The operation failed on a host or in AWS."""

    exit_code = EXIT_FAILED


class DeployTimeout(ShipyardError):
    """A deadline passed."""

    exit_code = EXIT_TIMEOUT


class Interrupted(KeyboardInterrupt):
    """An interrupt (SIGINT) that says what was left behind and how to finish (CLI exit 130).

    A KeyboardInterrupt still, so whoever catches that catches this too.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
