#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: service_ports
short_description: Claim or free a service's ports in the host's port registry
version_added: 0.1.0
description:
  - Keeps C(/etc/shipyard/ports.json), a JSON object mapping each port to its service, shared by every
    service on the host, so that two services never get the same port.
  - The registry is read and written under an exclusive flock on C(/etc/shipyard/.lock); the
    file is replaced atomically.
  - O(state=present) claims O(ports) for O(service) and frees the service's other ports. It
    refuses, writing nothing, when a port belongs to another service (the message names the
    port and both services) or when a process that is not an instance of O(service) listens on
    a port the service does not hold yet.
  - O(state=absent) frees every port of O(service).
author:
  - shipyard developers (!UNKNOWN)
extends_documentation_fragment:
  - shipyard.deploy._attributes
  - shipyard.deploy._attributes.STATE
options:
  service:
    description: Name of the service claiming or freeing ports.
    type: str
    required: true
  ports:
    description: The ports the service uses (all of them; others it held are freed).
    type: list
    elements: int
    default: []
  state:
    description: V(present) claims O(ports); V(absent) frees all the service's ports.
    type: str
    choices: [present, absent]
    default: present
  registry:
    description: The registry file; its directory holds the lock file C(.lock).
    type: path
    default: /etc/shipyard/ports.json
  check_listeners:
    description:
      - Refuse a port that is not in the registry yet when another process listens on it.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Claim hello's ports (a re-run changes nothing)
  shipyard.deploy.service_ports:
    service: hello
    ports: [8080, 8081, 8082]

- name: Show what claiming would change
  shipyard.deploy.service_ports:
    service: hello
    ports: [8080, 8081]
  check_mode: true
  diff: true

- name: Free every port of hello
  shipyard.deploy.service_ports:
    service: hello
    state: absent
"""

RETURN = r"""
ports:
  description: The ports the service holds after the run.
  returned: always
  type: list
  elements: int
  sample: [8080, 8081, 8082]
claimed:
  description: Ports newly claimed by this run.
  returned: always
  type: list
  elements: int
  sample: [8082]
released:
  description: Ports freed by this run.
  returned: always
  type: list
  elements: int
  sample: [8083]
registry:
  description: The whole registry after the run.
  returned: always
  type: dict
  sample: {"8080": hello, "9000": orders}
conflicts:
  description: The ports refused and who holds them.
  returned: failure
  type: list
  elements: dict
  sample: [{port: 8080, service: hello}]
"""

import contextlib
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    ShipyardModuleError,
    check_ports,
    check_service_name,
    run_module,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._fs import atomic_write, flock
from ansible_collections.shipyard.deploy.plugins.module_utils._ports import (
    dump_registry,
    foreign_listeners,
    parse_registry,
    pid_is_instance_of,
    plan_ports,
    read_listeners,
    socket_owners,
)


class ServicePortsFailure(ShipyardModuleError):
    """The registry could not be read, or the claim was refused."""


def read_registry(path):
    try:
        with open(path) as handle:
            text = handle.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ServicePortsFailure(
            "cannot read the port registry %s: %s" % (path, exc), cause=exc) from exc
    try:
        return parse_registry(text)
    except ValueError as exc:
        raise ServicePortsFailure(
            "the port registry %s is not valid JSON {port: service} (%s): fix or remove it"
            % (path, exc), cause=exc) from exc


def is_ours(service):
    def check(inodes):
        pids = socket_owners(inodes)
        return bool(pids) and all(pid_is_instance_of(pid, service) for pid in pids)
    return check


def reconcile(module, result):
    params = module.params
    for message in (check_service_name(params["service"]), check_ports(params["ports"])):
        if message:
            raise ServicePortsFailure(message)
    service, path = params["service"], params["registry"]
    directory = os.path.dirname(path)
    lock = os.path.join(directory, ".lock")
    if module.check_mode:
        guard = flock(lock) if os.path.exists(lock) else contextlib.nullcontext()
    else:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        guard = flock(lock)
    with guard:
        registry = read_registry(path)
        new, claimed, released = plan_ports(registry, service, params["ports"], params["state"])
        if claimed and params["check_listeners"]:
            busy = foreign_listeners(claimed, service, read_listeners(), is_ours(service))
            if busy:
                raise ServicePortsFailure(
                    "service %s cannot claim port%s %s: another process (not an instance of "
                    "%s) listens on %s. Stop that process or give %s other ports"
                    % (service, "s" if len(busy) > 1 else "", ", ".join(map(str, busy)), service,
                       "them" if len(busy) > 1 else "it", service),
                    conflicts=[{"port": p, "service": None} for p in busy],
                )
        changed = new != registry
        if changed and not module.check_mode:
            atomic_write(path, dump_registry(new).encode(), mode=0o644)
    result.update(
        changed=changed,
        claimed=claimed,
        released=released,
        ports=sorted(p for p, o in new.items() if o == service),
        registry={str(p): new[p] for p in sorted(new)},
    )
    if module._diff:
        result["diff"] = {"before": dump_registry(registry), "after": dump_registry(new),
                          "before_header": path, "after_header": path}


def main():
    module = AnsibleModule(
        argument_spec={
            "service": {"type": "str", "required": True},
            "ports": {"type": "list", "elements": "int", "default": []},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "registry": {"type": "path", "default": "/etc/shipyard/ports.json"},
            "check_listeners": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    result = {"changed": False, "claimed": [], "released": [], "ports": [], "registry": {}}
    run_module(module, result, reconcile)


if __name__ == "__main__":
    main()
