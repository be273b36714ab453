# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: service_converge run without Ansible's module wrapper.

The converge's host code is the standard library only, so the action plugin can send it as a
zip of these module_utils with the arguments on stdin to ``python3 -c BOOTSTRAP`` (one remote
execution, as a module call is) instead of an AnsiballZ payload: that wrapper and
``ansible.module_utils.basic`` cost ~0.14 s on every host and every call, and building the
payload ~0.1 s per run on the controller; the converge's own work on a no-op is ~0.03 s.

``LeanModule`` is the AnsibleModule surface the converge uses: parameters checked and
converted against the same argument spec, check and diff mode, ``run_command``,
``get_bin_path`` and warnings. Secret values (options with ``no_log``) are masked in the
result the way Ansible masks them.

Host-side code: standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys

_TRUE = ("1", "true", "yes", "on", "y", "t")
_FALSE = ("0", "false", "no", "off", "n", "f", "")


class LeanArgumentError(ValueError):
    """A parameter the argument spec refuses."""


def _convert(name, spec, value):
    kind = spec.get("type", "str")
    if value is None:
        return None
    try:
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(value)
        if kind == "path":
            return os.path.expanduser(os.path.expandvars(str(value)))
        if kind == "str":
            if not isinstance(value, str):
                raise ValueError(value)
            return value
        if kind == "dict":
            if not isinstance(value, dict):
                raise ValueError(value)
            return value
        if kind == "list":
            if not isinstance(value, list):
                raise ValueError(value)
            return value
    except (TypeError, ValueError):
        raise LeanArgumentError("argument '%s' is of type %s and we were unable to convert to %s"
                                % (name, type(value).__name__, kind)) from None
    return value


def check_arguments(argument_spec, params):
    """``params`` with defaults and types of ``argument_spec``; unknown ones are refused."""
    unknown = sorted(set(params) - set(argument_spec))
    if unknown:
        raise LeanArgumentError("Unsupported parameters: %s. Supported parameters include: %s"
                                % (", ".join(unknown), ", ".join(sorted(argument_spec))))
    out = {}
    for name, spec in argument_spec.items():
        value = params.get(name)
        if value is None:
            value = spec.get("default")
            if value is not None:
                value = json.loads(json.dumps(value))  # a copy: defaults are shared
        if value is None and spec.get("required"):
            raise LeanArgumentError("missing required arguments: %s" % name)
        choices = spec.get("choices")
        value = _convert(name, spec, value)
        if choices and value is not None and value not in choices:
            raise LeanArgumentError("value of %s must be one of: %s, got: %s"
                                    % (name, ", ".join(map(str, choices)), value))
        out[name] = value
    return out


def secret_values(argument_spec, params):
    """Every string under an option marked ``no_log`` (to mask in the result)."""
    found = set()

    def walk(value):
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif value not in (None, "") and not isinstance(value, bool):
            found.add(str(value))

    for name, spec in argument_spec.items():
        if spec.get("no_log"):
            walk(params.get(name))
    return found


def mask(value, secrets):
    """``value`` with every secret string replaced by ``********`` (as Ansible's no_log)."""
    if not secrets:
        return value
    if isinstance(value, dict):
        return {k: mask(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            if secret in value:
                value = value.replace(secret, "********")
        return value
    return value


class LeanModule(object):
    """The AnsibleModule surface service_converge uses, without AnsibleModule."""

    def __init__(self, argument_spec, params, check_mode=False, diff=False):
        self.argument_spec = argument_spec
        self.check_mode = bool(check_mode)
        self._diff = bool(diff)
        self.params = check_arguments(argument_spec, params)
        self.warnings = []

    def run_command(self, args, environ_update=None, check_rc=False, data=None, **_ignored):
        env = dict(os.environ, LC_ALL="C", LANG="C")
        env.update(environ_update or {})
        try:
            proc = subprocess.run(args, input=data.encode() if isinstance(data, str) else data,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                  check=False)
        except OSError as exc:
            return 127, "", str(exc)
        return (proc.returncode, proc.stdout.decode("utf-8", "replace"),
                proc.stderr.decode("utf-8", "replace"))

    def get_bin_path(self, name, required=False, opt_dirs=None):
        path = shutil.which(name, path=os.pathsep.join(
            list(opt_dirs or []) + [os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
        if path is None and required:
            raise LeanArgumentError("Failed to find required executable %s" % name)
        return path

    def warn(self, message):
        self.warnings.append(message)


def main(argument_spec, work, stream=None):
    """Read {args, check_mode, diff} (JSON) from ``stream``; run ``work``; print the result."""
    doc = json.loads((stream or sys.stdin).read())
    result = {"changed": False}
    secrets = set()
    try:
        module = LeanModule(argument_spec, doc.get("args") or {}, doc.get("check_mode"),
                            doc.get("diff"))
        secrets = secret_values(argument_spec, module.params)
        work(module, result)
        if module.warnings:
            result["warnings"] = module.warnings
    except LeanArgumentError as exc:
        result.update(failed=True, msg=str(exc))
    except Exception as exc:  # noqa: BLE001 - the controller must get a result, never a traceback only
        details = getattr(exc, "result", None)
        if callable(details):
            result.update(details())
        else:
            result["msg"] = "%s: %s" % (type(exc).__name__, exc)
        result["failed"] = True
    sys.stdout.write(json.dumps(mask(result, secrets)))
    sys.stdout.flush()
