#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: service_releases
short_description: Prune a service's releases on a host to the newest activated ones
version_added: 0.1.0
description:
  - Keeps the O(keep) most recently activated releases of a service (by the C(activated) time in
    each release's C(.shipyard-release.json), never by directory mtimes) and removes the other
    activated ones.
  - Never removes the release C(current) or C(previous) points to, nor those in O(protect).
    Releases never activated are left alone (the release role removes its own failed installs).
author:
  - shipyard developers (!UNKNOWN)
extends_documentation_fragment:
  - shipyard.deploy._attributes
  - shipyard.deploy._attributes.STATE
  - shipyard.deploy._attributes.SERVICE
options:
  keep:
    description: How many activated releases to keep (current and previous count).
    type: int
    default: 3
  protect:
    description: Releases never removed, for example the one being deployed.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Keep the three newest activated releases of hello
  shipyard.deploy.service_releases:
    service: hello
    keep: 3
    protect: [2.0.0]
"""

RETURN = r"""
removed:
  description: Releases removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [0.9.0]
kept:
  description: Activated releases kept, newest first.
  returned: always
  type: list
  elements: str
  sample: [2.0.0, 1.0.0]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    run_module,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._prune import (
    prune,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "service": {"type": "str", "required": True},
            "root": {"type": "path", "default": "/opt/shipyard"},
            "keep": {"type": "int", "default": 3},
            "protect": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    result = {"changed": False, "kept": [], "removed": []}
    run_module(module, result, prune)


if __name__ == "__main__":
    main()
