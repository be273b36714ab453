#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: service_converge
short_description: Converge a host's services (release, files, balancer, instances) in one call
version_added: 0.1.0
description:
  - Takes the desired state of the host, one or more services each as its normalized spec
    (what C(shipyard render) or the C(shipyard_spec) action prints as C(shipyard_service)),
    and converges it in one remote execution. A run that changes nothing is one module call.
  - For each service, in order, all under the service's deploy lease and flock; the port claim
    in the host's registry (a clash names both services); the release, unpacked by the safe
    rules with its manifest written last (a version already installed from another artifact
    is refused); the environment, secrets and template unit files (atomic, the unit checked
    with C(systemd-analyze verify)); the container bundles (O(runtime=container)); the
    HAProxy balancer (configuration checked with C(haproxy -c)); the instances, started
    together and restarted health-gated C(max_unavailable) at a time, with rollback on a
    failed health check; and the releases beyond C(keep_releases) pruned.
  - When a release's artifact is not on the host yet, the module changes nothing and reports it;
    the action plugin then copies only those artifacts (checked against the spec's sha256 on the
    controller, downloaded once when the spec gives a URL) and calls the module again.
  - A service that fails rolls back alone; the other services of the call still converge, and the
    task fails naming every failed service.
  - Check mode and diff mode come from the same plan as a real run.
author:
  - shipyard developers (!UNKNOWN)
extends_documentation_fragment:
  - shipyard.deploy._attributes
  - shipyard.deploy._attributes.STATE
attributes:
  action:
    description: >-
      Indicates this has a corresponding action plugin so some parts of the options can be set
      on the controller.
    support: full
    details: The action plugin takes the leases, waits for other runs and copies artifacts.
