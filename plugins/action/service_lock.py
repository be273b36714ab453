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

import os
import socket
import time

from ansible.plugins.action import ActionBase

MODULE = "shipyard.deploy.service_lock"


def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return "unknown"


def _start_time(pid):
    """The start time of ``pid`` in clock ticks since boot, or None when it does not exist."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            stat = handle.read()
    except (OSError, ValueError):
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def owner():
    pid = os.getppid()
    controller = socket.gethostname()
    boot = _boot_id()
    start = _start_time(pid) or "0"
    return {
        "controller": controller,
        "boot_id": boot,
        "pid": pid,
        "pid_start": start,
        "token": "%s:%s:%d:%s" % (controller, boot, pid, start),
    }


def holder_is_dead(holder, me):
    """True when ``holder`` ran on this controller and its process is gone (or it rebooted since)."""
    if holder.get("controller") != me["controller"]:
        return False
    if holder.get("boot_id") != me["boot_id"]:
        return True
    try:
        pid = int(holder.get("pid"))
    except (TypeError, ValueError):
        return False
    return _start_time(pid) != holder.get("pid_start")


def describe(holder):
    return "pid %s on controller %s since %s" % (
        holder.get("pid"),
        holder.get("controller"),
        time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(holder.get("acquired_at") or 0))),
    )


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
                    msg=(
                        "service %s is locked on %s by another run (%s) for more than %d s: "
                        "wait for it to finish, or raise shipyard_lock_wait"
                        % (args.get("service"), task_vars.get("inventory_hostname"), describe(holder), wait)
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
