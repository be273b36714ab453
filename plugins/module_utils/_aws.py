# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: the common AWS options, a boto3 client factory and a pager.

Controller-side only (boto3). The options are amazon.aws's (``modules`` and ``region`` doc
fragments, ``module_utils/modules.py``): the same names, aliases and environment fallbacks, so a
task written for amazon.aws modules (and a ``module_defaults`` group) works here. They are
documented once by the ``shipyard.deploy.aws`` doc fragment. Every client retries throttling
and transient errors with botocore's exponential backoff (``retries`` below, merged under the
user's ``aws_config``); every list or describe call that can page goes through :func:`paginate`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.module_utils.basic import env_fallback
from ansible_collections.shipyard.deploy.plugins.module_utils._common import ShipyardModuleError

#: botocore's "standard" retry mode: exponential backoff with jitter on throttling (Throttling,
#: RequestLimitExceeded, TooManyRequestsException, ...) and transient errors, 10 attempts in all.
#: ``aws_config: {retries: ...}`` overrides it.
RETRIES = {"mode": "standard", "max_attempts": 10}

#: Environment variable that sets the page size of every paged call (tests use a small one to
#: prove that every page is read; AWS's default page size applies when it is not set).
PAGE_SIZE_VAR = "SHIPYARD_AWS_PAGE_SIZE"

#: Environment variables the profile option falls back to (amazon.aws's).
_PROFILE_VARS = ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"]

