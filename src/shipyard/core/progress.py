"""Progress: ONE event type for every long step (playbook events, Packer lines, lab and image
builder steps), and one callback type that receives it.

A step that only has a line to say emits ``ProgressEvent(EventKind.LINE, message)`` through
:func:`say`; a caller that wants lines reads ``event.message``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


class EventKind(enum.Enum):
    """What a progress event reports."""

    PLAY = "play"
    TASK = "task"
    OK = "ok"
    CHANGED = "changed"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"
    STATS = "stats"
    LINE = "line"


@dataclass(frozen=True)
class ProgressEvent:
    """One step of progress, from ansible-runner events, Packer lines, the lab or the image builder."""

    kind: EventKind
    message: str
    host: str | None = None
    task: str | None = None


ProgressCallback = Callable[[ProgressEvent], None]


def say(progress: ProgressCallback | None, message: str) -> None:
    """Report one line of progress (nothing when there is no callback)."""
    if progress is not None:
        progress(ProgressEvent(EventKind.LINE, message))
