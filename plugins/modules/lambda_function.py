#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: lambda_function
short_description: Reconcile a Lambda function, its versions, alias and triggers
version_added: 0.1.0
description:
  - Creates or updates a function from a ZIP (the code is uploaded only when its sha256 differs
    from the function's C(CodeSha256)), publishes a version when code or configuration changed,
    and moves an alias to it, optionally weighted (O(canary)).
  - Reconciles the ways to invoke it, all pointing at the alias - direct invoke (resource
    policy per principal), S3 bucket notifications, Kinesis/DynamoDB stream and SQS queue event
    source mappings (batch size, batching window and enabled are updated in place), SNS
    subscriptions (protocol C(lambda)), SES receipt rules with a Lambda action, an API Gateway
    HTTP API (C(shipyard-<name>)) with one route per O(triggers.http) entry, and EventBridge
    schedule rules (C(shipyard-<name>-<hash>)). Each AWS service gets its permission on the
    alias (C(shipyard-<kind>-...) statement ids). A trigger left out of O(triggers) is removed;
    a re-run with the same input changes nothing.
  - SES - the rule set is created when missing and is never deleted; the active rule set is
    changed only for an entry with C(activate=true), and never deactivated. Other actions of the
    rule (an S3 action storing the mail, say) are kept; when the entry is dropped, the function's
    Lambda action is removed and the rule is deleted once it has no action left.
  - O(operation=promote) finishes a canary; O(operation=rollback) points the alias at the
    previous version.
  - Environment values are never returned; only their names.
author:
  - shipyard developers (!UNKNOWN)
extends_documentation_fragment:
  - shipyard.deploy._attributes
  - shipyard.deploy.aws
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
    details: Runs on the controller; calls the AWS API with boto3.
options:
  name:
    description: Function name.
    type: str
    required: true
  operation:
    description: V(deploy) reconciles everything; V(promote) and V(rollback) only move the alias.
    type: str
    choices: [deploy, promote, rollback]
    default: deploy
  zip_file:
    description: The deployment package (a ZIP on the controller). Required for O(operation=deploy).
    type: path
  runtime:
    description: Lambda runtime.
    type: str
    default: python3.11
  handler:
    description: module.function. Required for O(operation=deploy).
    type: str
  role:
    description:
      - IAM role ARN; when not set the role C(shipyard-<name>-lambda) is used (created if missing).
      - That role's inline policy C(shipyard-event-sources) lets Lambda read the queues and streams
        of O(triggers.sqs) and O(triggers.streams) (and is deleted when there are none); a role given
        here is the caller's to grant.
    type: str
  memory:
    description: Memory in MB.
    type: int
    default: 128
  timeout:
    description: Timeout in seconds (at most 900).
    type: int
    default: 30
  environment:
    description: Environment variables (not secret).
    type: dict
    default: {}
  secret_environment:
    description: Secret environment variables; never logged or returned.
    type: dict
    default: {}
  alias:
    description: The alias moved to each new version.
    type: str
    default: live
  canary:
    description: Percent of traffic for the new version; V(0) moves the whole alias.
    type: int
    default: 0
  triggers:
    description: The triggers, all pointing at the alias.
    type: dict
    default: {}
    suboptions:
      direct:
        description: Principals (account ids or service principals) allowed to invoke.
        type: list
        elements: str
        default: []
      s3:
        description: S3 notifications, each C({bucket, events, prefix, suffix}).
        type: list
        elements: dict
        default: []
      streams:
        description:
          - Kinesis or DynamoDB streams, each
            C({arn, starting_position, batch_size, batching_window, enabled}).
          - C(starting_position) applies to a new mapping only.
        type: list
        elements: dict
        default: []
      sqs:
        description: SQS queues, each C({arn, batch_size, batching_window, enabled}).
        type: list
        elements: dict
        default: []
      sns:
        description: SNS topics the alias subscribes to, each C({topic}) (a topic ARN).
        type: list
        elements: dict
        default: []
      ses:
        description:
          - SES receipt rules, each C({rule_set, rule, recipients, invocation, enabled, scan, activate}).
          - C(rule) defaults to C(shipyard-<name>); C(invocation) is
            V(Event) (default) or V(RequestResponse).
        type: list
        elements: dict
        default: []
      http:
        description: HTTP API routes, C(METHOD /path).
        type: list
        elements: str
        default: []
      schedule:
        description: EventBridge C(rate()) or C(cron()) expressions.
        type: list
        elements: str
        default: []
"""

EXAMPLES = r"""
- name: Deploy imageupload (a re-run with the same ZIP uploads nothing, publishes nothing)
  shipyard.deploy.lambda_function:
    name: imageupload
    zip_file: /tmp/imageupload-1.0.0.zip
    handler: app.handler
    environment: {IMAGES_TABLE: images}
    triggers:
      http: [POST /images]
      schedule: [rate(1 hour)]
      s3: [{bucket: imageupload-images, prefix: images/}]

- name: Canary - 10 % of the alias's traffic to the new version (check mode shows the plan)
  shipyard.deploy.lambda_function:
    name: imageupload
    zip_file: /tmp/imageupload-1.0.1.zip
    handler: app.handler
    canary: 10
  check_mode: true

- name: Finish the canary
  shipyard.deploy.lambda_function:
    name: imageupload
    operation: promote

- name: Remove every trigger (the function stays)
  shipyard.deploy.lambda_function:
    name: imageupload
    zip_file: /tmp/imageupload-1.0.1.zip
    handler: app.handler
    triggers: {}
"""

RETURN = r"""
function_arn:
  description: The function's unqualified ARN.
  returned: always
  type: str
  sample: arn:aws:lambda:us-east-1:123456789012:function:imageupload
alias:
  description: The alias, its version and canary weights.
  returned: always
  type: dict
  sample: {name: live, version: "2", weights: {"3": 0.1}}
versions:
  description: Published versions.
  returned: always
  type: list
  elements: str
  sample: ["1", "2"]
code_uploaded:
  description: Whether the code was (or would be) uploaded.
  returned: always
  type: bool
  sample: false
published:
  description: The version published by this run, or null.
  returned: always
  type: str
  sample: "2"
actions:
  description: What was done (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["update code", "publish version", "move alias live to 2"]
triggers:
  description: The triggers after the run.
  returned: always
  type: dict
  sample:
    http_api: a1b2c3
    rules: [shipyard-imageupload-1a2b3c4d]
    permissions: [shipyard-http-api]
    event_sources: ["arn:aws:sqs:us-east-1:123456789012:orders"]
    subscriptions: ["arn:aws:sns:us-east-1:123456789012:orders"]
    receipt_rules: [inbound/shipyard-imageupload]
"""

import base64
import hashlib
import json
import re
import urllib.parse

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shipyard.deploy.plugins.module_utils._aws import (
    AwsError,
    Clients,
    aws_argument_spec,
    call,
    error_code,
    paginate,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._common import ShipyardModuleError

PREFIX = "shipyard-"
#: The inline policy of the created role for its event sources (queues and streams).
SOURCE_POLICY = "shipyard-event-sources"


class LambdaFailure(ShipyardModuleError):
    """The module's one error: message and cause."""


# -- pure helpers --------------------------------------------------------------------------------


def code_sha256(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def short_hash(text):
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def sid_for(kind, key):
    return "%s%s-%s" % (PREFIX, kind, re.sub(r"[^A-Za-z0-9_-]", "-", key))[:100]


def rule_name(name, expr):
    return "%s%s-%s" % (PREFIX, name, short_hash(expr))


def config_changes(current, desired):
    """Configuration keys whose values differ (names only; values may be secret)."""
    cur = {
        "Runtime": current.get("Runtime"),
        "Handler": current.get("Handler"),
        "Role": current.get("Role"),
        "MemorySize": current.get("MemorySize"),
        "Timeout": current.get("Timeout"),
        "Environment": (current.get("Environment") or {}).get("Variables") or {},
    }
    want = dict(desired)
    want["Environment"] = (desired.get("Environment") or {}).get("Variables") or {}
    return sorted(k for k in want if cur.get(k) != want[k])


def alias_target(alias, new_version, canary):
    """(FunctionVersion, weights) the alias should have after publishing ``new_version``."""
    if canary and alias is not None and alias["version"] != new_version:
        return alias["version"], {new_version: round(canary / 100.0, 4)}
    return new_version, {}


def previous_version(versions, current):
    older = sorted((int(v) for v in versions if v.isdigit() and int(v) < int(current)))
    return str(older[-1]) if older else None


def ses_rule(name, entry):
    """(rule set, rule name) of an SES entry; the rule is shipyard-<name> unless named."""
    return entry["rule_set"], entry.get("rule") or "%s%s" % (PREFIX, name)


def ses_rule_arn(region, account, rule_set, rule):
    return "arn:aws:ses:%s:%s:receipt-rule-set/%s:receipt-rule/%s" % (region, account, rule_set, rule)


def parse_ses_rule_arn(arn):
    """(rule set, rule) of a receipt rule ARN, or None."""
    match = re.match(r"^arn:[^:]+:ses:[^:]*:[^:]*:receipt-rule-set/([^:]+):receipt-rule/(.+)$", arn or "")
    return (match.group(1), match.group(2)) if match else None


def ses_desired_rule(current, rule, entry, alias_arn):
    """The receipt rule after the run: the entry's settings, other actions kept, the alias's
    Lambda action last."""
    current = current or {}
    others = [a for a in current.get("Actions") or [] if not _our_lambda_action(a, alias_arn)]
    invocation = entry.get("invocation") or "Event"
    action = {"LambdaAction": {"FunctionArn": alias_arn, "InvocationType": invocation}}
    return {
        "Name": rule,
        "Enabled": bool(entry.get("enabled", True)),
        "TlsPolicy": current.get("TlsPolicy") or "Optional",
        "Recipients": sorted(entry.get("recipients") or []),
        "Actions": others + [action],
        "ScanEnabled": bool(entry.get("scan", False)),
    }


def _our_lambda_action(action, alias_arn):
    return (action.get("LambdaAction") or {}).get("FunctionArn") == alias_arn


def _norm_rule(rule):
    rule = dict(rule or {})
    rule["Recipients"] = sorted(rule.get("Recipients") or [])
    rule["Actions"] = [
        {k: dict(v, InvocationType=v.get("InvocationType") or "Event") if k == "LambdaAction" else v
         for k, v in a.items()}
        for a in rule.get("Actions") or []
    ]  # fmt: skip
    rule.setdefault("Enabled", False)
    rule.setdefault("ScanEnabled", False)
    rule.setdefault("TlsPolicy", "Optional")
    return rule


def mapping_changes(current, entry, default_batch):
    """update_event_source_mapping arguments for what differs (empty: nothing to do)."""
    want = {
        "BatchSize": int(entry.get("batch_size") or default_batch),
        "MaximumBatchingWindowInSeconds": int(entry.get("batching_window") or 0),
        "Enabled": bool(entry.get("enabled", True)),
    }
    have = {
        "BatchSize": current.get("BatchSize"),
        "MaximumBatchingWindowInSeconds": current.get("MaximumBatchingWindowInSeconds") or 0,
        "Enabled": current.get("State") not in ("Disabled", "Disabling"),
    }
    return {k: v for k, v in want.items() if have[k] != v}


def source_policy(streams, queues):
    """The inline policy that lets the function's role read its queues and streams, or None."""
    actions = {
        "sqs": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage"],
        "kinesis": ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
                    "kinesis:GetShardIterator", "kinesis:ListShards"],
        "dynamodb": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                     "dynamodb:ListStreams"],
    }  # fmt: skip
    arns = {}
    for entry in list(streams) + list(queues):
        service = entry["arn"].split(":")[2]
        arns.setdefault(service, set()).add(entry["arn"])
    statements = [
        {"Effect": "Allow", "Action": actions[service], "Resource": sorted(arns[service])}
        for service in sorted(arns)
        if service in actions
    ]
    return {"Version": "2012-10-17", "Statement": statements} if statements else None


def desired_permissions(params, alias_arn, region, account, api_id, name):
    trig = params["triggers"]
    out = {}
    for principal in trig.get("direct") or []:
        out[sid_for("direct", principal)] = {"Principal": principal}
    for entry in trig.get("s3") or []:
        out[sid_for("s3", entry["bucket"])] = {
            "Principal": "s3.amazonaws.com",
            "SourceArn": "arn:aws:s3:::%s" % entry["bucket"],
        }
    if trig.get("http"):
        out[sid_for("http", "api")] = {
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": "arn:aws:execute-api:%s:%s:%s/*" % (region, account, api_id or "*"),
        }
    for entry in trig.get("sns") or []:
        out[sid_for("sns", short_hash(entry["topic"]))] = {
            "Principal": "sns.amazonaws.com",
            "SourceArn": entry["topic"],
        }
    for entry in trig.get("ses") or []:
        rule_set, rule = ses_rule(name, entry)
        out[sid_for("ses", short_hash("%s/%s" % (rule_set, rule)))] = {
            "Principal": "ses.amazonaws.com",
            "SourceArn": ses_rule_arn(region, account, rule_set, rule),
        }
    for expr in trig.get("schedule") or []:
        rule = rule_name(name, expr)
        out[sid_for("schedule", short_hash(expr))] = {
            "Principal": "events.amazonaws.com",
            "SourceArn": "arn:aws:events:%s:%s:rule/%s" % (region, account, rule),
        }
    return out


def s3_entries(name, entries, arn):
    out = {}
    for index, entry in enumerate(entries):
        rules = []
        if entry.get("prefix"):
            rules.append({"Name": "prefix", "Value": entry["prefix"]})
        if entry.get("suffix"):
            rules.append({"Name": "suffix", "Value": entry["suffix"]})
        conf = {
            "Id": "%s%s-%d" % (PREFIX, name, index),
            "LambdaFunctionArn": arn,
            "Events": sorted(entry.get("events") or ["s3:ObjectCreated:*"]),
        }
        if rules:
            conf["Filter"] = {"Key": {"FilterRules": rules}}
        out.setdefault(entry["bucket"], []).append(conf)
    return out


def _norm_s3(confs):
    out = []
    for c in confs:
        rules = sorted(
            (r["Name"].lower(), r["Value"])
            for r in ((c.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
        )
        out.append(
            (c.get("Id"), c.get("LambdaFunctionArn"), tuple(sorted(c.get("Events") or [])), tuple(rules))
        )
    return sorted(out)


# -- the reconciler ------------------------------------------------------------------------------


class Reconciler(object):
    def __init__(self, module, clients):
        self.module = module
        self.p = module.params
        self.c = clients
        self.check = module.check_mode
        self.actions = []
        self.lam = clients("lambda")

    def all(self, client, method, key, what, **kwargs):
        """Every item of a paged call (the clients' page size: AWS's unless set for tests)."""
        return paginate(client, method, key, what, page_size=self.c.page_size, **kwargs)

    def act(self, text, fn=None, *args, **kwargs):
        self.actions.append(text)
        if not self.check and fn is not None:
            return fn(*args, **kwargs)
        return None

    # read
    def read(self):
        name = self.p["name"]
        try:
            cfg = self.lam.get_function(FunctionName=name)["Configuration"]
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise AwsError("%s: get_function failed: %s" % (name, exc), exc) from exc
        found = self.all(self.lam, "list_versions_by_function", "Versions", name, FunctionName=name)
        versions = [v for v in found if v["Version"] != "$LATEST"]
        alias = None
        try:
            a = self.lam.get_alias(FunctionName=name, Name=self.p["alias"])
            weights = ((a.get("RoutingConfig") or {}).get("AdditionalVersionWeights")) or {}
            alias = {"name": a["Name"], "version": a["FunctionVersion"], "weights": dict(weights)}
        except Exception as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise AwsError("%s: get_alias failed: %s" % (name, exc), exc) from exc
        return {"config": cfg, "versions": versions, "alias": alias}

    def role_arn(self):
        if self.p["role"]:
            return self.p["role"]
        iam = self.c("iam")
        role = "%s%s-lambda" % (PREFIX, self.p["name"])
        arn = None
        try:
            arn = iam.get_role(RoleName=role)["Role"]["Arn"]
        except Exception as exc:
            if error_code(exc) != "NoSuchEntity":
                raise AwsError("get_role %s failed: %s" % (role, exc), exc) from exc
        if arn is not None:
            self.role_policy(iam, role)
            return arn
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        created = self.act("create role %s" % role, call, iam, "create_role", role,
                           RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))  # fmt: skip
        self.role_policy(iam, role, exists=False)
        return created["Role"]["Arn"] if created else "arn:aws:iam::123456789012:role/%s" % role

    def role_policy(self, iam, role, exists=True):
        """The created role's inline policy lets Lambda read the mapped queues and streams
        (a role given with O(role) is the caller's to grant)."""
        trig = self.p["triggers"] or {}
        want = source_policy(trig.get("streams") or [], trig.get("sqs") or [])
        current = None
        if exists:
            try:
                current = iam.get_role_policy(RoleName=role, PolicyName=SOURCE_POLICY)["PolicyDocument"]
            except Exception as exc:
                if error_code(exc) != "NoSuchEntity":
                    raise AwsError("get_role_policy %s failed: %s" % (role, exc), exc) from exc
            if isinstance(current, str):
                current = json.loads(urllib.parse.unquote(current))
        if current == want:
            return
        if want is None:
            self.act("delete role policy %s" % SOURCE_POLICY, call, iam, "delete_role_policy", role,
                     RoleName=role, PolicyName=SOURCE_POLICY)  # fmt: skip
        else:
            self.act("put role policy %s" % SOURCE_POLICY, call, iam, "put_role_policy", role, RoleName=role,
                     PolicyName=SOURCE_POLICY, PolicyDocument=json.dumps(want))  # fmt: skip

    def set_alias(self, state, version, weights):
        name, alias = self.p["name"], self.p["alias"]
        routing = {"AdditionalVersionWeights": weights}
        cur = state["alias"]
        if cur is not None and cur["version"] == version and cur["weights"] == weights:
            return cur
        text = "move alias %s to %s%s" % (
            alias,
            version,
            "".join(" (+%s at %d%%)" % (v, round(w * 100)) for v, w in weights.items()),
        )
        if cur is None:
            self.act(text, call, self.lam, "create_alias", name, FunctionName=name, Name=alias,
                     FunctionVersion=version, RoutingConfig=routing)  # fmt: skip
        else:
            self.act(text, call, self.lam, "update_alias", name, FunctionName=name, Name=alias,
                     FunctionVersion=version, RoutingConfig=routing)  # fmt: skip
        return {"name": alias, "version": version, "weights": weights}

    # deploy
    def deploy(self, state):
        p, name = self.p, self.p["name"]
        with open(p["zip_file"], "rb") as fh:
            data = fh.read()
        sha = code_sha256(data)
        env = dict(p["environment"] or {})
        env.update(p["secret_environment"] or {})
        desired = {
            "Runtime": p["runtime"],
            "Handler": p["handler"],
            "Role": self.role_arn(),
            "MemorySize": p["memory"],
            "Timeout": p["timeout"],
            "Environment": {"Variables": env},
        }
        uploaded = False
        published = None
        if state is None:
            created = self.act(
                "create function %s" % name, call, self.lam, "create_function", name,
                FunctionName=name, Code={"ZipFile": data}, Publish=False, **desired,
            )  # fmt: skip
            uploaded = True
            guess = {"FunctionArn": "arn:aws:lambda:%s:123456789012:function:%s" % (self.c.region, name)}
            state = {"config": created or guess, "versions": [], "alias": None}
            changed_cfg = []
            code_changed = True
        else:
            cfg = state["config"]
            changed_cfg = config_changes(cfg, desired)
            code_changed = cfg.get("CodeSha256") != sha
            if changed_cfg:
                self.act("update configuration (%s)" % ", ".join(changed_cfg), call, self.lam,
                         "update_function_configuration", name, FunctionName=name, **desired)  # fmt: skip
            if code_changed:
                uploaded = True
                self.act("update code", call, self.lam, "update_function_code", name,
                         FunctionName=name, ZipFile=data)  # fmt: skip
        versions = [v["Version"] for v in state["versions"]]
        latest = max(versions, key=int) if versions else None
        # a deploy that died after uploading but before publishing left $LATEST ahead of every
        # version: publish then too, judged by the newest version's own code and configuration
        newest = next((v for v in state["versions"] if v["Version"] == latest), None)
        behind = newest is not None and (
            newest.get("CodeSha256") != sha or bool(config_changes(newest, desired))
        )
        if code_changed or changed_cfg or latest is None or behind:
            res = self.act("publish version", call, self.lam, "publish_version", name,
                           FunctionName=name, CodeSha256=sha)  # fmt: skip
            published = res["Version"] if res else str(int(latest or 0) + 1)
            versions.append(published)
            target = published
        else:
            target = state["alias"]["version"] if state["alias"] else latest
            if state["alias"] and state["alias"]["weights"]:
                target = list(state["alias"]["weights"])[0]
        version, weights = alias_target(state["alias"], target, p["canary"])
        if state["alias"] and not published and state["alias"]["weights"]:
            version, weights = state["alias"]["version"], state["alias"]["weights"]
        alias = self.set_alias(state, version, weights)
        fn_arn = state["config"]["FunctionArn"]
        triggers = self.triggers(fn_arn)
        return fn_arn, alias, versions, uploaded, published, triggers

    # triggers
    def triggers(self, fn_arn):
        p, name = self.p, self.p["name"]
        trig = p["triggers"] or {}
        alias_arn = "%s:%s" % (fn_arn, p["alias"])
        parts = fn_arn.split(":")
        region, account = parts[3], parts[4]
        current_perms = self.read_permissions()
        api_id = self.http(alias_arn, trig.get("http") or [], region)
        want = desired_permissions(p, alias_arn, region, account, api_id, name)
        for sid in sorted(want):
            stmt = want[sid]
            if sid in current_perms and current_perms[sid] == stmt:
                continue
            if sid in current_perms:
                self.act("remove permission %s" % sid, call, self.lam, "remove_permission", name,
                         FunctionName=name, StatementId=sid, Qualifier=p["alias"])  # fmt: skip
            kwargs = {"FunctionName": name, "StatementId": sid, "Action": "lambda:InvokeFunction",
                      "Principal": stmt["Principal"], "Qualifier": p["alias"]}  # fmt: skip
            if "SourceArn" in stmt:
                kwargs["SourceArn"] = stmt["SourceArn"]
            self.act("add permission %s" % sid, call, self.lam, "add_permission", name, **kwargs)
        old_buckets = [sid[len(PREFIX + "s3-") :] for sid in current_perms if sid.startswith(PREFIX + "s3-")]

        def dropped(kind):
            return [v.get("SourceArn") for s, v in current_perms.items()
                    if s.startswith(PREFIX + kind + "-") and s not in want]  # fmt: skip

        self.s3(alias_arn, trig.get("s3") or [], old_buckets)
        sources = self.event_sources(alias_arn, trig.get("streams") or [], trig.get("sqs") or [])
        topics = self.sns(alias_arn, [e["topic"] for e in trig.get("sns") or []], dropped("sns"))
        old_rules = [r for r in (parse_ses_rule_arn(a) for a in dropped("ses")) if r]
        receipt = self.ses(alias_arn, trig.get("ses") or [], old_rules)
        rules = self.schedules(alias_arn, trig.get("schedule") or [])
        for sid in sorted(set(current_perms) - set(want)):
            self.act("remove permission %s" % sid, call, self.lam, "remove_permission", name,
                     FunctionName=name, StatementId=sid, Qualifier=p["alias"])  # fmt: skip
        return {"http_api": api_id, "rules": rules, "permissions": sorted(want), "event_sources": sources,
                "subscriptions": topics, "receipt_rules": receipt}  # fmt: skip

    def read_permissions(self):
        try:
            policy = self.lam.get_policy(FunctionName=self.p["name"], Qualifier=self.p["alias"])
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return {}
            raise AwsError("get_policy failed: %s" % exc, exc) from exc
        doc = json.loads(policy["Policy"])
        out = {}
        for stmt in doc.get("Statement", []):
            sid = stmt.get("Sid", "")
            if not sid.startswith(PREFIX):
                continue
            principal = stmt.get("Principal")
            if isinstance(principal, dict):
                principal = principal.get("Service") or principal.get("AWS")
            if (
                isinstance(principal, str)
                and principal.startswith("arn:aws:iam::")
                and principal.endswith(":root")
            ):
                principal = principal.split(":")[4]
            entry = {"Principal": principal}
            source = ((stmt.get("Condition") or {}).get("ArnLike") or {}).get("AWS:SourceArn")
            if source:
                entry["SourceArn"] = source
            out[sid] = entry
        return out

    def s3(self, alias_arn, entries, old_buckets):
        s3 = self.c("s3")
        name = self.p["name"]
        want = s3_entries(name, entries, alias_arn)
        for bucket in sorted(set(want) | set(old_buckets)):
            conf = call(s3, "get_bucket_notification_configuration", bucket, Bucket=bucket)
            conf.pop("ResponseMetadata", None)
            lambdas = conf.get("LambdaFunctionConfigurations") or []
            ours = [c for c in lambdas if (c.get("Id") or "").startswith("%s%s-" % (PREFIX, name))]
            if _norm_s3(ours) == _norm_s3(want.get(bucket, [])):
                continue
            others = [c for c in lambdas if c not in ours]
            conf["LambdaFunctionConfigurations"] = others + want.get(bucket, [])
            self.act("set S3 notification on %s" % bucket, call, s3, "put_bucket_notification_configuration",
                     bucket, Bucket=bucket, NotificationConfiguration=conf)  # fmt: skip

    def event_sources(self, alias_arn, streams, queues):
        """Kinesis/DynamoDB stream and SQS queue mappings on the alias: created, updated in place
        (batch size, batching window, enabled), deleted when dropped."""
        found = self.all(self.lam, "list_event_source_mappings", "EventSourceMappings", "event sources",
                         FunctionName=alias_arn)  # fmt: skip
        have = {m["EventSourceArn"]: m for m in found}
        want = {}
        for e in streams:
            want[e["arn"]] = ("stream", e, 100)
        for e in queues:
            want[e["arn"]] = ("queue", e, 10)
        for arn in sorted(want):
            what, e, default_batch = want[arn]
            if arn in have:
                changes = mapping_changes(have[arn], e, default_batch)
                if changes:
                    self.act("update %s mapping %s (%s)" % (what, arn, ", ".join(sorted(changes))), call,
                             self.lam, "update_event_source_mapping", arn, UUID=have[arn]["UUID"],
                             **changes)  # fmt: skip
                continue
            kwargs = {"EventSourceArn": arn, "FunctionName": alias_arn,
                      "BatchSize": int(e.get("batch_size") or default_batch),
                      "MaximumBatchingWindowInSeconds": int(e.get("batching_window") or 0),
                      "Enabled": bool(e.get("enabled", True))}  # fmt: skip
            if what == "stream":
                kwargs["StartingPosition"] = e.get("starting_position") or "LATEST"
            self.act("map %s %s" % (what, arn), call, self.lam, "create_event_source_mapping", arn, **kwargs)
        for arn in sorted(set(have) - set(want)):
            what = "queue" if arn.split(":")[2:3] == ["sqs"] else "stream"
            self.act("unmap %s %s" % (what, arn), call, self.lam, "delete_event_source_mapping", arn,
                     UUID=have[arn]["UUID"])  # fmt: skip
        return sorted(want)

    def _subscriptions(self, sns, topic, alias_arn):
        try:
            subs = self.all(sns, "list_subscriptions_by_topic", "Subscriptions", topic, TopicArn=topic)
        except AwsError as exc:
            if error_code(exc.cause) == "NotFound":
                return None
            raise
        return [
            s["SubscriptionArn"] for s in subs
            if s.get("Protocol") == "lambda" and s.get("Endpoint") == alias_arn
            and s.get("SubscriptionArn", "").startswith("arn:")
        ]  # fmt: skip

    def sns(self, alias_arn, topics, old_topics):
        """The alias subscribed (protocol lambda) to each topic; unsubscribed from dropped ones."""
        sns = self.c("sns") if topics or old_topics else None
        for topic in sorted(set(topics)):
            subs = self._subscriptions(sns, topic, alias_arn)
            if subs is None:
                raise LambdaFailure("triggers.sns: topic %s does not exist: create it first" % topic)
            if not subs:
                self.act("subscribe to %s" % topic, call, sns, "subscribe", topic, TopicArn=topic,
                         Protocol="lambda", Endpoint=alias_arn, ReturnSubscriptionArn=True)  # fmt: skip
        for topic in sorted(set(old_topics) - set(topics)):
            for sub in self._subscriptions(sns, topic, alias_arn) or []:
                self.act("unsubscribe from %s" % topic, call, sns, "unsubscribe", topic, SubscriptionArn=sub)
        return sorted(set(topics))

    def _receipt_rule(self, ses, rule_set, rule):
        """The rule, or None when it (or its rule set) does not exist."""
        try:
            return ses.describe_receipt_rule(RuleSetName=rule_set, RuleName=rule)["Rule"]
        except Exception as exc:
            if error_code(exc) in ("RuleDoesNotExist", "RuleSetDoesNotExist"):
                return None
            raise AwsError("%s/%s: describe_receipt_rule failed: %s" % (rule_set, rule, exc), exc) from exc

    def _ensure_rule_set(self, ses, rule_set):
        try:
            ses.describe_receipt_rule_set(RuleSetName=rule_set)
        except Exception as exc:
            if error_code(exc) != "RuleSetDoesNotExist":
                raise AwsError("%s: describe_receipt_rule_set failed: %s" % (rule_set, exc), exc) from exc
            self.act("create SES rule set %s" % rule_set, call, ses, "create_receipt_rule_set", rule_set,
                     RuleSetName=rule_set)  # fmt: skip

    def ses(self, alias_arn, entries, old_rules):
        """An SES receipt rule per entry whose Lambda action invokes the alias (see DOCUMENTATION)."""
        if not entries and not old_rules:
            return []
        ses = self.c("ses")
        name = self.p["name"]
        done = []
        for entry in entries:
            rule_set, rule = ses_rule(name, entry)
            done.append("%s/%s" % (rule_set, rule))
            self._ensure_rule_set(ses, rule_set)
            current = self._receipt_rule(ses, rule_set, rule)
            desired = ses_desired_rule(current, rule, entry, alias_arn)
            if current is None:
                self.act("create SES rule %s/%s" % (rule_set, rule), call, ses, "create_receipt_rule", rule,
                         RuleSetName=rule_set, Rule=desired)  # fmt: skip
            elif _norm_rule(current) != _norm_rule(desired):
                self.act("update SES rule %s/%s" % (rule_set, rule), call, ses, "update_receipt_rule", rule,
                         RuleSetName=rule_set, Rule=desired)  # fmt: skip
            if entry.get("activate"):
                active = call(ses, "describe_active_receipt_rule_set", rule_set)
                if ((active.get("Metadata") or {}).get("Name")) != rule_set:
                    self.act("activate SES rule set %s" % rule_set, call, ses, "set_active_receipt_rule_set",
                             rule_set, RuleSetName=rule_set)  # fmt: skip
        for rule_set, rule in sorted(set(old_rules) - {ses_rule(name, e) for e in entries}):
            current = self._receipt_rule(ses, rule_set, rule)
            actions = (current or {}).get("Actions") or []
            if not any(_our_lambda_action(a, alias_arn) for a in actions):
                continue
            others = [a for a in current.get("Actions") or [] if not _our_lambda_action(a, alias_arn)]
            if others:
                self.act("remove the Lambda action of SES rule %s/%s" % (rule_set, rule), call, ses,
                         "update_receipt_rule", rule, RuleSetName=rule_set,
                         Rule=dict(current, Actions=others))  # fmt: skip
            else:
                self.act("delete SES rule %s/%s" % (rule_set, rule), call, ses, "delete_receipt_rule", rule,
                         RuleSetName=rule_set, RuleName=rule)  # fmt: skip
        return sorted(done)

    def http(self, alias_arn, routes, region):
        gw = self.c("apigatewayv2")
        api_name = "%s%s" % (PREFIX, self.p["name"])
        apis = [a for a in self.all(gw, "get_apis", "Items", api_name) if a.get("Name") == api_name]
        api = apis[0]["ApiId"] if apis else None
        if not routes:
            if api:
                self.act("delete HTTP API %s" % api_name, call, gw, "delete_api", api_name, ApiId=api)
            return None
        if api is None:
            res = self.act("create HTTP API %s" % api_name, call, gw, "create_api", api_name,
                           Name=api_name, ProtocolType="HTTP")  # fmt: skip
            if res is None:
                return "(new)"
            api = res["ApiId"]
        integrations = self.all(gw, "get_integrations", "Items", api_name, ApiId=api)
        integ = next((i["IntegrationId"] for i in integrations if i.get("IntegrationUri") == alias_arn), None)
        if integ is None:
            res = self.act("create integration", call, gw, "create_integration", api_name, ApiId=api,
                           IntegrationType="AWS_PROXY", IntegrationUri=alias_arn,
                           PayloadFormatVersion="2.0")  # fmt: skip
            integ = res["IntegrationId"] if res else "(new)"
        have = {r["RouteKey"]: r for r in self.all(gw, "get_routes", "Items", api_name, ApiId=api)}
        target = "integrations/%s" % integ
        for key in sorted(set(routes)):
            if key in have and have[key].get("Target") == target:
                continue
            if key in have:
                self.act(
                    "delete route %s" % key,
                    call,
                    gw,
                    "delete_route",
                    key,
                    ApiId=api,
                    RouteId=have[key]["RouteId"],
                )
            self.act(
                "create route %s" % key, call, gw, "create_route", key, ApiId=api, RouteKey=key, Target=target
            )
        for key in sorted(set(have) - set(routes)):
            self.act(
                "delete route %s" % key,
                call,
                gw,
                "delete_route",
                key,
                ApiId=api,
                RouteId=have[key]["RouteId"],
            )
        stages = [s["StageName"] for s in self.all(gw, "get_stages", "Items", api_name, ApiId=api)]
        if "$default" not in stages:
            self.act("create stage $default", call, gw, "create_stage", api_name, ApiId=api,
                     StageName="$default", AutoDeploy=True)  # fmt: skip
        return api

    def schedules(self, alias_arn, exprs):
        ev = self.c("events")
        prefix = "%s%s-" % (PREFIX, self.p["name"])
        have = {r["Name"]: r for r in self.all(ev, "list_rules", "Rules", "schedules", NamePrefix=prefix)}
        want = {rule_name(self.p["name"], e): e for e in exprs}
        for rule in sorted(want):
            if rule in have and have[rule].get("ScheduleExpression") == want[rule]:
                targets = self.all(ev, "list_targets_by_rule", "Targets", rule, Rule=rule)
                if any(t.get("Arn") == alias_arn for t in targets):
                    continue
            self.act("put rule %s (%s)" % (rule, want[rule]), call, ev, "put_rule", rule, Name=rule,
                     ScheduleExpression=want[rule], State="ENABLED")  # fmt: skip
            self.act("target rule %s" % rule, call, ev, "put_targets", rule, Rule=rule,
                     Targets=[{"Id": "shipyard", "Arn": alias_arn}])  # fmt: skip
        for rule in sorted(set(have) - set(want)):
            self.act(
                "remove targets of %s" % rule, call, ev, "remove_targets", rule, Rule=rule, Ids=["shipyard"]
            )
            self.act("delete rule %s" % rule, call, ev, "delete_rule", rule, Name=rule)
        return sorted(want)

    # alias-only operations
    def promote(self, state):
        alias = state["alias"]
        if alias is None:
            raise LambdaFailure("%s: no alias %s: deploy first" % (self.p["name"], self.p["alias"]))
        if not alias["weights"]:
            return alias
        return self.set_alias(state, list(alias["weights"])[0], {})

    def rollback(self, state):
        alias = state["alias"]
        if alias is None:
            raise LambdaFailure("%s: no alias %s: deploy first" % (self.p["name"], self.p["alias"]))
        if alias["weights"]:  # a canary in flight: drop it
            return self.set_alias(state, alias["version"], {})
        prev = previous_version([v["Version"] for v in state["versions"]], alias["version"])
        if prev is None:
            raise LambdaFailure(
                "%s: alias %s is at version %s and there is no earlier version to roll back to"
                % (self.p["name"], self.p["alias"], alias["version"])
            )
        return self.set_alias(state, prev, {})


def validate_params(module):
    p = module.params
    if p["operation"] == "deploy":
        for key in ("zip_file", "handler"):
            if not p[key]:
                module.fail_json(msg="%s is required with operation=deploy: give it" % key)
    if not 0 <= p["canary"] < 100:
        module.fail_json(msg="canary=%s: give a percentage from 0 to 99" % p["canary"])
    if not 1 <= p["timeout"] <= 900:
        module.fail_json(msg="timeout=%s: Lambda allows at most 900 seconds" % p["timeout"])
    for entry in (p["triggers"] or {}).get("s3") or []:
        if not entry.get("bucket"):
            module.fail_json(msg="triggers.s3: every entry needs a bucket")
    for kind, key in (("streams", "arn"), ("sqs", "arn"), ("sns", "topic"), ("ses", "rule_set")):
        for entry in (p["triggers"] or {}).get(kind) or []:
            if not entry.get(key):
                module.fail_json(msg="triggers.%s: every entry needs a %s" % (kind, key))


def main():
    trigger_spec = {
        "direct": {"type": "list", "elements": "str", "default": []},
        "s3": {"type": "list", "elements": "dict", "default": []},
        "streams": {"type": "list", "elements": "dict", "default": []},
        "sqs": {"type": "list", "elements": "dict", "default": []},
        "sns": {"type": "list", "elements": "dict", "default": []},
        "ses": {"type": "list", "elements": "dict", "default": []},
        "http": {"type": "list", "elements": "str", "default": []},
        "schedule": {"type": "list", "elements": "str", "default": []},
    }
    module = AnsibleModule(
        argument_spec=aws_argument_spec(
            name={"type": "str", "required": True},
            operation={"type": "str", "choices": ["deploy", "promote", "rollback"], "default": "deploy"},
            zip_file={"type": "path"},
            runtime={"type": "str", "default": "python3.11"},
            handler={"type": "str"},
            role={"type": "str"},
            memory={"type": "int", "default": 128},
            timeout={"type": "int", "default": 30},
            environment={"type": "dict", "default": {}},
            secret_environment={"type": "dict", "default": {}, "no_log": True},
            alias={"type": "str", "default": "live"},
            canary={"type": "int", "default": 0},
            triggers={"type": "dict", "default": {}, "options": trigger_spec},
        ),
        supports_check_mode=True,
    )
    validate_params(module)
    result = {"changed": False, "actions": [], "code_uploaded": False, "published": None, "versions": [],
              "alias": None, "function_arn": None, "triggers": {}}  # fmt: skip
    try:
        rec = Reconciler(module, Clients(module.params))
        result["actions"] = rec.actions
        state = rec.read()
        before = {"alias": state["alias"] if state else None,
                  "versions": [v["Version"] for v in state["versions"]] if state else []}  # fmt: skip
        op = module.params["operation"]
        if op == "deploy":
            arn, alias, versions, uploaded, published, triggers = rec.deploy(state)
            result.update(function_arn=arn, alias=alias, versions=versions, code_uploaded=uploaded,
                          published=published, triggers=triggers)  # fmt: skip
        else:
            if state is None:
                raise LambdaFailure("%s: no such function: deploy it first" % module.params["name"])
            alias = rec.promote(state) if op == "promote" else rec.rollback(state)
            result.update(function_arn=state["config"]["FunctionArn"], alias=alias,
                          versions=[v["Version"] for v in state["versions"]])  # fmt: skip
    except (AwsError, LambdaFailure, OSError) as exc:
        result["changed"] = bool(result["actions"])
        module.fail_json(msg=str(exc), **result)
    result["changed"] = bool(result["actions"])
    if module.check_mode:
        result["actions"] = ["would %s" % a for a in result["actions"]]
    if module._diff:
        result["diff"] = {
            "before": before,
            "after": {"alias": result["alias"], "versions": result["versions"]},
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
