# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: the host-side work of the module service_files.

Shared with shipyard.deploy.service_converge (which runs it
for many services in one call). ``module`` is an AnsibleModule or a
``_task.SubTask`` view of one (params, check mode, diff mode, run_command).

Host-side code: standard library and ansible.module_utils only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import stat
import tempfile

from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    ShipyardModuleError,
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
