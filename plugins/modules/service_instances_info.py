#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: service_instances_info
short_description: Report the instances and releases of services on one host
version_added: 0.1.0
description:
  - Reads, without changing anything, every instance of a service (state, pid, the release it
    runs, memory, CPU time, restarts, one health probe now), the C(current) and C(previous)
    releases and the releases installed on the host with their manifests.
  - Makes one C(systemctl show) call for all instances of a service.
  - With O(services), reports several services (an application's) in one call, in
    RV(services).
author:
  - shipyard developers (!UNKNOWN)
extends_documentation_fragment:
  - shipyard.deploy._attributes
  - shipyard.deploy._attributes.INFO_MODULE
options:
  service:
    description:
      - Name of the service; its instances are the units C(shipyard-<service>@<port>.service).
      - One of O(service) and O(services) is required.
    type: str
  root:
    description:
      - Directory holding one directory per service, with C(releases/<release>), C(current)
        and C(previous) in it.
    type: path
    default: /opt/shipyard
  services:
    description:
      - Several services to report at once (an application's services placed on the host);
        each item takes O(service), O(ports), O(health) and O(balancer) as for one service.
    type: list
    elements: dict
    version_added: 0.1.0
    suboptions:
      service:
        description: Name of the service.
        type: str
        required: true
      ports:
        description: Ports expected to run an instance.
        type: list
        elements: int
        default: []
      health:
        description: The health probe (C(path), C(timeout)); none when omitted.
        type: dict
      balancer:
        description: The balancer's C(socket) and C(backend); the default socket when omitted.
        type: dict
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

- name: Read the state of the services of an application placed on this host (one call)
  shipyard.deploy.service_instances_info:
    services:
      - {service: orders, ports: [9100, 9101], health: {path: /health, timeout: 2}}
      - {service: payments, ports: [9300, 9301]}
  register: shop_status

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
       release: 1.0.0, memory: 11403264, cpu_nsec: 81234000, restarts: 0, healthy: true,
       in_rotation: true}
  contains:
    cpu_nsec:
      description: CPU time the instance has used, in nanoseconds (systemd's CPUUsageNSec); null
        when systemd does not account it.
      type: int
      returned: always
      sample: 81234000
      version_added: 0.1.0
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
services:
  description:
    - With O(services), one report per service in the order given, each with C(service) and
      the keys above (C(instances), C(current), C(previous), C(releases), C(missing),
      C(healthy)); the top-level keys then describe nothing and are empty.
  returned: always
  type: list
  elements: dict
  version_added: 0.1.0
  sample:
    - {service: orders, current: 1.0.0, previous: null, instances: [], releases: [], missing: [],
       healthy: true}
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
from ansible_collections.shipyard.deploy.plugins.module_utils._systemd import (
    SHOW_PROPERTIES,
    Systemctl,
    parse_int,
)


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


class _SystemctlWithCpu(Systemctl):
    """Systemctl whose ``show`` also reads CPUUsageNSec, in the same call, and keeps it by unit."""

    def __init__(self, module):
        super(_SystemctlWithCpu, self).__init__(module)
        self.cpu = {}

    def show(self, units, properties=SHOW_PROPERTIES):
        shown = super(_SystemctlWithCpu, self).show(units, tuple(properties) + ("CPUUsageNSec",))
        for unit, props in shown.items():
            self.cpu[unit] = parse_int(props.get("CPUUsageNSec"))
        return shown


def report(systemd, params):
    """The report of one service (``params``: service, root, ports, health, balancer)."""
    for message in (check_service_name(params["service"]), check_ports(params["ports"] or [])):
        if message:
            raise ServiceInstancesInfoFailure(message)
    params = dict(params, ports=params["ports"] or [])
    state = read_state(systemd, params["service"], params["root"], params["ports"])
    running = [p for p, i in state["instances"].items() if i["active"]]
    health = params.get("health")
    probes = probe_all(running, health["path"], float(health["timeout"])) if health else {}
    rotation = read_rotation(params)
    instances = []
    for port in sorted(state["instances"]):
        record = dict(state["instances"][port])
        record["healthy"] = probes[port][0] if port in probes else None
        record["health"] = probes[port][1] if port in probes else None
        record["in_rotation"] = rotation[port]["in_rotation"] if port in rotation else None
        record["balancer_status"] = rotation[port]["status"] if port in rotation else None
        record["cpu_nsec"] = systemd.cpu.get(record["unit"])
        instances.append(record)
    missing = [p for p in params["ports"] if p not in running]
    return {
        "current": state["current"],
        "previous": state["previous"],
        "instances": instances,
        "releases": list_releases(releases_dir(params["root"], params["service"])),
        "missing": missing,
        "healthy": (not missing and all(probes[p][0] for p in running)) if health else None,
    }


def _item_problem(index, item):
    """Why an item of O(services) is malformed (its health or balancer), or None."""
    for key, fields in (("health", ("path", "timeout")), ("balancer", ("socket", "backend"))):
        value = item.get(key)
        if value is not None and (not isinstance(value, dict) or set(value) != set(fields)):
            return "services[%d].%s must be a mapping of exactly %s" % (index, key, ", ".join(fields))
    return None


def gather(module, result):
    params = module.params
    systemd = _SystemctlWithCpu(module)
    if params["services"] is None:
        result.update(report(systemd, params), services=[])
        return
    reports = []
    for index, item in enumerate(params["services"]):
        problem = _item_problem(index, item)
        if problem:
            raise ServiceInstancesInfoFailure(problem)
        one = dict(item, root=params["root"])
        reports.append(dict(report(systemd, one), service=item["service"]))
    result.update(current=None, previous=None, instances=[], releases=[], missing=[], healthy=None,
                  services=reports)


def main():
    module = AnsibleModule(
        argument_spec={
            "service": {"type": "str"},
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
            "services": {
                "type": "list",
                "elements": "dict",
                "options": {
                    "service": {"type": "str", "required": True},
                    "ports": {"type": "list", "elements": "int", "default": []},
                    "health": {"type": "dict"},
                    "balancer": {"type": "dict"},
                },
            },
        },
        mutually_exclusive=[("service", "services")],
        required_one_of=[("service", "services")],
        supports_check_mode=True,
    )
    result = {"changed": False}
    run_module(module, result, gather)


if __name__ == "__main__":
    main()
