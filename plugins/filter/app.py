# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Filters of the application playbook (controller side): which services a wave converges."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError


def failed_services(app, hostvars, hosts):
    """Services that failed in a wave so far: reported failed, or placed on a host whose
    converge failed as a whole or could not be reached."""
    failed = set()
    placement = app.get("placement") or {}
    waves = app.get("waves") or []
    for host in hosts:
        done = (hostvars.get(host) or {}).get("shipyard_app_done") or {}
        for wave, outcome in done.items():
            listed = set(outcome.get("failed_services") or [])
            failed |= listed
            if (outcome.get("unreachable") or outcome.get("failed")) and not listed:
                # the whole call failed: every service of the wave placed on the host
                failed |= set(waves[int(wave)]) & set(placement.get(host) or [])
    return failed


def blocked_services(app, failed):
    """Services not to touch: those that failed, and every service depending on one (any depth)."""
    depends = app.get("depends_on") or {}
    blocked = set(failed)
    for wave in app.get("waves") or []:
        for name in wave:
            if set(depends.get(name) or []) & blocked:
                blocked.add(name)
    return blocked


def app_wave_services(app, host, wave, hostvars, hosts):
    """The services of wave ``wave`` placed on ``host`` whose dependencies did not fail or get
    skipped on any host, as the converge takes them (normalized specs)."""
    try:
        names = app["waves"][int(wave)]
        placed = set((app.get("placement") or {}).get(host) or [])
        services = app["services"]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(
            "app_wave_services: shipyard_app is not an application plan: %s" % exc) from exc
    blocked = blocked_services(app, failed_services(app, hostvars, hosts))
    return [services[name] for name in names if name in placed and name not in blocked]


class FilterModule(object):
    """app_wave_services."""

    def filters(self):
        return {"app_wave_services": app_wave_services}
