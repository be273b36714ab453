# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: the ami strategy's cloud steps (find, prune, launch template).

Controller-side only. The boto3 clients are passed in, so this file imports only the standard
library: the modules ami_info, ami_prune and launch_template_version use it, and shipyard's
Python API (``shipyard.strategies.ami.bake``) loads this same file - one implementation for both.
Read, plan (pure functions), apply: the plan is computed the same way in check mode.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

MANAGED = {"Name": "tag:shipyard:managed", "Values": ["true"]}
_LIVE_STATES = ["pending", "running", "stopping", "stopped"]


class AmiError(Exception):
    """A failed cloud step: message and the underlying error."""

    def __init__(self, message, cause=None):
        super(AmiError, self).__init__(message)
        self.message = message
        self.cause = cause


def page_size():
    """SHIPYARD_AWS_PAGE_SIZE as an int, or None: AWS's default page size (tests set a small one)."""
    value = os.environ.get("SHIPYARD_AWS_PAGE_SIZE") or ""
    return int(value) if value.isdigit() and int(value) > 0 else None


def all_items(client, method, key, **kwargs):
    """Every item under ``key`` of all pages of an EC2 describe call.

    A boto3 client pages with its paginator; any other client (shipyard's light EC2 client)
    with NextToken. A call naming ids (ImageIds, Versions, ...) is not given a page size: EC2
    refuses MaxResults with them.
    """
    size = page_size()
    if any(k.endswith(("Ids", "Names")) or k == "Versions" for k in kwargs):
        size = None
    elif size:
        size = max(size, 5)  # EC2's smallest MaxResults
    if getattr(client, "can_paginate", None) and client.can_paginate(method):
        config = {"PageSize": size} if size else {}
        pages = client.get_paginator(method).paginate(PaginationConfig=config, **kwargs)
        return [item for page in pages for item in page.get(key) or []]
    if size:
        kwargs["MaxResults"] = size
    items = []
    token = None
    while True:
        page = getattr(client, method)(**dict(kwargs, NextToken=token) if token else kwargs)
        items.extend(page.get(key) or [])
        token = page.get("NextToken")
        if not token:
            return items


def tags_dict(tags):
    """EC2 tag list -> dict."""
    return {t["Key"]: t["Value"] for t in tags or []}


def _age(image):
    return (image.get("CreationDate") or "", image.get("Name") or "", image["ImageId"])


def find_cached(ec2, service, bake_hash):
    """The newest available image of ``service`` tagged with ``bake_hash``, or None."""
    images = all_items(
        ec2,
        "describe_images",
        "Images",
        Owners=["self"],
        Filters=[
            MANAGED,
            {"Name": "tag:shipyard:service", "Values": [service]},
            {"Name": "tag:shipyard:bake-hash", "Values": [bake_hash]},
            {"Name": "state", "Values": ["available"]},
        ],
    )
    if not images:
        return None
    return dict(sorted(images, key=_age)[-1])


def service_images(ec2, service, version=None):
    """Every shipyard-managed image of ``service`` (optionally one version), oldest first."""
    filters = [MANAGED, {"Name": "tag:shipyard:service", "Values": [service]}]
    if version is not None:
        filters.append({"Name": "tag:shipyard:version", "Values": [version]})
    images = all_items(ec2, "describe_images", "Images", Owners=["self"], Filters=filters)
    return [dict(i) for i in sorted(images, key=_age)]


def images_in_use(ec2):
    """AMI ids a launch template version or a live instance uses."""
    used = set()
    for lt in all_items(ec2, "describe_launch_templates", "LaunchTemplates"):
        versions = all_items(
            ec2,
            "describe_launch_template_versions",
            "LaunchTemplateVersions",
            LaunchTemplateId=lt["LaunchTemplateId"],
        )
        for v in versions:
            image = (v.get("LaunchTemplateData") or {}).get("ImageId")
            if image:
                used.add(image)
    live = [{"Name": "instance-state-name", "Values": _LIVE_STATES}]
    for res in all_items(ec2, "describe_instances", "Reservations", Filters=live):
        for inst in res.get("Instances", []):
            used.add(inst["ImageId"])
    return used


def image_doc(image, used=()):
    """What shipyard reports of one image."""
    tags = tags_dict(image.get("Tags"))
    return {
        "ami_id": image["ImageId"],
        "name": image.get("Name"),
        "version": tags.get("shipyard:version"),
        "bake_hash": tags.get("shipyard:bake-hash"),
        "state": image.get("State"),
        "creation_date": image.get("CreationDate"),
        "snapshots": [
            m["Ebs"]["SnapshotId"]
            for m in image.get("BlockDeviceMappings") or []
            if (m.get("Ebs") or {}).get("SnapshotId")
        ],
        "in_use": image["ImageId"] in used,
    }


