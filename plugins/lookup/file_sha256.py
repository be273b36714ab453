# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: file_sha256
short_description: The sha256 of files on the controller, read in the controller's process
version_added: 0.1.0
description:
  - Returns the hex sha256 of each file, or an empty string for a path that is missing or not a
    regular file, so that the caller can say which (see the role
    C(shipyard.deploy.service_release)).
  - Unlike C(ansible.builtin.stat) delegated to localhost, it starts no module process; on a
    deploy that is otherwise a no-op, that process was one of the slowest steps.
author:
  - shipyard developers (!UNKNOWN)
options:
  _terms:
    description: Paths of files on the controller.
    type: list
    elements: path
    required: true
"""

EXAMPLES = r"""
- name: Check an artifact before it goes anywhere
  ansible.builtin.assert:
    that: lookup('shipyard.deploy.file_sha256', '/srv/dist/hello-1.0.0.tar') == expected_sha256
"""

RETURN = r"""
_raw:
  description: One lower-case hex sha256 per path; an empty string for a missing file.
  type: list
  elements: str
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.shipyard.deploy.plugins.module_utils import _fs


def file_sha256(path):
    """The hex sha256 of ``path``, or '' when it is missing or not a regular file."""
    if not os.path.isfile(path):
        return ""
    try:
        return _fs.file_sha256(path)
    except OSError as exc:
        raise AnsibleLookupError("cannot read %s: %s" % (path, exc)) from exc


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return [file_sha256(os.path.expanduser(str(term))) for term in terms]
