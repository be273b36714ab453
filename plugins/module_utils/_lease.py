# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: the host-side work of the module service_lock.

Shared with shipyard.deploy.service_converge (which runs it
for many services in one call). ``module`` is an AnsibleModule or a
``_task.SubTask`` view of one (params, check mode, diff mode, run_command).

Host-side code: standard library and ansible.module_utils only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    ShipyardModuleError,
    check_service_name,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._fs import atomic_write, flock, service_flock


class ServiceLockFailure(ShipyardModuleError):
    """The lease could not be read or written."""


def read_lease(path):
    try:
        with open(path) as handle:
            doc = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {"token": "(unreadable lease)", "acquired_at": 0}  # written atomically: never torn
    return doc if isinstance(doc, dict) else {}


def plan(lease, owner, now, ttl, break_token):
    """(take, broken): whether ``owner`` may take the lease, and the lease it breaks."""
    if not lease or lease.get("token") == owner["token"]:
        return True, {}
    if break_token and lease.get("token") == break_token:
        return True, dict(lease, reason="its ansible-playbook process is gone")
    if now - float(lease.get("acquired_at") or 0) > ttl:
        return True, dict(lease, reason="it is older than %d s" % ttl)
    return False, {}


def lease_path(directory, service):
    return os.path.join(directory, service + ".json")


def _lease_lock(directory, service, timeout):
    """The short flock of the lease's read-modify-write (never held while waiting for work)."""
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    return flock(os.path.join(directory, ".%s.lease.flock" % service), timeout=timeout)


def take(directory, service, owner, ttl, break_token=None, timeout=None):
    """(taken, lease, broken): take ``service``'s lease for ``owner`` unless another live run
    holds it (a dead holder's lease is broken by its ``break_token``, an old one by ``ttl``)."""
    path = lease_path(directory, service)
    with _lease_lock(directory, service, timeout):
        lease = read_lease(path)
        now = time.time()
        taken, broken = plan(lease, owner, now, ttl, break_token)
        if taken:
            keep = lease if lease.get("token") == owner["token"] else {}
            lease = dict(owner, service=service, acquired_at=keep.get("acquired_at", now))
            atomic_write(path, (json.dumps(lease, sort_keys=True) + "\n").encode(), mode=0o600)
    return taken, lease, broken


def drop(directory, service, owner, timeout=None):
    """Remove ``service``'s lease when ``owner`` holds it; returns the lease found."""
    path = lease_path(directory, service)
    with _lease_lock(directory, service, timeout):
        lease = read_lease(path)
        if lease.get("token") == owner["token"]:
            os.unlink(path)
    return lease


def run(module):
    params = module.params
    error = check_service_name(params["service"])
    if error:
        raise ServiceLockFailure(error)
    owner = params["owner"]
    if not owner.get("token"):
        raise ServiceLockFailure("owner.token is required (use the action plugin, not the module alone)")
    directory = params["directory"]
    path = lease_path(directory, params["service"])
    result = {"changed": False, "acquired": False, "holder": {}, "broken": {}, "waited": 0.0}
    if module.check_mode:
        result["holder"] = read_lease(path)
        result["acquired"] = plan(result["holder"], owner, time.time(), params["ttl"], None)[0]
        return result
    try:
        # the service's flock too: a lease is not taken while an orphaned module still works
        with service_flock(params["service"], timeout=params["wait"], directory=directory):
            if params["state"] == "absent":
                result["holder"] = drop(directory, params["service"], owner, params["wait"])
                return result
            taken, lease, broken = take(directory, params["service"], owner, params["ttl"],
                                        params["break_token"], params["wait"])
            result.update(acquired=taken, holder=lease, broken=broken)
    except TimeoutError as exc:
        raise ServiceLockFailure(
            "service %s: another run's module still works on the host after %d s (%s): wait for it"
            % (params["service"], params["wait"], exc),
            cause=exc,
        ) from exc
    except OSError as exc:
        raise ServiceLockFailure("cannot use the lock in %s: %s" % (directory, exc), cause=exc) from exc
    return result
