#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: service_instances
short_description: Reconcile all instances of one service on one host in one call
version_added: 0.1.0
description:
  - Takes the desired set of instances (one per port) of a service whose systemd template
    unit C(shipyard-<service>@.service) is installed, and the release they must run.
  - Reads the host first (C(current)/C(previous) links, every instance's state, pid, memory and
    the release it really runs from C(/proc/<MainPID>/cwd)), plans, then applies the plan.
  - Applying activates the release (C(current) is switched atomically and C(previous) keeps the
    old one), stops and disables surplus instances in one systemctl call, starts and enables
    missing ones in one call and health-checks them together, then restarts instances running
    another release O(max_unavailable) at a time, each batch health-checked before the next.
  - When an instance fails its health check and O(rollback_on_failure) is set, C(current) is
    switched back, the instances touched are restarted on the old release and waited for, and the
    module fails naming the instance, the reason and the unit's last journal lines.
  - With O(balancer), the instances sit behind an HAProxy backend (one server per port, named
    after the port). Before an instance restarts it is set to C(drain) through HAProxy's runtime
    API, its in-flight requests are waited for (at most O(balancer.drain_timeout) seconds), then
    it is set to C(maint); after its health check passes it is set to C(ready) again. An instance
    that fails stays in C(maint), so the balancer never sends it traffic; the rollback drains and
    restarts the touched instances the same way and readies only those that pass.
  - A run with nothing to do changes nothing and reports RV(ignore:changed=false).
author:
  - shipyard developers (!UNKNOWN)
extends_documentation_fragment:
  - shipyard.deploy._attributes
  - shipyard.deploy._attributes.STATE
  - shipyard.deploy._attributes.SERVICE
