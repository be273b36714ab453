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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shipyard.deploy.plugins.module_utils._lease import (
    ServiceLockFailure,
    run,
)


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
