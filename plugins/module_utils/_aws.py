# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: the common AWS options and a boto3 client factory.

Controller-side only (boto3). The options are documented once by the ``shipyard.deploy.aws``
doc fragment; ``endpoint_url`` falls back to the AWS_ENDPOINT_URL environment variable.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.module_utils.basic import env_fallback
from ansible_collections.shipyard.deploy.plugins.module_utils._common import ShipyardModuleError

AWS_ARGUMENT_SPEC = {
    "endpoint_url": {"type": "str", "fallback": (env_fallback, ["AWS_ENDPOINT_URL"])},
    "region": {"type": "str", "fallback": (env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"])},
    "profile": {"type": "str", "fallback": (env_fallback, ["AWS_PROFILE"])},
    "access_key": {"type": "str", "no_log": True},
    "secret_key": {"type": "str", "no_log": True},
    "session_token": {"type": "str", "no_log": True},
}


class AwsError(ShipyardModuleError):
    """A failed AWS call: message and the botocore error (the shared module error)."""


def aws_argument_spec(**extra):
    """The common AWS options merged with a module's own."""
    spec = dict(AWS_ARGUMENT_SPEC)
    spec.update(extra)
    return spec


class Clients(object):
    """boto3 clients from the module's AWS options (credentials from the boto3 chain by default)."""

    def __init__(self, params):
        try:
            import boto3
        except ImportError:
            raise AwsError("boto3 is required on the controller: pip install boto3") from None
        kwargs = {}
        if params.get("profile"):
            kwargs["profile_name"] = params["profile"]
        if params.get("access_key") and params.get("secret_key"):
            kwargs["aws_access_key_id"] = params["access_key"]
            kwargs["aws_secret_access_key"] = params["secret_key"]
            if params.get("session_token"):
                kwargs["aws_session_token"] = params["session_token"]
        kwargs["region_name"] = params.get("region") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.session = boto3.session.Session(**kwargs)
        self.endpoint_url = params.get("endpoint_url")
        self._cache = {}

    def __call__(self, service):
        if service not in self._cache:
            kwargs = {}
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            self._cache[service] = self.session.client(service, **kwargs)
        return self._cache[service]

    @property
    def region(self):
        return self.session.region_name


def call(client, method, what, **kwargs):
    """One boto3 call; raises AwsError naming what failed."""
    try:
        return getattr(client, method)(**kwargs)
    except Exception as exc:  # botocore's ClientError, EndpointConnectionError, ...
        raise AwsError("%s: %s failed: %s" % (what, method, exc), exc) from exc


def error_code(exc):
    """The AWS error code of a botocore ClientError (or None)."""
    response = getattr(exc, "response", None) or {}
    return (response.get("Error") or {}).get("Code")
