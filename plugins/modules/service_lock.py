#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: service_lock
short_description: Hold a service's deploy lock on a host for the length of a play
version_added: 0.1.0
description:
  - One deploy, rollback or removal of a service at a time per host. The lock is a lease in
    C(/run/shipyard/locks/<service>.json) naming its owner (the controller host, its boot id and
    the PID and start time of the C(ansible-playbook) process that holds it); every read and
    write of it happens under an exclusive flock on C(/run/shipyard/locks/.<service>.flock),
    held only by the module process, so a killed module never leaves that flock behind.
  - The action plugin of the same name fills O(owner) on the controller and, while another
    owner holds the lease, polls until O(wait) seconds have passed, then fails naming the
    holder. A lease whose C(ansible-playbook) process is gone on this controller (a run that
    was killed or failed before releasing) is broken at once, with a warning naming it. A
    lease older than O(ttl) seconds (its holder may be on another controller) is broken too.
  - The lease lives under C(/run), so a reboot of the host clears it.
  - Lock bookkeeping never reports C(changed); in check mode nothing is written.
author:
  - shipyard developers (!UNKNOWN)
extends_documentation_fragment:
  - shipyard.deploy._attributes
attributes:
  check_mode:
    support: full
    details: Reads the lease and reports whether this owner would take it; writes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  service:
    description: Name of the service whose lock to take or release.
    type: str
    required: true
  state:
    description:
      - V(present) takes the lock (or reports its holder).
      - V(absent) releases it when this owner holds it.
    type: str
    choices: [present, absent]
    default: present
  owner:
    description:
      - Who takes the lock; filled by the action plugin (controller, boot_id, pid, pid_start, token).
    type: dict
    required: true
  break_token:
    description: Take the lock even when the holder with this token still has it (a dead holder).
    type: str
  ttl:
    description: Seconds after which a holder's lease counts as abandoned and is broken.
    type: int
    default: 3600
  wait:
    description: Seconds the action plugin waits for another holder before it fails.
    type: int
    default: 600
  directory:
    description: Where lease and flock files live.
    type: path
    default: /run/shipyard/locks
"""

EXAMPLES = r"""
- name: Take hello's deploy lock (waits up to 10 minutes for another run)
  shipyard.deploy.service_lock:
    service: hello

- name: Fail after 30 seconds when another run holds it
  shipyard.deploy.service_lock:
    service: hello
    wait: 30

- name: Release hello's deploy lock at the end of the play
  shipyard.deploy.service_lock:
    service: hello
    state: absent
"""

RETURN = r"""
acquired:
  description: Whether this owner holds the lock after the call (V(present)).
  returned: always
  type: bool
  sample: true
holder:
  description: The lease as it is after the call (V(present)) or before it (V(absent)); C({}) when none.
  returned: always
  type: dict
  sample: {controller: ctl1, pid: 4242, token: "ctl1:...:4242:991", acquired_at: 1732500000.5}
broken:
  description: The lease this call broke (a dead or expired holder), C({}) when none.
  returned: always
  type: dict
  sample: {}
waited:
  description: Seconds the action plugin waited for another holder.
  returned: always
  type: float
  sample: 0.0
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
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


def main():
    module = AnsibleModule(
        argument_spec={
            "service": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "owner": {"type": "dict", "required": True},
            # a holder's token is controller:boot_id:pid:start (see the action plugin), not a secret
            "break_token": {"type": "str", "no_log": False},
            "ttl": {"type": "int", "default": 3600},
            "wait": {"type": "int", "default": 600},
            "directory": {"type": "path", "default": "/run/shipyard/locks"},
        },
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except ServiceLockFailure as exc:
        module.fail_json(**exc.result())


if __name__ == "__main__":
    main()