AWS_ARGUMENT_SPEC = {
    "access_key": {
        "type": "str",
        "aliases": ["aws_access_key_id", "aws_access_key"],
        "fallback": (env_fallback, ["AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"]),
        "no_log": True,
    },
    "secret_key": {
        "type": "str",
        "aliases": ["aws_secret_access_key", "aws_secret_key"],
        "fallback": (env_fallback, ["AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY"]),
        "no_log": True,
    },
    "session_token": {
        "type": "str",
        "aliases": ["aws_session_token"],
        "fallback": (env_fallback, ["AWS_SESSION_TOKEN"]),
        "no_log": True,
    },
    "profile": {"type": "str", "aliases": ["aws_profile"], "fallback": (env_fallback, _PROFILE_VARS)},
    "region": {
        "type": "str",
        "aliases": ["aws_region"],
        "fallback": (env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"]),
    },
    "endpoint_url": {
        "type": "str",
        "aliases": ["aws_endpoint_url"],
        # botocore's own variable first (what shipyard's CLI reads too), then amazon.aws's
        "fallback": (env_fallback, ["AWS_ENDPOINT_URL", "AWS_URL"]),
    },
    "validate_certs": {"type": "bool", "default": True},
    "aws_ca_bundle": {"type": "path", "fallback": (env_fallback, ["AWS_CA_BUNDLE"])},
    "aws_config": {"type": "dict"},
}


class AwsError(ShipyardModuleError):
    """A failed AWS call: message and the botocore error (the shared module error)."""


def aws_argument_spec(**extra):
    """The common AWS options merged with a module's own."""
    spec = {k: dict(v) for k, v in AWS_ARGUMENT_SPEC.items()}
    spec.update(extra)
    return spec


def connection_params(params, environ=None):
    """(session kwargs, client kwargs) for boto3 from the module's AWS options (pure but for
    the CA bundle's existence check); raises AwsError naming the option and the fix.

    As amazon.aws: a profile and access keys are mutually exclusive, except that a profile that
    only comes from AWS_PROFILE / AWS_DEFAULT_PROFILE yields to keys given (as botocore's own
    chain does); ``validate_certs: false`` turns verification off, else ``aws_ca_bundle`` is the
    CA file (None leaves botocore's default, which also reads ``ca_bundle`` of the profile).
    The region is left to the profile or us-east-1 (see :class:`Clients`).
    """
    environ = os.environ if environ is None else environ
    access = params.get("access_key") or None
    secret = params.get("secret_key") or None
    token = params.get("session_token") or None
    profile = params.get("profile") or None
    if profile and (access or secret or token):
        if profile not in [environ.get(v) for v in _PROFILE_VARS]:
            raise AwsError(
                "profile=%s and access_key/secret_key/session_token are mutually exclusive: "
                "give either a profile or keys" % profile
            )
        profile = None  # AWS_PROFILE from the environment: the keys given win
    if (access is None) != (secret is None):
        given, missing = ("access_key", "secret_key") if access else ("secret_key", "access_key")
        raise AwsError("%s is set but %s is not: give both, or neither for boto3's chain" % (given, missing))
    session = {"region_name": params.get("region") or None}
    if profile:
        session["profile_name"] = profile
    if access:
        session.update(aws_access_key_id=access, aws_secret_access_key=secret)
        if token:
            session["aws_session_token"] = token
    client = {}
    if params.get("endpoint_url"):
        client["endpoint_url"] = params["endpoint_url"]
    ca_bundle = params.get("aws_ca_bundle")
    if params.get("validate_certs") is False:
        client["verify"] = False
    elif ca_bundle:
        if not os.path.isfile(ca_bundle):
            raise AwsError(
                "aws_ca_bundle=%s: no such file (also read from AWS_CA_BUNDLE): give a PEM file of "
                "CA certificates" % ca_bundle
            )
        client["verify"] = ca_bundle
    return session, client


def client_config(aws_config=None):
    """botocore Config: shipyard's retries and user agent, then the user's ``aws_config`` on top."""
    import botocore.config

    config = botocore.config.Config(retries=dict(RETRIES), user_agent_extra="shipyard.deploy")
    if not aws_config:
        return config
    try:
        return config.merge(botocore.config.Config(**aws_config))
    except TypeError as exc:
        raise AwsError(
            "aws_config: %s: give botocore.config.Config settings (retries, connect_timeout, "
            "read_timeout, max_pool_connections, ...)" % exc,
            exc,
        ) from exc


class Clients(object):
    """boto3 clients from the module's AWS options (credentials from the boto3 chain by default)."""

    def __init__(self, params):
        try:
            import boto3
        except ImportError:
            raise AwsError("boto3 is required on the controller: pip install boto3") from None
        session_kwargs, self.client_kwargs = connection_params(params)
        self.config = client_config(params.get("aws_config"))
        try:
            self.session = boto3.session.Session(**session_kwargs)
        except Exception as exc:  # botocore's ProfileNotFound and friends
            raise AwsError("AWS session: %s: check profile and region" % exc, exc) from exc
        self.region = self.session.region_name or "us-east-1"
        self.page_size = page_size()
        self._cache = {}

    def __call__(self, service):
        if service not in self._cache:
            self._cache[service] = self.session.client(
                service, region_name=self.region, config=self.config, **self.client_kwargs
            )
        return self._cache[service]


def page_size(environ=None):
    """The page size from SHIPYARD_AWS_PAGE_SIZE, or None (AWS's default)."""
    value = (os.environ if environ is None else environ).get(PAGE_SIZE_VAR) or ""
    return int(value) if value.isdigit() and int(value) > 0 else None


def paginate(client, method, key, what=None, page_size=None, **kwargs):
    """Every item under ``key`` of all pages of a list/describe call (botocore's paginator).

    A call that has no paginator is made once. Raises AwsError naming ``what`` (default the
    method) on failure.
    """
    what = what or method
    try:
        if not client.can_paginate(method):
            return list(getattr(client, method)(**kwargs).get(key) or [])
        paginator = client.get_paginator(method)
        # PageSize only where the operation has a page-size parameter (most have)
        sized = page_size and getattr(paginator, "_limit_key", None)
        config = {"PageSize": page_size} if sized else {}
        items = []
        for page in paginator.paginate(PaginationConfig=config, **kwargs):
            items.extend(page.get(key) or [])
        return items
    except Exception as exc:  # botocore's ClientError, EndpointConnectionError, ...
        raise AwsError("%s: %s failed: %s" % (what, method, exc), exc) from exc


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
