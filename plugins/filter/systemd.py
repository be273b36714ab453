# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Filters that render values safely into systemd unit files (controller side)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools

from ansible.errors import AnsibleFilterError
from ansible_collections.shipyard.deploy.plugins.module_utils import _units


def _filter(func):
    """``func`` as a filter: a refused value is an AnsibleFilterError with the same message."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except _units.UnitTextError as exc:
            raise AnsibleFilterError(str(exc)) from exc

    return wrapper


systemd_exec = _filter(_units.systemd_exec)
systemd_quote = _filter(_units.systemd_quote)
systemd_env_value = _filter(_units.systemd_env_value)


class FilterModule(object):
    """Quoting for systemd, and the text of every file of a service (one renderer, in
    module_utils/_units.py, shared with the host-side converge module)."""

    def filters(self):
        return {
            "systemd_exec": systemd_exec,
            "systemd_quote": systemd_quote,
            "systemd_env_value": systemd_env_value,
            "service_env_file": _filter(_units.env_file),
            "service_process_unit": _filter(_units.process_unit),
            "service_container_unit": _filter(_units.container_unit),
            "service_haproxy_config": _filter(_units.haproxy_config),
            "service_balancer_unit": _filter(_units.balancer_unit),
        }
