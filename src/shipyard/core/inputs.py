"""The inputs every strategy checks before any host or AWS call, read in ONE place each:
the inventory (its path, its hosts and their variables), the local artifact, the secrets.

The inventory is read with the hardened YAML reader (no tags, no aliases, no duplicate keys):
the same reader the spec goes through, with a larger size limit.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.core import ansible_config, safeyaml
from shipyard.core.errors import SetupError, SpecError
from shipyard.core.fsutil import sha256_file
from shipyard.core.spec import LoadedSpec

#: The inventory used when none is given: the one `shipyard lab up` writes.
DEFAULT_INVENTORY = Path("inventories/lab/hosts.yml")
#: An inventory may be much larger than a spec.
MAX_INVENTORY_BYTES = 16 * 1024 * 1024


#: How a configured inventory was named, when it came from an Ansible config file.
_CONFIG_INVENTORY = "inventory"


def inventory_candidate(inventory: Path | str | None) -> tuple[Path, str | None]:
    """The inventory a command targets, and how it was named; it may not exist.

    In this order: ``inventory`` (``--inventory``), ``$SHIPYARD_INVENTORY``, ``$ANSIBLE_INVENTORY``
    (relative to the working directory, as Ansible takes it), the ``[defaults] inventory`` of
    the user's Ansible config file (relative to that file), else the lab's (named by None; so
    is a config file's inventory that IS the lab's, like the checkout's ansible.cfg names).
    """
    if inventory is not None:
        return Path(inventory), "--inventory"
    env = os.environ.get("SHIPYARD_INVENTORY")
    if env:
        return Path(env), "SHIPYARD_INVENTORY"
    env = os.environ.get(ansible_config.INVENTORY_ENV)
    if env:
        return Path(os.path.expandvars(env)).expanduser(), ansible_config.INVENTORY_ENV
    configured = ansible_config.configured_inventory(ansible_config.find_config())
    if configured is not None:
        path = Path(configured)
        if path.resolve() == DEFAULT_INVENTORY.resolve():
            return DEFAULT_INVENTORY, None
        return path, _CONFIG_INVENTORY
    return DEFAULT_INVENTORY, None


def describe_inventory(inventory: Path | str | None) -> str:
    """``/abs/hosts.yml (ANSIBLE_INVENTORY)``: what ``-v`` says about the inventory."""
    path, named_by = inventory_candidate(inventory)
    if named_by == _CONFIG_INVENTORY:
        named_by = f"[defaults] inventory in {ansible_config.find_config().path}"
    return f"{path.absolute()} ({named_by or 'the lab default'})"


def inventory_path(inventory: Path | str | None) -> Path:
    """The inventory to use (see :func:`inventory_candidate`); it must exist.

    Raises:
        SpecError: a named inventory (``--inventory``, an environment variable, the Ansible
            config file) does not exist, or is several sources (exit 2).
        SetupError: none was named and the lab's is missing: no lab is up (exit 4).
    """
    inv, named_by = inventory_candidate(inventory)
    where = None
    if named_by == _CONFIG_INVENTORY:
        where = str(ansible_config.find_config().path)
    if named_by in (ansible_config.INVENTORY_ENV, _CONFIG_INVENTORY) and "," in str(inv):
        raise SpecError(
            named_by,
            str(inv),
            "shipyard deploys to one inventory source: pass --inventory FILE (or name one file)",
            source=where,
        )
    if inv.exists():
        return inv
    if named_by is None:
        raise SetupError(
            f"no inventory: the lab's ({DEFAULT_INVENTORY}) is missing, so no lab is up: "
            "run `shipyard lab up`, or pass --inventory FILE"
        )
    fix = "the inventory does not exist: run `shipyard lab up` or pass --inventory FILE"
    if named_by == _CONFIG_INVENTORY:
        fix = "the inventory your Ansible config names does not exist: fix it there or pass --inventory FILE"
    raise SpecError(named_by, str(inv), fix, source=where)


@dataclass(frozen=True)
class Inventory:
    """A YAML inventory's hosts with their variables (group vars merged, host vars last)."""

    path: Path
    hosts: Mapping[str, Mapping[str, Any]]
    #: every group's vars, outermost first (for settings such as ``shipyard_registry``)
    group_vars: tuple[Mapping[str, Any], ...]

    def host(self, name: str | None) -> tuple[str, Mapping[str, Any]]:
        """``name`` (or the first host) and its variables."""
        if not self.hosts:
            raise SpecError("--inventory", str(self.path), "the inventory names no host")
        chosen = name or next(iter(self.hosts))
        if chosen not in self.hosts:
            known = ", ".join(sorted(self.hosts))
            raise SpecError("--host", chosen, f"not in {self.path}: use one of {known}")
        return chosen, self.hosts[chosen]

    def group_var(self, key: str) -> Any:
        """The first group's value of ``key`` (None when no group sets it)."""
        return next((g[key] for g in self.group_vars if key in g), None)


def read_inventory(path: Path) -> Inventory:
    """Read a YAML inventory (like the one `shipyard lab up` writes) with the hardened reader."""
    data = safeyaml.load(path, max_bytes=MAX_INVENTORY_BYTES)
    hosts: dict[str, dict[str, Any]] = {}
    groups: list[Mapping[str, Any]] = []

    def walk(group: Any, inherited: Mapping[str, Any]) -> None:
        if not isinstance(group, Mapping):
            return
        raw = group.get("vars")
        own: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        if own:
            groups.append(own)
        gvars = {**inherited, **own}
        for host, hvars in (group.get("hosts") or {}).items():
            hosts.setdefault(str(host), {**gvars, **(hvars if isinstance(hvars, Mapping) else {})})
        for child in (group.get("children") or {}).values():
            walk(child or {}, gvars)

    for group in data.values() if isinstance(data, Mapping) else []:
        walk(group or {}, {})
    return Inventory(path, hosts, tuple(groups))


def verify_artifact(spec: LoadedSpec) -> Path | None:
    """Check that a local artifact exists and matches its sha256, before any host is touched."""
    art = spec.service.artifact
    path = spec.artifact_path()
    if art is None or path is None:
        return None
    if not path.is_file():
        raise SpecError(
            "artifact.path",
            art.path,
            f"no such file ({path}): build it (make examples) or fix the path",
            source=str(spec.path),
        )
    actual = sha256_file(path)
    if actual != art.sha256:
        raise SpecError(
            "artifact.sha256",
            art.sha256,
            f"the file {path.name} has sha256 {actual}: rebuild the artifact or update the spec",
            source=str(spec.path),
        )
    return path


#: The largest URL artifact ``validate`` downloads to check its sha256.
MAX_URL_ARTIFACT = 4 * 1024**3


def verify_url_artifact(spec: LoadedSpec, *, timeout: float = 30) -> None:
    """Download a URL artifact (streamed, size-bounded) and check its sha256 (nothing is kept)."""
    art = spec.service.artifact
    if art is None or art.url is None:
        return
    digest = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(art.url, timeout=timeout) as answer:  # noqa: S310 - http(s) only (spec)
            while chunk := answer.read(1 << 20):
                size += len(chunk)
                if size > MAX_URL_ARTIFACT:
                    raise SpecError(
                        "artifact.url", art.url, "the artifact is over 4 GiB", source=str(spec.path)
                    )
                digest.update(chunk)
    except (OSError, ValueError) as exc:
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()  # it holds the response (and its socket)
        raise SpecError(
            "artifact.url",
            art.url,
            f"cannot download it ({exc}): fix the URL, or validate with --offline",
            source=str(spec.path),
        ) from None
    if digest.hexdigest() != art.sha256:
        raise SpecError(
            "artifact.sha256",
            art.sha256,
            f"the URL's artifact has sha256 {digest.hexdigest()}: update the spec or the artifact",
            source=str(spec.path),
        )


def secret_values(spec: LoadedSpec) -> dict[str, str]:
    """Every secret's value, read on the controller (for a playbook or a local invoke)."""
    return {k: v.get_secret_value() for k, v in spec.resolve_secrets().items()}


def secret_vars(spec: LoadedSpec) -> dict[str, Any]:
    """The ``shipyard_secrets`` variable of the playbooks."""
    return {"shipyard_secrets": secret_values(spec)}
