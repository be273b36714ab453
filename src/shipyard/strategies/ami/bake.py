"""The ami strategy's cloud steps and bake hash, in plain Python (boto3).

The bake hash covers content, not names: the artifact's sha256, the spec fields that reach the
image, the Packer template, the bake playbook, the roles and the modules they run, and the base
AMI id. An available image tagged with the same hash is reused without starting Packer.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import json
import logging
import random
import shlex
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from shipyard.core import ansible_vars, aws, collection
from shipyard.core.errors import OperationError, SetupError, SpecError
from shipyard.core.inputs import inventory_path, read_inventory, verify_artifact
from shipyard.core.progress import ProgressCallback, say
from shipyard.core.results import Result
from shipyard.core.runner import tool_path
from shipyard.core.spec import VERSION_RE, AmiSection, LoadedSpec, as_loaded
from shipyard.strategies.ami import packer

log = logging.getLogger("shipyard.strategies.ami.bake")

#: Spec fields that do not reach the image (how the rollout goes, where the artifact lies).
_NOT_BAKED = ("rollout", "secret_names")


def collection_root() -> Path:
    """The directory holding packer/, playbooks/, roles/ and plugins/."""
    return collection.collection_dir().resolve()


def image_fields(spec: LoadedSpec) -> dict[str, Any]:
    """The spec's fields that reach the image (hashed), without local paths."""
    doc = spec.to_ansible()
    for key in _NOT_BAKED:
        doc.pop(key, None)
    if doc.get("artifact"):
        doc["artifact"] = {k: v for k, v in doc["artifact"].items() if k != "path"}
    return doc


def _tree_files(root: Path, parts: tuple[str, ...]) -> list[Path]:
    out: list[Path] = []
    for part in parts:
        path = root / part
        if path.is_file():
            out.append(path)
        elif path.is_dir():
            out.extend(
                p
                for p in path.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
            )
    return sorted(out)


#: What of the collection reaches the image: the template, the bake playbook, roles, modules.
HASHED_PATHS = ("packer", "playbooks/bake.yml", "roles", "plugins/modules", "plugins/module_utils")


def bake_hash(spec: LoadedSpec, base_ami: str, *, root: Path | None = None) -> str:
    """sha256 of everything that reaches the image (see the module docstring)."""
    root = root or collection_root()
    digest = hashlib.sha256()
    art = spec.service.artifact
    head = {"artifact_sha256": art.sha256 if art else None, "base_ami": base_ami, "spec": image_fields(spec)}
    digest.update(json.dumps(head, sort_keys=True).encode())
    for path in _tree_files(root, HASHED_PATHS):
        digest.update(b"\0" + str(path.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


# -- AWS -------------------------------------------------------------------------------------------


def tags_dict(tags: list[Mapping[str, str]] | None) -> dict[str, str]:
    """EC2 tag list -> dict."""
    return {t["Key"]: t["Value"] for t in tags or []}


def resolve_base_ami(ec2: Any, ami: AmiSection, source: str | None = None) -> str:
    """The base AMI id: ``ami.base_ami`` if it exists, else the newest image matching ``base_filter``."""
    if ami.base_ami is not None:
        images = ec2.describe_images(ImageIds=[ami.base_ami]).get("Images", [])
        if not images:
            raise SpecError("ami.base_ami", ami.base_ami, "no such image in this region", source=source)
        return ami.base_ami
    assert ami.base_filter is not None
    found: list[dict[str, Any]] = _ami().all_items(  # every page: public images are many
        ec2,
        "describe_images",
        "Images",
        Owners=list(ami.base_filter.owners),
        Filters=[
            {"Name": "name", "Values": [ami.base_filter.name]},
            {"Name": "state", "Values": ["available"]},
        ],
    )
    if not found:
        raise SpecError(
            "ami.base_filter.name",
            ami.base_filter.name,
            "no available image matches: fix the filter",
            source=source,
        )
    found.sort(key=lambda i: (i.get("CreationDate", ""), i.get("Name", ""), i["ImageId"]))
    return str(found[-1]["ImageId"])


def _ami() -> Any:
    """plugins/module_utils/_ami.py of the collection: the cloud steps the modules run too."""
    return _load_ami(str(collection_root() / "plugins" / "module_utils" / "_ami.py"))


@functools.cache
def _load_ami(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("shipyard._collection_ami", path)
    if spec is None or spec.loader is None:
        raise SetupError(f"cannot load {path}: is the shipyard.deploy collection complete?")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def find_cached(ec2: Any, service: str, bake_hash: str) -> dict[str, Any] | None:
    """The newest available image of ``service`` tagged with ``bake_hash``, if any."""
    found: dict[str, Any] | None = _ami().find_cached(ec2, service, bake_hash)
    return found


def service_images(ec2: Any, service: str, *, version: str | None = None) -> list[dict[str, Any]]:
    """Every shipyard-managed image of ``service`` (optionally one version), oldest first."""
    images: list[dict[str, Any]] = _ami().service_images(ec2, service, version=version)
    return images


def ensure_key_pair(ec2: Any, public_key: str, name: str) -> str:
    """Import ``public_key`` as the EC2 key pair ``name`` (unless it exists) and return the name."""
    existing = ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [name]}]).get("KeyPairs", [])
    if not existing:
        ec2.import_key_pair(KeyName=name, PublicKeyMaterial=public_key.encode())
    return name


