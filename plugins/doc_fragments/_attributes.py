# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: shared ``attributes`` and options of its modules."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Standard documentation: the attributes every shipyard.deploy module declares.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description:
      Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description:
      Will return details on what has changed (or possibly needs changing in check_mode),
      when in diff mode.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
"""

    # A module that changes state on a systemd host.
    STATE = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
    details: Linux hosts with systemd; runs as root.
"""

    # A module that only reads.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: This action does not modify state.
  diff_mode:
    support: N/A
    details: This action does not modify state.
  platform:
    platforms: posix
"""

    # The service and its on-host root, shared by service_instances and service_instances_info.
    SERVICE = r"""
options:
  service:
    description:
      - Name of the service; its instances are the units C(shipyard-<service>@<port>.service).
    type: str
    required: true
  root:
    description:
      - Directory holding one directory per service, with C(releases/<release>), C(current)
        and C(previous) in it.
    type: path
    default: /opt/shipyard
"""
