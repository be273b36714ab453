"""The options every strategy verb takes, defined once (the API fills them in)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shipyard.core.progress import ProgressCallback


@dataclass(frozen=True)
class Options:
    """How to run a verb: where (inventory, hosts, AWS endpoint), how (check, diff), reporting."""

    inventory: Path | str | None = None
    hosts: str | None = None
    check: bool = False
    diff: bool = False
    progress: ProgressCallback | None = None
    work_dir: Path | None = None
    timeout: int | None = None
    endpoint_url: str | None = None
    #: lambda: the canary's weight in percent (0: no canary)
    canary: int = 0
    #: rollback: the version to go back to (default: the previous one)
    to: str | None = None
