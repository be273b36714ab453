#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: service_releases
short_description: Prune a service's releases on a host to the newest activated ones
version_added: 0.1.0
description:
  - Keeps the O(keep) most recently activated releases of a service (by the C(activated) time in
    each release's C(.shipyard-release.json), never by directory mtimes) and removes the other
    activated ones.
  - Never removes the release C(current) or C(previous) points to, nor those in O(protect).
    Releases never activated are left alone (the release role removes its own failed installs).
author:
  - shipyard developers (!UNKNOWN)
extends_documentation_fragment:
  - shipyard.deploy._attributes
  - shipyard.deploy._attributes.STATE
  - shipyard.deploy._attributes.SERVICE
options:
  keep:
    description: How many activated releases to keep (current and previous count).
    type: int
    default: 3
  protect:
    description: Releases never removed, for example the one being deployed.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Keep the three newest activated releases of hello
  shipyard.deploy.service_releases:
    service: hello
    keep: 3
    protect: [2.0.0]
"""

RETURN = r"""
removed:
  description: Releases removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [0.9.0]
kept:
  description: Activated releases kept, newest first.
  returned: always
  type: list
  elements: str
  sample: [2.0.0, 1.0.0]
"""

import json
import os
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    ShipyardModuleError,
    check_service_name,
    run_module,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._fs import read_link
from ansible_collections.shipyard.deploy.plugins.module_utils._instances import (
    MANIFEST,
    release_of_path,
    releases_dir,
    service_dir,
)

#: Prefix of a release directory being deleted (never a release name: they start with [0-9A-Za-z]).
REMOVING = ".removing-"


class ServiceReleasesFailure(ShipyardModuleError):
    """Pruning failed."""


def plan_prune(activated, keep, protected):
    """(kept, removed) from {release: activated time}; protected releases are always kept."""
    newest_first = sorted(activated, key=lambda r: (activated[r], r), reverse=True)
    kept, removed = [], []
    for release in newest_first:
        if release in protected or len(kept) < keep:
            kept.append(release)
        else:
            removed.append(release)
    return kept, removed


def prune(module, result):
    params = module.params
    message = check_service_name(params["service"])
    if message:
        raise ServiceReleasesFailure(message)
    if params["keep"] < 2:
        raise ServiceReleasesFailure("keep=%d: keep at least 2 (current and previous)"
                                     % params["keep"])
    base = service_dir(params["root"], params["service"])
    releases = releases_dir(params["root"], params["service"])
    protected = set(params["protect"])
    for link in ("current", "previous"):
        name = release_of_path(read_link(os.path.join(base, link)), releases)
        if name:
            protected.add(name)
    activated = {}
    try:
        names = os.listdir(releases)
    except FileNotFoundError:
        names = []
    for name in names:
        if name.startswith(REMOVING):
            continue
        try:
            with open(os.path.join(releases, name, MANIFEST)) as handle:
                when = json.load(handle).get("activated")
        except (OSError, ValueError, AttributeError):
            continue
        if when:
            activated[name] = str(when)
    kept, removed = plan_prune(activated, params["keep"], protected)
    if not module.check_mode:
        # a prune killed half-way left these: they were renamed away first, so never in use
        for name in names:
            if name.startswith(REMOVING):
                shutil.rmtree(os.path.join(releases, name), ignore_errors=True)
    if removed and not module.check_mode:
        for name in removed:
            try:
                # rename first (atomic): a killed prune never leaves a half-deleted release
                # whose manifest still says it is complete
                doomed = os.path.join(releases, "%s%s-%d" % (REMOVING, name, os.getpid()))
                os.rename(os.path.join(releases, name), doomed)
                shutil.rmtree(doomed)
            except OSError as exc:
                raise ServiceReleasesFailure("cannot remove release %s: %s" % (name, exc),
                                             cause=exc, removed=removed, kept=kept) from exc
    result.update(changed=bool(removed), kept=kept, removed=removed)
    if module._diff:
        result["diff"] = {"before": {"releases": sorted(activated)},
                          "after": {"releases": sorted(kept)}}


def main():
    module = AnsibleModule(
        argument_spec={
            "service": {"type": "str", "required": True},
            "root": {"type": "path", "default": "/opt/shipyard"},
            "keep": {"type": "int", "default": 3},
            "protect": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    result = {"changed": False, "kept": [], "removed": []}
    run_module(module, result, prune)


if __name__ == "__main__":
    main()