options:
  service:
    description:
      - One service, its normalized spec (the C(shipyard_service) variable).
      - Mutually exclusive with O(services).
    type: dict
  services:
    description:
      - Several services on the same host, each a normalized spec; each may also carry
        C(release), C(runtime), C(image) and C(container) keys (see the options of the same name).
      - Mutually exclusive with O(service).
    type: list
    elements: dict
  release:
    description: The release to run (default the spec's C(version)); with O(service) only.
    type: str
  runtime:
    description:
      - V(process) runs the spec's command in the release directory (multi strategy).
      - V(container) runs each instance with C(runc) on a bundle of the release's image.
      - With O(service) only; default V(process).
    type: str
    choices: [process, container]
  image:
    description:
      - The image of a container release, pulled by digest on the host with C(skopeo) once.
      - "Keys: C(name) (registry/repository), C(digest) (sha256:...), C(tls_verify) (default true)."
    type: dict
  container:
    description: Container settings, C(read_only) (default true) for the root file system.
    type: dict
  secrets:
    description:
      - The secret values, never logged. With O(service) a mapping NAME -> value; with
        O(services) a mapping service -> (NAME -> value).
    type: dict
    default: {}
  wait:
    description:
      - Seconds to wait while another run holds a service's deploy lease (action plugin).
      - A lease held by a run whose C(ansible-playbook) is gone is broken with a warning.
    type: int
    default: 600
  lock_ttl:
    description: A lease older than this many seconds is broken.
    type: int
    default: 3600
  staged:
    description: Internal, set by the action plugin - the host paths of the artifacts it copied.
    type: dict
    default: {}
  owner:
    description: Internal, set by the action plugin - the lease owner (this run).
    type: dict
  break_tokens:
    description: Internal, set by the action plugin - leases of dead runs it may break.
    type: dict
    default: {}
  lock_wait:
    description: Internal, set by the action plugin from O(wait).
    type: int
    default: 600
  root:
    description: Where releases live (C(<root>/<service>/releases/<version>)).
    type: path
    default: /opt/shipyard
  config_dir:
    description: Where the environment, secrets and balancer files live (C(<config_dir>/<service>/)).
    type: path
    default: /etc/shipyard
  unit_dir:
    description: Where the unit files are written.
    type: path
    default: /etc/systemd/system
  port_registry:
    description: The host's port registry (port -> service).
    type: path
    default: /etc/shipyard/ports.json
  lock_dir:
    description: Where the deploy leases live.
    type: path
    default: /run/shipyard/locks
  runc:
    description: The runc binary (container runtime).
    type: path
    default: /usr/sbin/runc
  haproxy:
    description: The HAProxy binary (services with a balancer).
    type: path
    default: /usr/sbin/haproxy
  skopeo:
    description: The skopeo binary (container releases).
    type: path
    default: /usr/bin/skopeo
  systemd_analyze:
    description: The systemd-analyze binary.
    type: path
    default: systemd-analyze
  verify_unit:
    description: Check a changed unit with C(systemd-analyze verify) before it is installed.
    type: bool
    default: true
  rollback_on_failure:
    description: On a failed health check, switch back to the release before this run.
    type: bool
    default: true
  timeout_stop_sec:
    description: Seconds systemd waits for an instance to stop after SIGTERM.
    type: int
    default: 30
  balancer_maxconn:
    description: HAProxy's C(maxconn).
    type: int
    default: 4096
  app:
    description:
      - The application the services belong to, recorded in C(<config_dir>/<service>/app) so that
        C(shipyard deploy APP --prune) finds the services dropped from the app file.
    type: str
  runner:
    description:
      - How the action plugin runs the converge on the host. V(lean) sends the standard-library
        host code to C(python3 -c) with the arguments on stdin (no AnsiballZ wrapper);
        V(module) uses Ansible's module execution. The variable C(shipyard_converge_runner)
        sets it for a play.
    type: str
    choices: [lean, module]
    default: lean
notes:
  - Runs as root on Linux hosts with systemd. Host-side code is the standard library only.
seealso:
  - module: shipyard.deploy.service_instances
  - module: shipyard.deploy.service_files
"""

EXAMPLES = r"""
- name: Deploy the service (the whole host state in one call)
  shipyard.deploy.service_converge:
    service: "{{ shipyard_service }}"
    secrets: "{{ shipyard_secrets | default({}) }}"

- name: Two services on the same host in one call
  shipyard.deploy.service_converge:
    services:
      - "{{ catalog_spec }}"
      - "{{ orders_spec | combine({'runtime': 'container', 'image': orders_image}) }}"
"""

RETURN = r"""
services:
  description: Per service, what the call did (steps, actions, instances, links, failure).
  returned: always
  type: dict
  sample:
    hello:
      changed: true
      release: 2.0.0
      current: 2.0.0
      previous: 1.0.0
      actions: [{action: activate, release: 2.0.0, from: 1.0.0}]
      instances: [{port: 8080, release: 2.0.0, healthy: true}]
instances:
  description: Every instance of every service after the run, each with its C(service).
  returned: always
  type: list
  elements: dict
  sample: [{service: hello, port: 8080, unit: shipyard-hello@8080.service, release: 2.0.0}]
failed_services:
  description: The services that failed (each rolled back alone).
  returned: failure
  type: list
  elements: str
  sample: [orders]
calls:
  description: >-
    Remote executions on this host (C(module) calls, C(remote) including the copies), the
    artifacts copied and the seconds spent waiting for leases.
  returned: always
  type: dict
  sample: {module: 1, remote: 1, copies: [], waited: 0.0}
seconds:
  description: Seconds the module worked on the host (this call).
  returned: always
  type: float
  sample: 0.21
lock:
  description: Per service, the host times the lease was taken and released.
  returned: success
  type: dict
  sample: {hello: {acquired: 1764583200.1, released: 1764583203.4}}
diff:
  description: The file, registry and instance changes (with C(--diff)).
  returned: when diff mode is on and something changes
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shipyard.deploy.plugins.module_utils._common import run_module
from ansible_collections.shipyard.deploy.plugins.module_utils._converge import (
    ARGUMENT_SPEC,
    run,
)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("service", "services")],
        required_one_of=[("service", "services")],
        supports_check_mode=True,
    )
    result = {"changed": False, "services": {}, "instances": [], "seconds": 0.0}
    run_module(module, result, run)


if __name__ == "__main__":
    main()