def leftovers(ec2: Any, bake_id: str, names: Mapping[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Builder resources of bake ``bake_id`` still in EC2: instances, security groups, key pairs."""
    names = names or {}
    found: dict[str, list[str]] = {"instances": [], "security_groups": [], "key_pairs": []}
    for res in ec2.describe_instances(Filters=[{"Name": "tag:shipyard:bake-id", "Values": [bake_id]}])[
        "Reservations"
    ]:
        for inst in res["Instances"]:
            if inst["State"]["Name"] not in ("terminated", "shutting-down"):
                found["instances"].append(inst["InstanceId"])
    for group in names.get("security_groups", []):
        by = "group-id" if group.startswith("sg-") else "group-name"
        got = ec2.describe_security_groups(Filters=[{"Name": by, "Values": [group]}])["SecurityGroups"]
        found["security_groups"] += [g["GroupId"] for g in got]
    for inst_id in names.get("instances", []):
        if inst_id in found["instances"]:
            continue
        for res in ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": [inst_id]}])[
            "Reservations"
        ]:
            found["instances"] += [
                i["InstanceId"]
                for i in res["Instances"]
                if i["State"]["Name"] not in ("terminated", "shutting-down")
            ]
    for key in names.get("key_pairs", []):
        got = ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [key]}])["KeyPairs"]
        found["key_pairs"] += [k["KeyName"] for k in got]
    return found


def remove_leftovers(ec2: Any, found: Mapping[str, list[str]]) -> None:
    """Terminate/delete what :func:`leftovers` found."""
    if found.get("instances"):
        ec2.terminate_instances(InstanceIds=list(found["instances"]))
    for group in found.get("security_groups", []):
        ec2.delete_security_group(GroupId=group)
    for key in found.get("key_pairs", []):
        ec2.delete_key_pair(KeyName=key)


def images_in_use(ec2: Any) -> set[str]:
    """AMI ids a launch template version or a live instance uses."""
    used: set[str] = _ami().images_in_use(ec2)
    return used


def prune(ec2: Any, service: str, keep: int, *, dry_run: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Deregister all but the ``keep`` newest images of ``service`` and delete their snapshots.

    An image a launch template version or a live instance uses is never removed (and does not
    count against ``keep``).
    """
    done: dict[str, list[dict[str, Any]]] = _ami().prune(ec2, service, keep, dry_run=dry_run)
    return done


def rollout(
    ec2: Any,
    autoscaling: Any | None,
    *,
    service: str,
    ami_id: str,
    launch_template: str,
    autoscaling_group: str | None,
) -> dict[str, Any]:
    """A new launch template version with ``ami_id``, made the default; an instance refresh if asked.

    When the default version already uses ``ami_id`` nothing changes (and no refresh starts).
    """
    ami = _ami()
    try:
        done = ami.rollout(
            ec2,
            autoscaling,
            service=service,
            ami_id=ami_id,
            launch_template=launch_template,
            autoscaling_group=autoscaling_group,
        )
    except ami.AmiError as exc:
        raise OperationError(exc.message) from exc
    keys = ("launch_template", "launch_template_id", "template_version", "ami_id", "instance_refresh")
    return {key: done[key] for key in keys}


# -- the verbs (shipyard.api.bake / prune / rollout call these) ----------------------------------


@dataclass(frozen=True)
class BakeResult(Result):
    """One baked (or reused) image."""

    kind: ClassVar[str] = "bake"

    service: str
    version: str
    ami_id: str
    region: str
    name: str
    tags: Mapping[str, str]
    cached: bool
    bake_hash: str
    base_ami: str
    duration: float
    bake_id: str | None = None
    ok: bool = True

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        doc = dataclasses.asdict(self)
        doc["tags"] = dict(self.tags)
        return doc


@dataclass(frozen=True)
class LabHost:
    """The host Packer's communicator and Ansible provision (a lab host, or any SSH host).

    ``known_hosts`` is the file holding its host key (the lab's known_hosts for a lab host);
    None means ssh's default (``~/.ssh/known_hosts``). Ansible refuses any other key.
    """

    name: str
    address: str
    user: str
    key_file: Path
    known_hosts: Path | None = None


#: What ssh splits on or a quoted ``-e ansible_ssh_common_args='...'`` cannot hold.
_BAD_PATH_CHARS = frozenset(" \t\n\r'\"\\")


def _known_hosts_of(hvars: Mapping[str, Any], name: str) -> Path | None:
    """The ``UserKnownHostsFile`` the inventory's ssh args give a host (the last one wins).

    Raises:
        SpecError: the inventory turns host key checking off for it, or names a file that
            cannot be passed on (spaces, quotes) or lists several.
    """
    found: Path | None = None
    checking = hvars.get("ansible_host_key_checking", hvars.get("ansible_ssh_host_key_checking"))
    if checking is not None and str(checking).lower() in ("false", "no", "0", "off"):
        raise SpecError(
            "--host", name, "the inventory turns host key checking off for it: bakes check host keys"
        )
    for var in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        words = shlex.split(str(hvars.get(var) or ""))
        options = [w[2:] if w.startswith("-o") and len(w) > 2 else w for w in words if w != "-o"]
        for opt in options:
            key, _, value = opt.partition("=")
            if key.lower() == "stricthostkeychecking" and value.lower() in ("no", "off"):
                raise SpecError(
                    "--host", name, f"the inventory's {var} turn host key checking off: bakes check host keys"
                )
            if key.lower() == "userknownhostsfile":
                if not value or any(c in _BAD_PATH_CHARS for c in value):
                    raise SpecError(
                        "--host", name, f"{var} names a UserKnownHostsFile a bake cannot pass on: {value!r}"
                    )
                found = Path(value)
    if found is not None and str(found) == "/dev/null":
        raise SpecError(
            "--host", name, "the inventory trusts no known_hosts (/dev/null): bakes check host keys"
        )
    return found


def inventory_host(inventory: Path, name: str | None) -> LabHost:
    """Find ``name`` (or the first host) in a YAML inventory like the one `shipyard lab up` writes."""
    chosen, hv = read_inventory(inventory).host(name)
    key = hv.get("ansible_ssh_private_key_file")
    if not key:
        raise SpecError("--host", chosen, "the inventory gives no ansible_ssh_private_key_file for it")
    return LabHost(
        chosen,
        str(hv.get("ansible_host", chosen)),
        str(hv.get("ansible_user", "root")),
        Path(key),
        _known_hosts_of(hv, chosen),
    )


def _known_hosts_var(host: LabHost) -> str:
    """The template's known_hosts_file: the host's own file, else ssh's default."""
    if host.known_hosts is None:
        return "~/.ssh/known_hosts"
    path = str(host.known_hosts)
    if not path or any(c in _BAD_PATH_CHARS for c in path):
        raise SpecError(
            "--host", host.name, f"a known_hosts path without spaces or quotes is needed: {path!r}"
        )
    return path


def _public_key(key_file: Path) -> str:
    pub = Path(str(key_file) + ".pub")
    if pub.is_file():
        return pub.read_text(encoding="utf-8").strip()
    proc = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(key_file)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SetupError(f"cannot read the public key of {key_file}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def _spec(spec: LoadedSpec | Path | str) -> tuple[LoadedSpec, AmiSection]:
    loaded = as_loaded(spec)
    if loaded.service.strategy != "ami" or loaded.service.ami is None:
        raise SpecError(
            "strategy",
            loaded.service.strategy,
            "bake, prune and rollout need strategy: ami and an ami: section",
            source=str(loaded.path),
        )
    verify_artifact(loaded)
    return loaded, loaded.service.ami


def _image_result(
    loaded: LoadedSpec, image: Mapping[str, Any], region: str, *, cached: bool, **kw: Any
) -> BakeResult:
    tags = tags_dict(image.get("Tags"))
    return BakeResult(
        service=loaded.service.name,
        version=loaded.service.version,
        ami_id=str(image["ImageId"]),
        region=region,
        name=str(image.get("Name", "")),
        tags=tags,
        cached=cached,
        bake_hash=tags.get("shipyard:bake-hash", ""),
        base_ami=tags.get("shipyard:base-ami", ""),
        **kw,
    )


def run_bake(
    spec: LoadedSpec | Path | str,
    *,
    endpoint_url: str | None = None,
    inventory: Path | None = None,
    host: str | None = None,
    ssh_host: LabHost | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
    timeout: float | None = 1800,
) -> BakeResult:
    """Bake SPEC's image (or return the cached one): see :func:`shipyard.api.bake`."""
    started = time.monotonic()
    loaded, ami = _spec(spec)
    region = ami.regions[0]
    settings = aws.resolve(endpoint_url, region=region)
    quick = QuickEc2(settings)
    base = resolve_base_ami(quick, ami, source=str(loaded.path))
    digest = bake_hash(loaded, base)
    if not force:
        image = find_cached(quick, loaded.service.name, digest)
        if image is not None:
            say(progress, f"reused {image['ImageId']} (bake hash {digest[:12]})")
            return _image_result(
                loaded, image, region, cached=True, duration=round(time.monotonic() - started, 3)
            )
    if ssh_host is None:
        ssh_host = inventory_host(inventory_path(inventory), host)
    root = collection_root()
    ec2 = settings.client("ec2")
    bake_id = uuid.uuid4().hex[:12]
    keypair = ensure_key_pair(ec2, _public_key(ssh_host.key_file), f"shipyard-bake-{bake_id}")
    endpoint = settings.endpoint_url or ""
    with tempfile.TemporaryDirectory(prefix="shipyard-bake-") as tmp:
        vars_file = Path(tmp) / "vars.yml"
        doc = {
            "shipyard_service": loaded.to_ansible(),
            "shipyard_release": loaded.service.version,
            "shipyard_bake": True,
        }
        ansible_vars.write(vars_file, doc, mode=0o600)  # data, never templated (!unsafe)
        variables: dict[str, str | int] = {
            "service": loaded.service.name,
            "version": loaded.service.version,
            "artifact_sha256": loaded.service.artifact.sha256 if loaded.service.artifact else "",
            "bake_hash": digest,
            "bake_id": bake_id,
            "timestamp": time.strftime("%Y%m%d%H%M%S", time.gmtime()),
            "base_ami": base,
            "region": region,
            "endpoint_ec2": endpoint,
            "instance_type": ami.instance_type,
            "ssh_username": ssh_host.user,
            "ssh_host": ssh_host.address,
            "ssh_keypair_name": keypair,
            "ssh_private_key_file": str(ssh_host.key_file),
            "known_hosts_file": _known_hosts_var(ssh_host),
            "ansible_playbook": str(tool_path("ansible-playbook")),
            "playbook_file": str(root / "playbooks" / "bake.yml"),
            "vars_file": str(vars_file),
            "collections_path": str(collection.collections_path()),
            "manifest_file": str(Path(tmp) / "manifest.json"),
        }
        env = settings.env()
        template = collection.packer_dir()
        packer.validate(template, variables, env=env)
        try:
            out = packer.build(
                template, variables, env=env, progress=progress, timeout=timeout, cwd=Path(tmp)
            )
        except BaseException as exc:
            _cleanup(ec2, bake_id, getattr(exc, "resources", None), progress)
            raise
        finally:
            ec2.delete_key_pair(KeyName=keypair)  # imported for this bake only
    art = next((a for a in out.artifacts if a.region == region), out.artifacts[0])
    images = ec2.describe_images(ImageIds=[art.ami_id]).get("Images", [])
    if not images:
        raise OperationError(f"packer reported {art.ami_id} but the image does not exist in {region}")
    return _image_result(
        loaded,
        images[0],
        art.region,
        cached=False,
        duration=round(time.monotonic() - started, 3),
        bake_id=bake_id,
    )


def _cleanup(
    ec2: Any, bake_id: str, names: Mapping[str, list[str]] | None, progress: ProgressCallback | None
) -> dict[str, list[str]]:
    """Remove what a failed or interrupted bake left in EC2 (Packer usually cleans up itself)."""
    try:
        found = leftovers(ec2, bake_id, names)
        if any(found.values()):
            say(progress, f"removing builder leftovers of bake {bake_id}: {found}")
            remove_leftovers(ec2, found)
        return found
    except Exception as exc:  # noqa: BLE001 - cleanup must not hide the bake's own error
        log.warning("cleanup of bake %s failed: %s", bake_id, exc)
        return {}


def run_prune(
    spec: LoadedSpec | Path | str,
    *,
    keep: int | None = None,
    dry_run: bool = False,
    endpoint_url: str | None = None,
) -> dict[str, Any]:
    """See :func:`shipyard.api.prune`."""
    loaded = as_loaded(spec)
    ami = loaded.service.ami
    if ami is None:
        raise SpecError("ami", None, "prune needs an ami: section", source=str(loaded.path))
    if keep is not None and keep < 1:
        raise SpecError("--keep", keep, "keep at least one image")
    keep = ami.keep if keep is None else keep
    result: dict[str, Any] = {"service": loaded.service.name, "keep": keep, "dry_run": dry_run, "regions": {}}
    settings = aws.resolve(endpoint_url)
    for region in ami.regions:
        ec2 = settings.client("ec2", region=region)
        result["regions"][region] = prune(ec2, loaded.service.name, keep, dry_run=dry_run)
    return result


def run_rollout(
    spec: LoadedSpec | Path | str, *, to: str | None = None, endpoint_url: str | None = None
) -> dict[str, Any]:
    """See :func:`shipyard.api.rollout`."""
    loaded = as_loaded(spec)
    ami = loaded.service.ami
    if ami is None:
        raise SpecError("ami", None, "rollout needs an ami: section", source=str(loaded.path))
    if to is not None and not VERSION_RE.match(to):
        raise SpecError("--to", to, "give a version that has a baked image")
    version = to or loaded.service.version
    region = ami.regions[0]
    settings = aws.resolve(endpoint_url, region=region)
    ec2 = settings.client("ec2")
    images = [
        i for i in service_images(ec2, loaded.service.name, version=version) if i.get("State") == "available"
    ]
    if not images:
        raise OperationError(
            f"no available image of {loaded.service.name} {version} in {region}: run `shipyard bake` first"
        )
    asg = settings.client("autoscaling") if ami.autoscaling_group else None
    done = rollout(
        ec2,
        asg,
        service=loaded.service.name,
        ami_id=str(images[-1]["ImageId"]),
        launch_template=ami.launch_template or f"shipyard-{loaded.service.name}",
        autoscaling_group=ami.autoscaling_group,
    )
    return {"service": loaded.service.name, "version": version, "region": region, **done}


# -- a light EC2 DescribeImages client for the cache check ----------------------------------------
#
# boto3's EC2 client takes ~0.7 s to build (its service model is large); the cache check must
# answer in well under a second and 1.5 s end to end, so it signs the one Query API call itself.


class QuickEc2:
    """Just ``describe_images`` (Owners, ImageIds, Filters, paging) over the EC2 Query API,
    SigV4-signed, verified with $AWS_CA_BUNDLE when set, throttling retried with backoff."""

    #: attempts of a throttled call (HTTP 503 / RequestLimitExceeded), 0.2 s doubling between
    ATTEMPTS = 5

    def __init__(self, settings: aws.AwsSettings, *, sleep: Any = time.sleep) -> None:
        self.region = settings.region
        endpoint = settings.endpoint_url or f"https://ec2.{settings.region}.amazonaws.com"
        self.endpoint = endpoint.rstrip("/") + "/"
        settings.verify()  # a bad AWS_CA_BUNDLE: a SpecError naming it, also for an http:// emulator
        # TLS verified with $AWS_CA_BUNDLE or the system's CAs (loaded only for https)
        self.ssl_context = settings.ssl_context() if self.endpoint.startswith("https://") else None
        settings.require_credentials()  # a SetupError naming the fix, not botocore's traceback
        self.credentials: Any = settings.credentials()
        self._sleep = sleep

    def describe_images(
        self,
        *,
        Owners: list[str] | None = None,
        ImageIds: list[str] | None = None,
        Filters: list[dict[str, Any]] | None = None,
        MaxResults: int | None = None,
        NextToken: str | None = None,
    ) -> dict[str, Any]:
        """The subset of boto3's answer shipyard reads: ImageId, Name, CreationDate, State, Tags,
        and NextToken when there are more pages (``_ami.all_items`` reads them all).

        The arguments have boto3's names, so this and a boto3 client are interchangeable here.
        """
        params: dict[str, str] = {"Action": "DescribeImages", "Version": "2016-11-15"}
        for i, owner in enumerate(Owners or [], 1):
            params[f"Owner.{i}"] = owner
        for i, image_id in enumerate(ImageIds or [], 1):
            params[f"ImageId.{i}"] = image_id
        for i, flt in enumerate(Filters or [], 1):
            params[f"Filter.{i}.Name"] = flt["Name"]
            for j, value in enumerate(flt["Values"], 1):
                params[f"Filter.{i}.Value.{j}"] = value
        if MaxResults is not None:
            params["MaxResults"] = str(MaxResults)
        if NextToken:
            params["NextToken"] = NextToken
        if not self.endpoint.startswith(("http://", "https://")):
            raise SpecError("--endpoint-url", self.endpoint, "use an http:// or https:// URL")
        root = ET.fromstring(self._post(params))  # noqa: S314 - the EC2 endpoint's answer

        def local(tag: str) -> str:
            return tag.rsplit("}", 1)[-1]

        images: list[dict[str, Any]] = []
        for node in root.iter():
            if local(node.tag) != "imagesSet":
                continue
            for item in node:
                tags: list[dict[str, str]] = []
                image: dict[str, Any] = {"Tags": tags}
                for child in item:
                    name = local(child.tag)
                    if name == "imageId":
                        image["ImageId"] = child.text
                    elif name == "name":
                        image["Name"] = child.text
                    elif name == "creationDate":
                        image["CreationDate"] = child.text
                    elif name == "imageState":
                        image["State"] = child.text
                    elif name == "tagSet":
                        for tag in child:
                            kv = {local(c.tag): c.text or "" for c in tag}
                            tags.append({"Key": kv.get("key", ""), "Value": kv.get("value", "")})
                images.append(image)
            break
        token = next((n.text for n in root if local(n.tag) == "nextToken" and n.text), None)
        return {"Images": images, "NextToken": token} if token else {"Images": images}

    def _post(self, params: dict[str, str]) -> bytes:
        """POST one signed Query API call; a throttled one (503) is retried with backoff."""
        from botocore.auth import SigV4Auth  # noqa: PLC0415 - botocore only when AWS is called
        from botocore.awsrequest import AWSRequest  # noqa: PLC0415 - (the cache check stays fast)

        body = urllib.parse.urlencode(params)
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        for attempt in range(self.ATTEMPTS):
            request = AWSRequest(method="POST", url=self.endpoint, data=body, headers=headers)
            SigV4Auth(self.credentials, "ec2", self.region).add_auth(request)  # signed per attempt
            http = urllib.request.Request(  # noqa: S310 - scheme checked by the caller
                self.endpoint, data=body.encode(), headers=dict(request.headers.items()), method="POST"
            )
            try:
                with urllib.request.urlopen(  # noqa: S310 - http(s) endpoint
                    http, timeout=30, context=self.ssl_context
                ) as answer:
                    data: bytes = answer.read()
                    return data
            except urllib.error.HTTPError as exc:
                text = exc.read().decode("utf-8", "replace")
                throttled = exc.code == 503 or "RequestLimitExceeded" in text or "Throttling" in text
                if not throttled or attempt == self.ATTEMPTS - 1:
                    raise OperationError(
                        f"EC2 {params['Action']} at {self.endpoint} failed: {exc} {text[:300]}"
                    ) from exc
                self._sleep(0.2 * 2**attempt * (1 + random.random()))  # noqa: S311 - jitter only
            except OSError as exc:
                raise OperationError(f"EC2 {params['Action']} at {self.endpoint} failed: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
