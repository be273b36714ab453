# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy (controller side): who owns a deploy lease, and stale owners.

The owner is this run's ``ansible-playbook`` process (the parent of the worker running the
action plugin), named by controller host, boot id, PID and the PID's start time, so a reused
PID is never mistaken for the holder. Used by the action plugins service_lock and
service_converge.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import time


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


def locked_message(service, host, holder, wait):
    """The failure when ``service`` stayed locked on ``host`` longer than ``wait`` seconds."""
    return ("service %s is locked on %s by another run (%s) for more than %d s: "
            "wait for it to finish, or raise shipyard_lock_wait"
            % (service, host, describe(holder), wait))
