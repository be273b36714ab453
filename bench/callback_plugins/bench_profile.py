"""Record the wall time of every task (per play, all hosts together) into a JSON file.

Enabled by the benchmark for its profiling runs only: ``ANSIBLE_CALLBACK_PLUGINS`` points here,
``ANSIBLE_CALLBACKS_ENABLED=bench_profile`` and ``BENCH_PROFILE_OUT`` names the output file.
The benchmark's RESULTS.md lists the slowest tasks from it where a target is missed.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: bench_profile
    type: aggregate
    short_description: task wall times for the shipyard benchmark
    description: writes [{task, action, seconds}] to $BENCH_PROFILE_OUT at the end of the run
    requirements: [enable in ansible.cfg or ANSIBLE_CALLBACKS_ENABLED]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_profile"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._started = time.monotonic()
        self._current: dict[str, object] | None = None
        self._tasks: list[dict[str, object]] = []

    def _close(self) -> None:
        if self._current is not None:
            self._current["seconds"] = round(time.monotonic() - float(self._current.pop("t0")), 4)  # type: ignore[arg-type]
            self._tasks.append(self._current)
            self._current = None

    def _start(self, task: object, kind: str) -> None:
        self._close()
        self._current = {
            "task": task.get_name(),  # type: ignore[attr-defined]
            "action": getattr(task, "action", ""),
            "kind": kind,
            "t0": time.monotonic(),
        }

    def v2_playbook_on_task_start(self, task: object, is_conditional: bool) -> None:
        self._start(task, "task")

    def v2_playbook_on_handler_task_start(self, task: object) -> None:
        self._start(task, "handler")

    def v2_playbook_on_stats(self, stats: object) -> None:
        self._close()
        out = os.environ.get("BENCH_PROFILE_OUT")
        if out:
            doc = {"total": round(time.monotonic() - self._started, 4), "tasks": self._tasks}
            with open(out, "w", encoding="utf-8") as handle:
                json.dump(doc, handle, indent=1)
