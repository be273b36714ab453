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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    run_module,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._release import (
    work,
)


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
