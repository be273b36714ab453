"""The options every strategy verb takes, defined once (the API fills them in)."""

from __future__ import annotations

from collections.abc import Sequence
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
    #: lambda: the canary's weight in percent (0: no canary; None: the spec's lambda.canary)
    canary: int | None = None
    #: lambda: how long to watch the canary before promoting it, in seconds or as ``5m``
    #: (None: the spec's; 0: no watch)
    watch: float | str | None = None
    #: lambda: CloudWatch alarms that roll the canary back (None: the spec's)
    alarms: Sequence[str] | None = None
    #: rollback: the version to go back to (default: the previous one)
    to: str | None = None
    #: deploy of an app: remove the services dropped from the app file (with check: list them)
    prune: bool = False
