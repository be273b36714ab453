#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: service_release_unpack
short_description: Unpack (or place) a staged artifact as a release of a service, manifest last
version_added: 0.1.0
description:
  - For the multi strategy's release install (the role C(shipyard.deploy.service_release)). In one
    call, makes C(<root>/<service>/releases/<release>/) hold the artifact O(src) already copied to
    the host - a tarball unpacked into it, any other kind placed in it as the one file O(name) -
    then removes O(src) and writes O(manifest) as C(.shipyard-release.json), last and atomically -
    a release without a manifest is incomplete and never activated.
  - A release directory that exists without a manifest is a failed or interrupted install, so its
    content is removed first. When the manifest is already there with the O(sha256) of O(src),
    nothing changes; with another sha256 the module fails (a release is immutable).
  - "Tarballs are unpacked by Python's C(tarfile) with the rules the OCI image unpacker
    (M(shipyard.deploy.oci_image)) shares. Refused (the task fails naming the member and why, and
    the role deletes the never-activated release): absolute member names and C(..) components;
    any member whose path goes through a symlink; symlinks with an absolute target or resolving
    outside the release (also through a chain of links); hard links to anything but another
    member; character and block devices, FIFOs and other special files; an entry named
    C(.shipyard-release.json) at the top. Normalized: every file and
    directory is owned by root:root and loses its set-uid, set-gid and sticky bits and its group
    and other write bits (mode C(& 0755)); the members changed so are returned in RV(stripped)."
  - Set-id and write bits are normalized rather than refused because build tools produce them
    without meaning to (a umask of 0002, a C(chmod -R g+w)); the release stays usable. Device
    nodes, FIFOs and escapes are refused because no service release needs them and dropping them
    silently would hide a broken or hostile artifact.
  - Runs as root; a non-root run cannot set the owner (the files keep the user's).
author:
  - shipyard developers (!UNKNOWN)
extends_documentation_fragment:
  - shipyard.deploy._attributes
  - shipyard.deploy._attributes.STATE
  - shipyard.deploy._attributes.SERVICE
options:
  release:
    description: The release (version), the directory C(<root>/<service>/releases/<release>/).
    type: str
    required: true
  src:
    description:
      - The artifact on the host (the role's staging copy). Need not exist in check mode.
    type: path
    required: true
  kind:
    description:
      - V(tarball) is unpacked into the release (a tar file, plain or compressed with gzip,
        bzip2 or xz); V(binary) is placed with mode 0755, V(wheel) and V(jar) with mode 0644.
    type: str
    choices: [tarball, binary, wheel, jar]
    default: tarball
  name:
    description:
      - The file name of a non-tarball artifact in the release (the artifact's base name). One
        plain file name - not empty, not V(.) or V(..), no C(/). Required unless O(kind=tarball).
    type: str
  sha256:
    description:
      - The artifact's sha256 (64 hex digits). O(src) is checked against it before anything is
        unpacked, and an existing manifest with it means the release is already installed.
    type: str
    required: true
  manifest:
    description:
      - The release manifest, written as C(.shipyard-release.json) (indented JSON, sorted keys)
        after everything else. A tarball with an entry of that name is refused (it would make an
        incomplete release look complete).
    type: dict
    required: true
  remove_src:
    description: Remove O(src) once the release is complete.
    type: bool
    default: true
notes:
  - Nothing is written in check mode; the diff is the manifest that would be written.
seealso:
  - module: shipyard.deploy.oci_image
  - module: shipyard.deploy.service_releases
"""

EXAMPLES = r"""
- name: Unpack the staged tarball as release 1.0.0 of hello, then write its manifest
  shipyard.deploy.service_release_unpack:
    service: hello
    release: 1.0.0
    src: /opt/shipyard/hello/.staging/1.0.0.artifact
    kind: tarball
    sha256: 5303b02825806a0f1dc853658c7c3083dd3853997baf18456deb518e3960f07e
    manifest:
      service: hello
      version: 1.0.0
      sha256: 5303b02825806a0f1dc853658c7c3083dd3853997baf18456deb518e3960f07e
      kind: tarball
      time: "2026-01-01T00:00:00Z"

- name: Place a single binary as release 2.0.0 of tool
  shipyard.deploy.service_release_unpack:
    service: tool
    release: 2.0.0
    src: /opt/shipyard/tool/.staging/2.0.0.artifact
    kind: binary
    name: tool
    sha256: "{{ tool_sha256 }}"
    manifest: {service: tool, version: 2.0.0, sha256: "{{ tool_sha256 }}", kind: binary}
"""

RETURN = r"""
release_dir:
  description: The release directory.
  returned: always
  type: str
  sample: /opt/shipyard/hello/releases/1.0.0
files:
  description: How many entries were unpacked or placed (0 when nothing changed or in check mode).
  returned: always
  type: int
  sample: 12
stripped:
  description: Members whose set-id, sticky or group/other write bits were removed.
  returned: always
  type: list
  elements: str
  sample: [bin/tool, data]
"""

import contextlib
import hashlib
import json
import os
import re
import shutil
import tarfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shipyard.deploy.plugins.module_utils._archive import (
    ArchiveError,
    check_file_name,
    safe_extract,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    ShipyardModuleError,
    check_release,
    check_service_name,
    run_module,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._fs import atomic_write
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


def file_sha256(path):
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            sha.update(block)
    return sha.hexdigest()


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


def main():
    module = AnsibleModule(
        argument_spec={
            "service": {"type": "str", "required": True},
            "root": {"type": "path", "default": "/opt/shipyard"},
            "release": {"type": "str", "required": True},
            "src": {"type": "path", "required": True},
            "kind": {"type": "str", "default": "tarball",
                     "choices": ["tarball", "binary", "wheel", "jar"]},
            "name": {"type": "str"},
            "sha256": {"type": "str", "required": True},
            "manifest": {"type": "dict", "required": True},
            "remove_src": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    result = {"changed": False, "release_dir": "", "files": 0, "stripped": []}
    run_module(module, result, work)


if __name__ == "__main__":
    main()
