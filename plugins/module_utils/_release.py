# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: the host-side work of the module service_release_unpack.

Shared with shipyard.deploy.service_converge (which runs it
for many services in one call). ``module`` is an AnsibleModule or a
``_task.SubTask`` view of one (params, check mode, diff mode, run_command).

Host-side code: standard library and ansible.module_utils only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import os
import re
import shutil
import tarfile

from ansible_collections.shipyard.deploy.plugins.module_utils._archive import (
    ArchiveError,
    check_file_name,
    safe_extract,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    ShipyardModuleError,
    check_release,
    check_service_name,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._fs import atomic_write, file_sha256
from ansible_collections.shipyard.deploy.plugins.module_utils._instances import (
    MANIFEST,
    releases_dir,
)

SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}\Z")
_CHUNK = 1 << 20


class ReleaseUnpackFailure(ShipyardModuleError):
    """The artifact could not be installed as the release."""


def validate_params(params):
    """Every rule the argument spec cannot express, as one message naming field, value and fix."""
    problems = []
    message = check_service_name(params["service"])
    if message:
        problems.append(message)
    message = check_release(params["release"])
    if message:
        problems.append(message)
    if not SHA256_RE.match(params["sha256"] or ""):
        problems.append("sha256=%r: give 64 hex digits" % (params["sha256"],))
    if params["kind"] != "tarball":
        message = check_file_name(params["name"])
        if message:
            problems.append("name=%s: the %s artifact's file name in the release must be one plain "
                            "file name (does artifact.url end in '/', '/.' or '/..'? give "
                            "artifact.path or a URL ending in the file's name)"
                            % (message, params["kind"]))
    if problems:
        raise ReleaseUnpackFailure("; ".join(problems))


def read_manifest(path):
    """The manifest dict at ``path``, or None when it is missing or unreadable."""
    try:
        with open(path) as handle:
            doc = json.load(handle)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def clear_dir(path):
    """Make ``path`` an empty real directory (0755, root's when root); refuse a symlink."""
    if os.path.islink(path):
        raise ReleaseUnpackFailure("%s is a symlink, not a release directory: remove it" % path)
    if not os.path.isdir(path):
        os.makedirs(path, 0o755)
    for name in os.listdir(path):
        child = os.path.join(path, name)
        if os.path.isdir(child) and not os.path.islink(child):
            shutil.rmtree(child)
        else:
            os.unlink(child)
    if os.geteuid() == 0:
        os.chown(path, 0, 0)
    os.chmod(path, 0o755)  # noqa: S103 - a release dir is world-readable, like /usr


def place(src, dest, mode):
    """Copy ``src`` to the new file ``dest`` (never through a link), root's, ``mode``."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with open(src, "rb") as source, os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(source, out, _CHUNK)
        if os.geteuid() == 0:
            os.fchown(out.fileno(), 0, 0)
        os.fchmod(out.fileno(), mode)


def install(module, result):
    params = module.params
    validate_params(params)
    release_dir = os.path.join(releases_dir(params["root"], params["service"]), params["release"])
    manifest_path = os.path.join(release_dir, MANIFEST)
    result["release_dir"] = release_dir
    sha256 = params["sha256"].lower()
    existing = read_manifest(manifest_path) if not os.path.islink(manifest_path) else None
    if existing is not None:
        if str(existing.get("sha256", "")).lower() == sha256:
            return
        raise ReleaseUnpackFailure(
            "release %s of %s is already installed with artifact sha256 %s, not %s: a release "
            "is immutable; bump the version" % (params["release"], params["service"],
                                                existing.get("sha256"), sha256))
    text = json.dumps(params["manifest"], indent=4, sort_keys=True) + "\n"
    if module._diff:
        result["diff"] = {"before": "", "after": text, "before_header": manifest_path,
                          "after_header": manifest_path}
    if module.check_mode:
        result["changed"] = True
        return
    src = params["src"]
    if not os.path.isfile(src):
        raise ReleaseUnpackFailure("src=%s is not a file on the host" % src)
    actual = file_sha256(src)
    if actual != sha256:
        raise ReleaseUnpackFailure("src=%s has sha256 %s, not %s: the copy to the host is corrupt"
                                   % (src, actual, sha256))
    result["changed"] = True
    clear_dir(release_dir)
    if params["kind"] == "tarball":
        try:
            with tarfile.open(src, "r:*") as tar:
                done = safe_extract(tar, release_dir, reserved=(MANIFEST,))
        except ArchiveError as exc:
            raise ReleaseUnpackFailure("the tarball is refused: %s" % exc) from exc
        except (tarfile.TarError, EOFError) as exc:
            raise ReleaseUnpackFailure("src=%s is not a readable tarball: %s" % (src, exc)) from exc
        result["files"], result["stripped"] = done["count"], done["stripped"]
    else:
        place(src, os.path.join(release_dir, params["name"]),
              0o755 if params["kind"] == "binary" else 0o644)
        result["files"] = 1
    if params["remove_src"]:
        os.unlink(src)
    atomic_write(manifest_path, text.encode("utf-8"), mode=0o644)


def work(module, result):
    params = module.params
    try:
        install(module, result)
    except OSError as exc:
        raise ReleaseUnpackFailure("installing release %s of %s failed: %s"
                                   % (params["release"], params["service"], exc),
                                   cause=exc) from exc
    finally:
        # a refused or failed artifact does not stay on the host either (the next run copies it
        # again); the release dir itself is the caller's to delete (the role's rescue does)
        if params["remove_src"] and not module.check_mode and os.path.lexists(params["src"]):
            with contextlib.suppress(OSError):
                os.unlink(params["src"])
