# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Controller side of shipyard.deploy.shipyard_spec: load and validate a service spec in Ansible.

The spec is read and validated by the shipyard Python package's own models
(:mod:`shipyard.core.spec`), so ``ansible-playbook shipyard.deploy.deploy -e shipyard_spec=FILE``
(and AWX / Automation Controller, which cannot run ``shipyard render``) get the same checks and
the same error messages as ``shipyard validate``, and the same variables as ``shipyard render``.

Nothing of the spec is ever templated: the file is parsed by shipyard's hardened YAML reader,
never by Ansible, and every value returned is wrapped as unsafe. The results are plain return
values, not ``ansible_facts``: facts of a non-``set_fact`` action go to the fact cache (a
jsonfile or AWX fact storage would keep the secrets) and are deprecated as top-level variables
from ansible-core 2.20. The playbooks register the result and hand it to ``set_fact`` with
``run_once`` (every host of the play gets it, in memory only).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import sys

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.unsafe_proxy import wrap_var

#: how ``shipyard`` (the CLI) prefixes an error by its exit code (2, 4, else)
_PREFIX = {2: "invalid input", 4: "setup"}

_MISSING = (
    "shipyard.deploy.shipyard_spec needs the shipyard Python package on the controller "
    "(the Python that runs ansible-playbook, %s): pip install shipyard there, or list it in the "
    "execution environment's Python requirements (meta/ee-requirements.txt). Import error: %s"
)


def _jsonable(value):
    """A SpecError's value as JSON data (the CLI's --json does the same)."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return to_text(value)
    return value


#: the module's options (plugins/modules/shipyard_spec.py documents them)
ARGUMENT_SPEC = {
    "spec": {"type": "str", "required": True},
    "check_artifact": {"type": "bool", "default": True},
    "secrets": {"type": "bool", "default": True},
    "strategies": {"type": "list", "elements": "str", "default": []},
}


class ActionModule(ActionBase):
    """Load, validate and normalize a service spec on the controller."""

    _VALID_ARGS = frozenset(("spec", "check_artifact", "secrets", "strategies"))
    _requires_connection = False
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        result["changed"] = False
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        try:
            from shipyard.core.errors import ShipyardError, SpecError, SpecErrors
            from shipyard.core.inputs import secret_values, verify_artifact
            from shipyard.core.spec import load_spec
        except ImportError as exc:
            result.update(failed=True, msg=_MISSING % (sys.executable, exc))
            return result

        spec = args["spec"]
        strategies = args["strategies"]
        secrets_given = "shipyard_secrets" in task_vars

        try:
            loaded = load_spec(spec)
            if strategies and loaded.service.strategy not in strategies:
                raise SpecError(
                    "strategy",
                    loaded.service.strategy,
                    "this playbook runs the %s strategy: use the playbook of the spec's strategy"
                    % " or ".join(strategies),
                    source=str(loaded.path),
                )
            if args["check_artifact"]:
                verify_artifact(loaded)
            secrets = None
            if args["secrets"] and not secrets_given:
                loaded.check_secret_files()
                secrets = secret_values(loaded)
        except ShipyardError as exc:
            prefix = _PREFIX.get(exc.exit_code, "error")
            result.update(
                failed=True,
                msg="\n".join("%s: %s" % (prefix, line) for line in to_text(exc).splitlines()),
                exit_code=exc.exit_code,
            )
            if isinstance(exc, SpecError):
                errors = exc.errors if isinstance(exc, SpecErrors) else [exc]
                result["errors"] = [
                    {"field": e.field, "value": _jsonable(e.value), "fix": e.fix, "error": e.message}
                    for e in errors
                ]
            return result

        service = loaded.service
        result["spec"] = wrap_var(str(loaded.path))
        result["strategy"] = service.strategy
        result["shipyard_service"] = wrap_var(loaded.to_ansible())
        result["shipyard_release"] = wrap_var(service.version)
        sections = {}
        if service.container is not None:
            sections["container"] = service.container.model_dump()
        if service.ami is not None:
            sections["ami"] = service.ami.model_dump()
        result["sections"] = wrap_var(sections)
        if secrets is not None:
            result["shipyard_secrets"] = wrap_var(secrets)
            result["secret_names"] = sorted(secrets)
            if secrets:
                # the values are for the hosts, never for a callback, an event or a log
                result["_ansible_no_log"] = True
        result["msg"] = "%s %s (strategy %s) is valid" % (service.name, service.version, service.strategy)
        return result
