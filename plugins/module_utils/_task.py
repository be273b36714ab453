# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: one module's work run inside another module's process.

``service_converge`` runs the work of service_ports, service_release_unpack, service_files,
container_bundles, oci_image, service_instances and service_releases for every service of a
host in one call. That work is written against an AnsibleModule (``module.params``,
``module.check_mode``, ``module._diff``, ``module.run_command``); a SubTask is the same
surface over the converge module with the step's own parameters.

Host-side code: standard library and ansible.module_utils only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def with_defaults(argument_spec, params):
    """``params`` completed with the defaults of ``argument_spec`` (nested options too)."""
    out = {}
    for name, spec in argument_spec.items():
        value = params.get(name, spec.get("default"))
        options = spec.get("options")
        if options and isinstance(value, dict):
            value = with_defaults(options, value)
        elif options and isinstance(value, list) and spec.get("elements") == "dict":
            value = [with_defaults(options, v) for v in value]
        out[name] = value
    unknown = set(params) - set(argument_spec)
    if unknown:
        raise ValueError("unknown parameters %s" % ", ".join(sorted(unknown)))
    return out


class SubTask(object):
    """The AnsibleModule surface a step's work uses, with the step's own ``params``."""

    def __init__(self, module, params, argument_spec=None):
        self._module = module
        self.params = with_defaults(argument_spec, params) if argument_spec else dict(params)

    @property
    def check_mode(self):
        return self._module.check_mode

    @property
    def _diff(self):
        return self._module._diff

    def run_command(self, *args, **kwargs):
        return self._module.run_command(*args, **kwargs)

    def get_bin_path(self, *args, **kwargs):
        return self._module.get_bin_path(*args, **kwargs)

    def warn(self, message):
        self._module.warn(message)