options:
  ports:
    description:
      - The desired instances, one per port; the instance name is the port.
      - Instances of the service on other ports are stopped and disabled.
      - Required when O(state=started).
    type: list
    elements: int
    default: []
  release:
    description:
      - The release every instance must run, a directory under C(<root>/<service>/releases/).
      - It must exist when O(state=started), except in check mode.
    type: str
  state:
    description:
      - V(started) reconciles the instances to O(ports) running O(release).
      - V(absent) stops and disables every instance of the service.
    type: str
    choices: [started, absent]
    default: started
  health:
    description:
      - The HTTP health check each started or restarted instance must pass.
      - Required with O(state=started). The spec's C(health); its defaults live in the spec model only.
    type: dict
    suboptions:
      path:
        description: Path requested at C(http://127.0.0.1:<port>); HTTP 200 is healthy.
        type: str
        required: true
      timeout:
        description: Seconds one request may take.
        type: float
        required: true
      interval:
        description: Longest wait between two attempts (the first comes after 50 ms, doubling).
        type: float
        required: true
      start_timeout:
        description: Seconds an instance has to become healthy after it was (re)started.
        type: float
        required: true
  max_unavailable:
    description:
      - How many instances a rolling restart takes down at a time.
      - Required with O(state=started). The spec's C(rollout.max_unavailable).
    type: int
  daemon_reload:
    description:
      - Run C(systemctl daemon-reload) first, because the unit or its environment files changed.
    type: bool
    default: false
  restart_all:
    description:
      - Rolling-restart every running instance, also those already on O(release), for example
        because the environment files changed.
    type: bool
    default: false
  rollback_on_failure:
    description:
      - On a failed health check, switch C(current) back to the release it had before this run
        and restart the instances this run touched. Only possible when the run activated a
        release and there was one before.
    type: bool
    default: true
  balancer:
    description:
      - The HAProxy in front of the instances; omit when there is none.
      - Running instances on O(release) that the balancer holds in C(maint) or C(drain) (left by
        an earlier failed run) are set C(ready) again.
    type: dict
    version_added: 0.1.0
    suboptions:
      socket:
        description: Path of HAProxy's runtime API socket (C(level admin)).
        type: path
        required: true
      backend:
        description: The backend whose servers are the instances (server name = port).
        type: str
        required: true
      drain_timeout:
        description: Seconds an instance's in-flight requests get before it is restarted anyway.
        type: float
        default: 10.0
notes:
  - Runs as root. Uses C(systemctl) and C(journalctl); health checks use Python's urllib; the
    balancer is driven over its unix socket (no C(socat) needed).
seealso:
  - module: shipyard.deploy.service_instances_info
  - module: shipyard.deploy.service_ports
"""

EXAMPLES = r"""
- name: Run three instances of hello 1.0.0 (first run starts them, a re-run changes nothing)
  shipyard.deploy.service_instances:
    service: hello
    ports: [8080, 8081, 8082]
    release: 1.0.0
    health: {path: /health, timeout: 5, interval: 0.5, start_timeout: 30}
    max_unavailable: 1
  register: hello_instances

- name: Upgrade to 2.0.0, one instance at a time, rolling back on a failed health check
  shipyard.deploy.service_instances:
    service: hello
    ports: [8080, 8081, 8082]
    release: 2.0.0
    health: {path: /health, timeout: 5, interval: 0.5, start_timeout: 30}
    max_unavailable: 1
    daemon_reload: true

- name: Show what an upgrade would do
  shipyard.deploy.service_instances:
    service: hello
    ports: [8080, 8081, 8082]
    release: 3.0.0
    health: {path: /health, timeout: 5, interval: 0.5, start_timeout: 30}
    max_unavailable: 1
  check_mode: true
  diff: true

- name: Stop and disable every instance of hello
  shipyard.deploy.service_instances:
    service: hello
    state: absent
"""

RETURN = r"""
instances:
  description: Every instance of the service after the run, sorted by port.
  returned: always
  type: list
  elements: dict
  sample:
    - port: 8080
      unit: shipyard-hello@8080.service
      state: active/running
      pid: 4242
      release: 1.0.0
      memory: 11403264
      restarts: 0
      healthy: true
      in_rotation: true
  contains:
    port:
      description: The instance's port (its instance name).
      type: int
      returned: always
      sample: 8080
    unit:
      description: The instance's unit.
      type: str
      returned: always
      sample: shipyard-hello@8080.service
    state:
      description: ActiveState/SubState.
      type: str
      returned: always
      sample: active/running
    pid:
      description: MainPID, null when not running.
      type: int
      returned: always
      sample: 4242
    release:
      description: The release the process runs (from its working directory).
      type: str
      returned: always
      sample: 1.0.0
    memory:
      description: MemoryCurrent in bytes, null when unknown.
      type: int
      returned: always
      sample: 11403264
    restarts:
      description: NRestarts.
      type: int
      returned: always
      sample: 0
    healthy:
      description: Result of one health probe now; null when not running.
      type: bool
      returned: always
      sample: true
    in_rotation:
      description:
        - Whether the balancer sends the instance new requests (HAProxy status UP); null without
          O(balancer) or when the balancer cannot be asked.
      type: bool
      returned: always
      sample: true
    container:
      description: The runc container id when the release is an image (container strategy), else null.
      type: str
      returned: always
      sample: shipyard-hello-8080
    image:
      description: The image digest of the release the instance runs (container strategy), else null.
      type: str
      returned: always
      sample: sha256:4f2a...
current:
  description: The release C(current) points to after the run.
  returned: always
  type: str
  sample: 1.0.0
previous:
  description: The release C(previous) points to after the run.
  returned: always
  type: str
  sample: 0.9.0
actions:
  description: The plan, in order; in check mode what would be done.
  returned: always
  type: list
  elements: dict
  sample:
    - {action: activate, release: 2.0.0, from: 1.0.0, msg: "activate release 2.0.0 (was 1.0.0)"}
    - action: restart
      ports: [8080]
      release: 2.0.0
      msg: "restart (rolling) shipyard-hello@8080.service -> 2.0.0"
health:
  description: Health check results of the instances started or restarted, by port.
  returned: when instances were started or restarted
  type: dict
  sample: {"8080": {healthy: true, reason: HTTP 200, attempts: 2, seconds: 0.61}}
balancer:
  description: What the balancer did, in order (drained ports and seconds waited, readied ports).
  returned: when O(balancer) is set and instances were restarted
  type: list
  elements: dict
  sample: [{drained: [8080], seconds: 0.2, timed_out: []}, {ready: [8080], seconds: 0.6, not_up: []}]
rolled_back:
  description: Whether C(current) was switched back after a failed health check.
  returned: always
  type: bool
  sample: false
failed_instance:
  description: The instance that failed its health check, with the reason and its journal tail.
  returned: failure
  type: dict
  sample: {port: 8080, unit: shipyard-hello@8080.service, reason: HTTP 503, journal: "..."}
diff:
  description: Links and port -> release before and after (with C(--diff)).
  returned: when diff mode is on
  type: dict
  sample:
    before: {current: 1.0.0, instances: {"8080": 1.0.0}}
    after: {current: 2.0.0, instances: {"8080": 2.0.0}}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    run_module,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._reconcile import (
    ARGUMENT_SPEC,
    run_locked,
)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        required_if=[("state", "started", ("release", "health", "max_unavailable"))],
    )
    result = {"changed": False, "actions": [], "instances": [], "rolled_back": False}
    run_module(module, result, run_locked)


if __name__ == "__main__":
    main()
