#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: shipyard_spec
short_description: Load and validate a shipyard service spec on the controller
version_added: 0.1.0
description:
  - Reads a service spec file on the controller and validates it with the shipyard Python
    package's own models (C(shipyard.core.spec)), with the same checks and the same error
    messages as C(shipyard validate); a bad spec fails naming every bad field, its value and
    the fix.
  - Returns the normalized spec as RV(shipyard_service), exactly what C(shipyard render)
    prints (ports expanded, defaults filled, the artifact's path, relative to the spec file, made
    absolute). With O(check_artifact) the local artifact must exist and match its sha256.
  - With O(secrets) each secret of the spec is read from the controller's environment or its
    file and returned as RV(shipyard_secrets); the result is then C(no_log), so no value reaches
    a callback, an ansible-runner event or a log. A C(shipyard_secrets) variable that is
    already set (for example an AWX credential's extra variables) is used instead and no
    secret is read.
  - A spec is data. It is parsed by shipyard's hardened YAML reader, never by Ansible, and every
    value returned is marked unsafe, so no value of it is ever evaluated as a template.
  - The values are return values, not facts, so they never reach a fact cache (where AWX's fact
    storage would keep the secrets). The collection's playbooks register the result with
    C(run_once) and hand it to M(ansible.builtin.set_fact), which gives every host of the play
    the variables in memory; see EXAMPLES.
  - This is an action plugin that runs on the controller only; it needs the C(shipyard)
    Python package in the Python that runs C(ansible-playbook) (in an execution environment,
    list it in the Python requirements).
author:
  - shipyard developers (!UNKNOWN)
extends_documentation_fragment:
  - shipyard.deploy._attributes
attributes:
  check_mode:
    support: full
    details: This action does not modify state.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller only; the spec and the artifact are read there.
options:
  spec:
    description:
      - Path of the service spec file on the controller. A relative path is relative to the
        working directory of C(ansible-playbook) (in AWX and ansible-runner, the project
        directory). Paths inside the spec are relative to the spec file.
    type: str
    required: true
  check_artifact:
    description:
      - Check that a local artifact (C(artifact.path)) exists and matches C(artifact.sha256),
        as a deploy does. V(false) for playbooks that never copy it (remove, status, rollback).
    type: bool
    default: true
  secrets:
    description:
      - Read the spec's secrets on the controller and return them as RV(shipyard_secrets).
        V(false) for playbooks that pass no secrets.
    type: bool
    default: true
  strategies:
    description:
      - The strategies the calling playbook runs; a spec of another strategy is refused naming
        its C(strategy) field. Empty accepts every strategy.
    type: list
    elements: str
    default: []
notes:
  - Requires the C(shipyard) Python package on the controller.
seealso:
  - module: ansible.builtin.set_fact
"""

EXAMPLES = r"""
- name: Load and validate the service spec (shipyard_spec)
  shipyard.deploy.shipyard_spec:
    spec: services/hello.yml
    strategies: [multi]
  run_once: true
  delegate_to: localhost
  register: spec_result

- name: Give every host of the play the spec's variables (in memory, not cached)
  ansible.builtin.set_fact:
    shipyard_service: "{{ spec_result.shipyard_service }}"
    shipyard_release: "{{ spec_result.shipyard_release }}"
    shipyard_secrets: "{{ spec_result.shipyard_secrets }}"
  run_once: true
  no_log: true

- name: Validate only (no secrets read, the artifact not checked), e.g. before a removal
  shipyard.deploy.shipyard_spec:
    spec: services/hello.yml
    check_artifact: false
    secrets: false
  run_once: true
  delegate_to: localhost
  check_mode: true
"""

RETURN = r"""
shipyard_service:
  description: The normalized spec the playbooks take, as C(shipyard render) prints it (no secret values).
  returned: success
  type: dict
  sample:
    name: hello
    version: 1.0.0
    ports: [8080, 8081, 8082]
    artifact: {path: /srv/project/examples/dist/hello-1.0.0.tar, sha256: f20f28d6..., kind: tarball}
shipyard_release:
  description: The release id the playbooks install (the spec's version), as C(shipyard render) prints it.
  returned: success
  type: str
  sample: 1.0.0
shipyard_secrets:
  description:
    - Every secret's value by name, read on the controller; the task result is C(no_log) when
      there is one.
  returned: success, with O(secrets) and no C(shipyard_secrets) variable set
  type: dict
  sample: {API_TOKEN: "(hidden)"}
secret_names:
  description: The names of the secrets read.
  returned: when RV(shipyard_secrets) is
  type: list
  elements: str
  sample: [API_TOKEN]
sections:
  description: The spec's strategy sections the playbooks take as variables (C(container), C(ami)).
  returned: success
  type: dict
  sample: {container: {read_only: true}}
spec:
  description: Absolute path of the spec file read.
  returned: success
  type: str
  sample: /srv/project/services/hello.yml
strategy:
  description: The spec's strategy.
  returned: success
  type: str
  sample: multi
errors:
  description: Every bad field of an invalid spec (as C(shipyard validate --json)).
  returned: failure, for an invalid spec
  type: list
  elements: dict
  sample: [{field: name, value: Bad, fix: "use lowercase letters, ...", error: "services/x.yml: name: ..."}]
exit_code:
  description: The exit code C(shipyard validate) would give (2 invalid input, 4 setup).
  returned: failure
  type: int
  sample: 2
"""
