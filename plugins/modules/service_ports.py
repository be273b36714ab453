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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    run_module,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._port_claim import (
    reconcile,
)


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
