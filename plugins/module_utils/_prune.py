# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: the host-side work of the module service_releases.

Shared with shipyard.deploy.service_converge (which runs it
for many services in one call). ``module`` is an AnsibleModule or a
``_task.SubTask`` view of one (params, check mode, diff mode, run_command).

Host-side code: standard library and ansible.module_utils only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil

from ansible_collections.shipyard.deploy.plugins.module_utils._common import (
    ShipyardModuleError,
    check_service_name,
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
