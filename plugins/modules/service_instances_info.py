#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: service_instances_info
short_description: Report the instances and releases of one service on one host
version_added: 0.1.0
description:
  - Reads, without changing anything, every instance of a service (state, pid, the release it
    runs, memory, restarts, one health probe now), the C(current) and C(previous) releases and
    the releases installed on the host with their manifests.
  - Makes one C(systemctl show) call for all instances.
author:
  - shipyard developers (!UNKNOWN)
extends_documentation_fragment:
  - shipyard.deploy._attributes
  - shipyard.deploy._attributes.INFO_MODULE
  - shipyard.deploy._attributes.SERVICE
options:
  ports:
    description:
      - Ports expected to run an instance; those that do not are listed in RV(missing).
    type: list
    elements: int
    default: []
  health:
    description:
      - The health probe made of each running instance (the spec's C(health)); without it no
        instance is probed and RV(instances[].healthy) is null.
    type: dict
    suboptions:
      path:
        description: Path requested at C(http://127.0.0.1:<port>); HTTP 200 is healthy.
        type: str
        required: true
      timeout:
        description: Seconds the request may take.
        type: float
        required: true
  balancer:
    description:
      - The HAProxy in front of the instances, asked over its runtime API which instances are in
        rotation (RV(instances[].in_rotation)).
      - When omitted, C(/run/shipyard-lb-<service>/admin.sock) (backend C(<service>)) is asked
        if it exists.
    type: dict
    version_added: 0.1.0
    suboptions:
      socket:
        description: Path of HAProxy's runtime API socket.
        type: path
        required: true
      backend:
        description: The backend whose servers are the instances (server name = port).
        type: str
        required: true
seealso:
  - module: shipyard.deploy.service_instances
"""

EXAMPLES = r"""
- name: Read the state of hello
  shipyard.deploy.service_instances_info:
    service: hello
    ports: [8080, 8081, 8082]
  register: hello_status

- name: Show which release each instance runs
  ansible.builtin.debug:
    msg: "{{ hello_status.instances | map(attribute='release') | list }}"
"""

RETURN = r"""
instances:
  description: Every instance of the service (loaded, enabled or expected), sorted by port.
  returned: always
  type: list
  elements: dict
  sample:
    - {port: 8080, unit: shipyard-hello@8080.service, state: active/running, pid: 4242,
       release: 1.0.0, memory: 11403264, restarts: 0, healthy: true, in_rotation: true}
  contains:
    healthy:
      description:
        - Whether the instance answered its probe with HTTP 200; null when it is not running or
          without O(health).
      type: bool
      returned: always
      sample: true
    in_rotation:
      description:
        - Whether the balancer sends the instance requests (HAProxy status UP); null without a
          balancer or when it cannot be asked.
      type: bool
      returned: always
      sample: true
    balancer_status:
      description: The instance's server status in HAProxy (UP, DOWN, DRAIN, MAINT), null without one.
      type: str
      returned: always
      sample: UP
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
  description: The release C(current) points to, null when none.
  returned: always
  type: str
  sample: 2.0.0
previous:
  description: The release C(previous) points to, null when none.
  returned: always
  type: str
  sample: 1.0.0
releases:
  description: The releases on the host, sorted by name, with their manifests.
  returned: always
  type: list
  elements: dict
  sample:
    - release: 1.0.0
      sha256: "5303b028..."
      time: "2025-01-01T00:00:00Z"
      activated: "2025-01-01T00:00:01Z"
      complete: true
missing:
  description: Ports in O(ports) without a running instance.
  returned: always
  type: list
  elements: int
  sample: []
healthy:
  description:
    - Whether every running instance answered its probe with HTTP 200 and none is missing.
    - Null without O(health).
  returned: always
  type: bool
  sample: true
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    ShipyardModuleError,
    check_ports,
    check_service_name,
    run_module,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._haproxy import servers as lb_servers
from ansible_collections.shipyard.deploy.plugins.module_utils._health import probe_all
from ansible_collections.shipyard.deploy.plugins.module_utils._instances import (
    MANIFEST,
    read_state,
    releases_dir,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._systemd import Systemctl


class ServiceInstancesInfoFailure(ShipyardModuleError):
    """The state could not be read."""


def list_releases(path):
    try:
        names = sorted(os.listdir(path))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        if name.startswith(".") or not os.path.isdir(os.path.join(path, name)):
            continue  # a release being deleted (.removing-*) is no release
        record = {"release": name, "sha256": None, "time": None, "activated": None,
                  "complete": False}
        try:
            with open(os.path.join(path, name, MANIFEST)) as handle:
                manifest = json.load(handle)
            record.update((k, manifest.get(k)) for k in ("sha256", "time", "activated"))
            record["complete"] = True
        except (OSError, ValueError, AttributeError):
            pass
        out.append(record)
    return out


def read_rotation(params):
    """{port: {status, in_rotation}} from the balancer; {} without one or when unreachable."""
    balancer = params.get("balancer")
    if not balancer:
        path = "/run/shipyard-lb-%s/admin.sock" % params["service"]
        if not os.path.exists(path):
            return {}
        balancer = {"socket": path, "backend": params["service"]}
    try:
        return lb_servers(balancer["socket"], balancer["backend"])
    except ShipyardModuleError:
        return {}


def gather(module, result):
    params = module.params
    for message in (check_service_name(params["service"]), check_ports(params["ports"])):
        if message:
            raise ServiceInstancesInfoFailure(message)
    state = read_state(Systemctl(module), params["service"], params["root"], params["ports"])
    running = [p for p, i in state["instances"].items() if i["active"]]
    health = params["health"]
    probes = probe_all(running, health["path"], health["timeout"]) if health else {}
    rotation = read_rotation(params)
    instances = []
    for port in sorted(state["instances"]):
        record = dict(state["instances"][port])
        record["healthy"] = probes[port][0] if port in probes else None
        record["health"] = probes[port][1] if port in probes else None
        record["in_rotation"] = rotation[port]["in_rotation"] if port in rotation else None
        record["balancer_status"] = rotation[port]["status"] if port in rotation else None
        instances.append(record)
    missing = [p for p in params["ports"] if p not in running]
    result.update(
        current=state["current"],
        previous=state["previous"],
        instances=instances,
        releases=list_releases(releases_dir(params["root"], params["service"])),
        missing=missing,
        healthy=(not missing and all(probes[p][0] for p in running)) if health else None,
    )


def main():
    module = AnsibleModule(
        argument_spec={
            "service": {"type": "str", "required": True},
            "root": {"type": "path", "default": "/opt/shipyard"},
            "ports": {"type": "list", "elements": "int", "default": []},
            "health": {
                "type": "dict",
                "options": {
                    "path": {"type": "str", "required": True},
                    "timeout": {"type": "float", "required": True},
                },
            },
            "balancer": {
                "type": "dict",
                "options": {
                    "socket": {"type": "path", "required": True},
                    "backend": {"type": "str", "required": True},
                },
            },
        },
        supports_check_mode=True,
    )
    result = {"changed": False}
    run_module(module, result, gather)


if __name__ == "__main__":
    main()
