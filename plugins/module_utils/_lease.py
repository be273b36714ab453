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
from ansible_collections.shipyard.deploy.plugins.module_utils._fs import atomic_write, service_flock


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


def run(module):
    params = module.params
    error = check_service_name(params["service"])
    if error:
        raise ServiceLockFailure(error)
    owner = params["owner"]
    if not owner.get("token"):
        raise ServiceLockFailure("owner.token is required (use the action plugin, not the module alone)")
    directory = params["directory"]
    path = os.path.join(directory, params["service"] + ".json")
    result = {"changed": False, "acquired": False, "holder": {}, "broken": {}, "waited": 0.0}
    if module.check_mode:
        result["holder"] = read_lease(path)
        result["acquired"] = plan(result["holder"], owner, time.time(), params["ttl"], None)[0]
        return result
    try:
        with service_flock(params["service"], timeout=params["wait"], directory=directory):
            lease = read_lease(path)
            if params["state"] == "absent":
                result["holder"] = lease
                if lease.get("token") == owner["token"]:
                    os.unlink(path)
                return result
            now = time.time()
            take, broken = plan(lease, owner, now, params["ttl"], params["break_token"])
            if take:
                keep = lease if lease.get("token") == owner["token"] else {}
                lease = dict(owner, service=params["service"], acquired_at=keep.get("acquired_at", now))
                atomic_write(path, (json.dumps(lease, sort_keys=True) + "\n").encode(), mode=0o600)
            result.update(acquired=take, holder=lease, broken=broken)
    except TimeoutError as exc:
        raise ServiceLockFailure(
            "service %s: another run's module still works on the host after %d s (%s): wait for it"
            % (params["service"], params["wait"], exc),
            cause=exc,
        ) from exc
    except OSError as exc:
        raise ServiceLockFailure("cannot use the lock in %s: %s" % (directory, exc), cause=exc) from exc
    return result
