# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Controller side of shipyard.deploy.service_lock: who owns the lock, waiting, stale owners.

The owner is this run's ``ansible-playbook`` process (the parent of the worker running this
plugin), named by controller host, boot id, PID and the PID's start time, so a reused PID is
never mistaken for the holder.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible.plugins.action import ActionBase
from ansible_collections.shipyard.deploy.plugins.plugin_utils._lock import (
    describe,
    holder_is_dead,
    locked_message,
    owner,
)

MODULE = "shipyard.deploy.service_lock"


class ActionModule(ActionBase):
    """Take or release the service's host lock, waiting at most ``wait`` seconds."""

    _VALID_ARGS = frozenset(("service", "state", "break_token", "ttl", "wait", "directory"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        me = owner()
        args["owner"] = me
        wait = int(args.get("wait", 600))
        poll = 1.0
        started = time.monotonic()
        warnings = []
        while True:
            res = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
            if res.get("failed") or args.get("state", "present") == "absent" or res.get("acquired"):
                break
            if self._task.check_mode:
                res["msg"] = "would wait for the lock held by %s" % describe(res.get("holder") or {})
                break
            holder = res.get("holder") or {}
            if holder_is_dead(holder, me):
                args["break_token"] = holder.get("token")
                continue
            waited = time.monotonic() - started
            if waited >= wait:
                res.update(
                    failed=True,
                    msg=locked_message(
                        args.get("service"), task_vars.get("inventory_hostname"), holder, wait
                    ),
                )
                break
            time.sleep(poll)
        broken = res.get("broken") or {}
        if broken:
            warnings.append(
                "broke the deploy lock of %s on %s held by %s: %s"
                % (
                    args.get("service"),
                    task_vars.get("inventory_hostname"),
                    describe(broken),
                    broken.get("reason"),
                )
            )
        res["waited"] = round(time.monotonic() - started, 3)
        if warnings:
            res.setdefault("warnings", []).extend(warnings)
        res["changed"] = False
        result.update(res)
        return result