def plan_prune(images, used, keep):
    """(removed, kept) image docs: all but the ``keep`` newest, never an image in ``used``.

    ``images`` is oldest first; only available ones count; an image in use does not count
    against ``keep``.
    """
    images = [i for i in images if i.get("State") == "available"]
    candidates = [i for i in images if i["ImageId"] not in used]
    newest = {i["ImageId"] for i in candidates[len(candidates) - keep :]} if keep > 0 else set()
    removed, kept = [], []
    for image in images:
        doc = image_doc(image, used)
        doc.pop("bake_hash")
        doc.pop("state")
        doc.pop("creation_date")
        (kept if image["ImageId"] in newest or image["ImageId"] in used else removed).append(doc)
    return removed, kept


def prune(ec2, service, keep, dry_run=False):
    """Deregister all but the ``keep`` newest images of ``service`` and delete their snapshots."""
    removed, kept = plan_prune(service_images(ec2, service), images_in_use(ec2), keep)
    if not dry_run:
        for doc in removed:
            ec2.deregister_image(ImageId=doc["ami_id"])
            for snap in doc["snapshots"]:
                ec2.delete_snapshot(SnapshotId=snap)
    return {"removed": removed, "kept": kept}


def read_launch_template(ec2, name):
    """{id, default_version, latest_version, image_id (of the default version)} or None."""
    by_name = [{"Name": "launch-template-name", "Values": [name]}]
    found = all_items(ec2, "describe_launch_templates", "LaunchTemplates", Filters=by_name)
    if not found:
        return None
    lt = found[0]
    default = int(lt["DefaultVersionNumber"])
    versions = ec2.describe_launch_template_versions(
        LaunchTemplateId=lt["LaunchTemplateId"], Versions=[str(default)]
    ).get("LaunchTemplateVersions", [])
    data = (versions[0].get("LaunchTemplateData") or {}) if versions else {}
    return {
        "id": lt["LaunchTemplateId"],
        "default_version": default,
        "latest_version": int(lt["LatestVersionNumber"]),
        "image_id": data.get("ImageId"),
    }


def plan_rollout(current, ami_id):
    """``create`` (no template), ``version`` (new default version) or ``none`` (already uses it)."""
    if current is None:
        return "create"
    if current["image_id"] == ami_id:
        return "none"
    return "version"


def rollout(ec2, autoscaling, service, ami_id, launch_template, autoscaling_group=None, check=False):
    """A new launch template version with ``ami_id``, made the default; an instance refresh if asked.

    Nothing changes when the default version already uses ``ami_id``. In check mode nothing is
    changed and the versions are what would be made.
    """
    current = read_launch_template(ec2, launch_template)
    action = plan_rollout(current, ami_id)
    lt_id = current["id"] if current else None
    refresh = None
    if action == "none":
        version = current["default_version"]
    elif action == "create":
        version = 1
        if not check:
            created = ec2.create_launch_template(
                LaunchTemplateName=launch_template,
                LaunchTemplateData={"ImageId": ami_id},
                TagSpecifications=[
                    {
                        "ResourceType": "launch-template",
                        "Tags": [
                            {"Key": "shipyard:service", "Value": service},
                            {"Key": "shipyard:managed", "Value": "true"},
                        ],
                    }
                ],
            )
            lt_id = created["LaunchTemplate"]["LaunchTemplateId"]
            version = int(created["LaunchTemplate"]["LatestVersionNumber"])
    else:
        version = current["latest_version"] + 1
        if not check:
            made = ec2.create_launch_template_version(
                LaunchTemplateId=lt_id, SourceVersion="$Latest", LaunchTemplateData={"ImageId": ami_id}
            )
            version = int(made["LaunchTemplateVersion"]["VersionNumber"])
            ec2.modify_launch_template(LaunchTemplateId=lt_id, DefaultVersion=str(version))
    if action != "none" and autoscaling_group and autoscaling is not None and not check:
        try:
            refresh = autoscaling.start_instance_refresh(AutoScalingGroupName=autoscaling_group).get(
                "InstanceRefreshId"
            )
        except Exception as exc:  # botocore's ClientError and friends
            raise AmiError("instance refresh of %s failed: %s" % (autoscaling_group, exc), exc) from exc
    return {
        "changed": action != "none",
        "action": action,
        "launch_template": launch_template,
        "launch_template_id": lt_id,
        "template_version": version,
        "previous_image_id": current["image_id"] if current else None,
        "ami_id": ami_id,
        "instance_refresh": refresh,
    }
