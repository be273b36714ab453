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

import os
import shutil
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    ShipyardModuleError,
    run_module,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._fs import atomic_write
from ansible_collections.shipyard.deploy.plugins.module_utils._systemd import exec_start_problems


class ServiceFilesFailure(ShipyardModuleError):
    """A file could not be read, checked or written."""


def parse_mode(value, field):
    try:
        mode = int(str(value), 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o7777:
        raise ServiceFilesFailure(
            "%s: %r is not an octal file mode; write it like '0644'" % (field, value))
    return mode


def current_state(path):
    """(content bytes, mode, uid, gid) of ``path``, or None when it does not exist."""
    if os.path.lexists(path) and not os.path.isfile(path):
        raise ServiceFilesFailure("%s exists and is not a regular file; remove it" % path)
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            data = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ServiceFilesFailure("cannot read %s: %s" % (path, exc), cause=exc) from exc
    return data, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid


def plan(entries, names, secret):
    """The entries whose file differs from what is wanted, with what it is now.

    ``names(index, key)`` is the option name of an entry's key, for the error messages.
    """
    owner = (os.geteuid(), os.getegid())
    changes = []
    for index, entry in enumerate(entries):
        path = entry["path"]
        if not os.path.isabs(path):
            raise ServiceFilesFailure(
                "%s: %r is not absolute; give the full path" % (names(index, "path"), path))
        mode = parse_mode(entry["mode"], names(index, "mode"))
        data = entry["content"].encode("utf-8")
        now = current_state(path)
        if now is None or now[0] != data or now[1] != mode or now[2:] != owner:
            changes.append({"path": path, "data": data, "mode": mode, "before": now,
                            "secret": secret, "verify_unit": entry.get("verify_unit")})
    return changes


def check_exec_start(name, data):
    """Refuse an ExecStart= whose program carries a systemd prefix (even quoted) or is not
    an absolute path or plain name: '+' or '!' would run the service as root outside its
    sandbox, whatever User= says."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    problems = exec_start_problems(text)
    if problems:
        raise ServiceFilesFailure("the unit %s: %s; nothing was written" % (name, "; ".join(problems)))


def verify_unit(module, name, data):
    """Run systemd-analyze verify on ``data`` named ``name``; fail on an error about it."""
    if "/" in name or not name.endswith((".service", ".socket", ".timer", ".target")):
        raise ServiceFilesFailure(
            "files[].verify_unit: %r is not a unit file name such as shipyard-hello@8080.service"
            % name)
    check_exec_start(name, data)
    scratch = tempfile.mkdtemp(prefix="shipyard-unit-")
    try:
        path = os.path.join(scratch, name)
        with open(path, "wb") as handle:
            handle.write(data)
        rc, out, err = module.run_command([module.params["systemd_analyze"], "verify", path])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    # systemd-analyze also reports unrelated units of the host: only ours count
    ours = name.split("@", 1)[0] + "@" if "@" in name else name
    if rc != 0 or ours in err:
        raise ServiceFilesFailure(
            "the unit %s does not pass systemd-analyze verify (rc %d): %s; nothing was written"
            % (name, rc, (err or out).strip()))
    return err.strip()


def run(module, result):
    params = module.params
    secret = []
    if params["secret_path"]:
        secret = [{"path": params["secret_path"], "content": params["secret_content"],
                   "mode": params["secret_mode"]}]
    changes = (plan(params["files"], "files[{0}].{1}".format, False)
               + plan(secret, lambda index, key: "secret_" + key, True))
    missing_dirs = [d for d in params["directories"] if not os.path.isdir(d)]
    result["changed_files"] = [c["path"] for c in changes]
    result["changed"] = bool(changes or missing_dirs)
    if module._diff:
        result["diff"] = [
            {"before_header": c["path"], "after_header": c["path"],
             "before": c["before"][0].decode("utf-8", "replace") if c["before"] else "",
             "after": c["data"].decode("utf-8")}
            for c in changes if not c["secret"]
        ]
    if module.check_mode:
        return
    checked = {}
    for change in changes:
        if change["verify_unit"] and (change["before"] is None or change["before"][0] != change["data"]):
            checked[change["path"]] = verify_unit(module, change["verify_unit"], change["data"])
    if checked:
        result["verify"] = checked
    for directory in missing_dirs:
        os.makedirs(directory, 0o755, exist_ok=True)
    for change in changes:
        try:
            atomic_write(change["path"], change["data"], mode=change["mode"])
        except OSError as exc:
            raise ServiceFilesFailure("cannot write %s: %s" % (change["path"], exc), cause=exc) from exc


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
