#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: service_files
short_description: Write a service's configuration files in one call, a unit checked first
version_added: 0.1.0
description:
  - Writes every file of O(files) and O(secret_path) whose content, mode or owner differs,
    each atomically (a temp file in the same directory, fsync, rename) and owned by root, after
    creating O(directories). One module call replaces a C(file) task plus a C(template) task per
    file, which on a deploy of many services to many hosts is most of the time spent.
  - A file with O(files[].verify_unit) set is checked with C(systemd-analyze verify) under that
    unit name before anything is written, and only when its content changes; a unit that does
    not verify fails the task and leaves every file as it was.
  - O(secret_content) is never logged and never shown in a diff; its file O(secret_path) is 0600
    unless O(secret_mode) says otherwise.
author:
  - shipyard developers (!UNKNOWN)
extends_documentation_fragment:
  - shipyard.deploy._attributes
  - shipyard.deploy._attributes.STATE
options:
  directories:
    description: Directories created (0755, root) when missing, before any file is written.
    type: list
    elements: path
    default: []
  files:
    description: Files whose content may be shown in a diff.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the file.
        type: path
        required: true
      content:
        description: The whole content of the file.
        type: str
        required: true
      mode:
        description: Octal mode of the file.
        type: str
        default: "0644"
      verify_unit:
        description:
          - A systemd unit name (for a template unit, an instance name such as
            C(shipyard-hello@8080.service)). When the content changes, it is written under this
            name in a scratch directory and checked with C(systemd-analyze verify) first.
        type: str
  secret_path:
    description:
      - Absolute path of a file whose content is secret (never logged, never in a diff), for
        example the instances' secret environment. Needs O(secret_content).
    type: path
  secret_content:
    description:
      - The whole content of O(secret_path). A top-level C(no_log) option, so that not even the
        module's C(Invoked with ...) line in the host's journal carries it (a C(no_log)
        suboption would be printed there inside the repr of its list).
    type: str
  secret_mode:
    description: Octal mode of O(secret_path).
    type: str
    default: "0600"
  systemd_analyze:
    description: The C(systemd-analyze) program used by O(files[].verify_unit).
    type: path
    default: systemd-analyze
"""

EXAMPLES = r"""
- name: Write hello's environment, secrets and template unit in one call
  shipyard.deploy.service_files:
    directories: [/etc/shipyard/hello]
    files:
      - path: /etc/shipyard/hello/env
        content: "{{ lookup('ansible.builtin.template', 'env.j2') }}"
      - path: /etc/systemd/system/shipyard-hello@.service
        content: "{{ lookup('ansible.builtin.template', 'unit.service.j2') }}"
        verify_unit: shipyard-hello@8080.service
    secret_path: /etc/shipyard/hello/secrets.env
    secret_content: "{{ lookup('ansible.builtin.template', 'secrets.env.j2') }}"
  register: hello_files
"""

RETURN = r"""
changed_files:
  description: The paths written (or that would be, in check mode), the secret file included.
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/system/shipyard-hello@.service]
verify:
  description: What C(systemd-analyze verify) printed for each checked unit, by path.
  returned: when a unit was checked
  type: dict
  sample: {"/etc/systemd/system/shipyard-hello@.service": ""}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    run_module,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._files import (
    run,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "directories": {"type": "list", "elements": "path", "default": []},
            "files": {
                "type": "list", "elements": "dict", "default": [],
                "options": {
                    "path": {"type": "path", "required": True},
                    "content": {"type": "str", "required": True},
                    "mode": {"type": "str", "default": "0644"},
                    "verify_unit": {"type": "str"},
                },
            },
            "secret_path": {"type": "path"},
            "secret_content": {"type": "str", "no_log": True},
            "secret_mode": {"type": "str", "default": "0600", "no_log": False},  # a file mode
            "systemd_analyze": {"type": "path", "default": "systemd-analyze"},
        },
        required_together=[("secret_path", "secret_content")],
        supports_check_mode=True,
    )
    result = {"changed": False, "changed_files": []}
    run_module(module, result, run)


if __name__ == "__main__":
    main()
