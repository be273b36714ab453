"""Record the wall time of every task (per play, all hosts together) and, per host, how many
task results it had and the converge's ``calls`` (module calls and remote executions).

The benchmark enables it for every run of a playbook side (shipyard, baseline, Ansible floor),
so every side pays for it alike: ``ANSIBLE_CALLBACK_PLUGINS`` points here,
``ANSIBLE_CALLBACKS_ENABLED=bench_profile`` and ``BENCH_PROFILE_OUT`` names the output file.
It only reads the clock and counts; RESULTS.md takes its profile and remote calls from it.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: bench_profile
    type: aggregate
    short_description: task wall times and remote calls per host for the shipyard benchmark
    description:
      - writes {total, tasks [{task, action, kind, seconds}], per_host {HOST {results, calls}}} to
        $BENCH_PROFILE_OUT at the end of the run
      - results counts the task results per host that ran on it (items of a loop each; includes
        and controller-only actions left out); calls is the service_converge result's calls
    requirements: [enable in ansible.cfg or ANSIBLE_CALLBACKS_ENABLED]
"""

#: actions that run on the controller only: they make no remote call on the host
LOCAL_ACTIONS = frozenset(
    {
        "include_tasks",
        "import_tasks",
        "include_role",
        "import_role",
        "include_vars",
        "set_fact",
        "debug",
        "assert",
        "fail",
        "meta",
        "add_host",
        "group_by",
        "pause",
    }
)
CONVERGE = "service_converge"


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
        self._hosts: dict[str, dict[str, object]] = {}

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

    def _result(self, result: object) -> None:
        host = result._host.get_name()  # type: ignore[attr-defined]
        action = str(getattr(result._task, "action", ""))  # type: ignore[attr-defined]
        res = result._result  # type: ignore[attr-defined]
        entry = self._hosts.setdefault(host, {"results": 0})
        if action.rsplit(".", 1)[-1] not in LOCAL_ACTIONS:
            items = res.get("results") if isinstance(res, dict) else None
            entry["results"] = int(entry["results"]) + (len(items) if isinstance(items, list) else 1)  # type: ignore[call-overload]
        calls = res.get("calls") if isinstance(res, dict) else None
        if action.endswith(CONVERGE) and isinstance(calls, dict):
            entry["calls"] = calls

    def v2_runner_on_ok(self, result: object) -> None:
        self._result(result)

    def v2_runner_on_failed(self, result: object, ignore_errors: bool = False) -> None:
        self._result(result)

    def v2_runner_on_unreachable(self, result: object) -> None:
        self._result(result)

    def v2_playbook_on_task_start(self, task: object, is_conditional: bool) -> None:
        self._start(task, "task")

    def v2_playbook_on_handler_task_start(self, task: object) -> None:
        self._start(task, "handler")

    def v2_playbook_on_stats(self, stats: object) -> None:
        self._close()
        out = os.environ.get("BENCH_PROFILE_OUT")
        if out:
            doc = {
                "total": round(time.monotonic() - self._started, 4),
                "tasks": self._tasks,
                "per_host": self._hosts,
            }
            with open(out, "w", encoding="utf-8") as handle:
                json.dump(doc, handle, indent=1)
