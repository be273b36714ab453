"""What every verb's result has in common, and how results become JSON.

Each strategy's result is a frozen dataclass that derives from :class:`Result` and names its
``kind`` (``hosts`` for the multi and container strategies, ``lambda``, ``image``, ``bake``,
``package``, ``invoke``), so a caller tells them apart by ``result.kind`` or ``isinstance``,
never by ``hasattr``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar


def to_jsonable(value: Any) -> Any:
    """Convert dataclasses, enums and paths into JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name in ("ok",):
            if hasattr(type(value), name) and isinstance(getattr(type(value), name), property):
                out[name] = getattr(value, name)
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


class Result:
    """The base of every verb's result: a ``kind`` and a JSON form."""

    kind: ClassVar[str] = "result"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the fields; ``kind`` is the type's, not a field)."""
        doc: dict[str, Any] = to_jsonable(self)
        return doc
