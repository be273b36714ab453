#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: container_bundles
short_description: Write the runc bundles of a container release, one per instance port
version_added: 0.1.0
description:
  - For the container strategy. A release installed from an image (module
    M(shipyard.deploy.oci_image)) is C(<root>/<service>/releases/<release>/) with C(rootfs/) and
    C(image.json). This module writes C(bundles/<port>/config.json) (0600, root) in it for every
    port, the OCI runtime config that the unit C(shipyard-<service>@<port>.service) runs with
    C(runc run --bundle <root>/<service>/current/bundles/<port>).
  - Each config has the image's entrypoint with C({port}) replaced, the image's environment plus
    O(env), O(secrets) and C(PORT), the image's working directory, a read-only root with a tmpfs
    C(/tmp), the host's network namespace (the port is the host's), no capabilities, no new
    privileges, and O(resources) as the container cgroup's memory, CPU and pids limits. The
    container cgroup is a child of the unit's (C(Delegate=yes)), so the unit's memory accounting
    covers it.
  - Bundles of ports not in O(ports) are removed from the release. The release manifest
    C(.shipyard-release.json) is written when the release has none, so the release counts as
    complete for rollback and pruning.
  - With O(state=absent), deletes every runc container of the service (C(shipyard-<service>-<port>))
    left behind, for example after its unit was removed.
author:
  - shipyard developers (!UNKNOWN)
extends_documentation_fragment:
  - shipyard.deploy._attributes
  - shipyard.deploy._attributes.STATE
  - shipyard.deploy._attributes.SERVICE
options:
  release:
    description: The release (a directory under C(<root>/<service>/releases/) with C(image.json)).
    type: str
  ports:
    description: One bundle per port.
    type: list
    elements: int
    default: []
  env:
    description: Environment of every instance, over the image's own.
    type: dict
    default: {}
  secrets:
    description:
      - Secret environment of every instance. Never logged; the bundle files are 0600 root in
        0700 directories.
    type: dict
    default: {}
  resources:
    description: Per-container limits.
    type: dict
    default: {}
    suboptions:
      memory:
        description: Memory limit with a K, M or G suffix (C(linux.resources.memory.limit)).
        type: str
      cpu:
        description: CPU quota as a percentage of one core (C(linux.resources.cpu.quota)).
        type: str
      tasks:
        description: Maximum number of tasks (C(linux.resources.pids.limit)).
        type: int
  read_only:
    description: Mount the container's root file system read-only.
    type: bool
    default: true
  runc:
    description: The runc binary (used with O(state=absent)).
    type: path
    default: /usr/sbin/runc
  state:
    description:
      - V(present) writes the bundles of O(release).
      - V(absent) deletes the service's leftover runc containers.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Runs as root.
seealso:
  - module: shipyard.deploy.oci_image
  - module: shipyard.deploy.service_instances
"""

EXAMPLES = r"""
- name: Write the bundles of hello 1.0.0 (a re-run changes nothing)
  shipyard.deploy.container_bundles:
    service: hello
    release: 1.0.0
    ports: [8080, 8081, 8082]
    env: {GREETING: hello}
    resources: {memory: 64M, cpu: 50%, tasks: 64}

- name: Show which bundles would change
  shipyard.deploy.container_bundles:
    service: hello
    release: 2.0.0
    ports: [8080, 8081, 8082]
  check_mode: true
  diff: true

- name: Delete hello's leftover containers
  shipyard.deploy.container_bundles:
    service: hello
    state: absent
"""

RETURN = r"""
bundles:
  description: The bundle directories of the release, by port.
  returned: when O(state=present)
  type: dict
  sample: {"8080": /opt/shipyard/hello/releases/1.0.0/bundles/8080}
written:
  description: Ports whose config.json was written (or would be, in check mode).
  returned: always
  type: list
  elements: int
  sample: [8080]
removed:
  description: Ports whose bundle was removed (O(state=present)), or container ids deleted (O(state=absent)).
  returned: always
  type: list
  elements: raw
  sample: [8083]
digest:
  description: The image digest of the release.
  returned: when O(state=present)
  type: str
  sample: sha256:4f2a...
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shipyard.deploy.plugins.module_utils._bundles import (
    ContainerBundlesFailure,
    absent,
    present,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    ShipyardModuleError,
    check_ports,
    check_service_name,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "service": {"type": "str", "required": True},
            "root": {"type": "path", "default": "/opt/shipyard"},
            "release": {"type": "str"},
            "ports": {"type": "list", "elements": "int", "default": []},
            "env": {"type": "dict", "default": {}},
            "secrets": {"type": "dict", "default": {}, "no_log": True},
            "resources": {
                "type": "dict",
                "default": {},
                "options": {
                    "memory": {"type": "str"},
                    "cpu": {"type": "str"},
                    "tasks": {"type": "int"},
                },
            },
            "read_only": {"type": "bool", "default": True},
            "runc": {"type": "path", "default": "/usr/sbin/runc"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        },
        required_if=[("state", "present", ("release",))],
        supports_check_mode=True,
    )
    result = {"changed": False, "written": [], "removed": []}
    try:
        for message in (check_service_name(module.params["service"]),
                        check_ports(module.params["ports"])):
            if message:
                raise ContainerBundlesFailure(message)
        if module.params["state"] == "present":
            present(module, result)
        else:
            absent(module, result)
    except (ShipyardModuleError, OSError) as exc:
        if isinstance(exc, ShipyardModuleError):
            result.update(exc.result())
        else:
            result["msg"] = "writing the bundles failed: %s" % exc
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
