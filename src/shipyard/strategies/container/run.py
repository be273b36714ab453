"""The container strategy's run side: the multi engine, each instance a runc container.

Deploy builds (cached, reproducible) and pushes the image, then runs ``playbooks/container.yml``
on the multi engine with the image the hosts pull by digest; rollback, remove and status are
the multi strategy's, unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipyard.core.progress import ProgressCallback
from shipyard.core.spec import LoadedSpec
from shipyard.strategies import multi
from shipyard.strategies._options import Options
from shipyard.strategies.container import image


def container_vars(
    spec: LoadedSpec, inventory: Path, *, check: bool, progress: ProgressCallback | None
) -> dict[str, Any]:
    """The container strategy's extra variables: its settings and the image the hosts pull.

    The image is built and pushed to the registry (the spec's, else the inventory's
    ``shipyard_registry``); the hosts pull it by digest. In check mode it is only built: the
    digest is known, nothing is pushed.
    """
    registry, lab = image.resolve_registry(spec, inventory)
    if check:
        built = image.build(spec, progress=progress)
        ref, digest = f"{registry}/{built.image}", built.digest
    else:
        pushed = image.push(spec, inventory=inventory, progress=progress)
        ref, digest = pushed.image, pushed.digest
    section = spec.service.container
    return {
        "shipyard_container": section.model_dump() if section is not None else {"read_only": True},
        "shipyard_image": ref,
        "shipyard_image_digest": digest,
        "shipyard_image_tls_verify": not lab,
    }


def deploy(spec: LoadedSpec, opts: Options) -> multi.DeployResult:
    """Build and push the image, then roll the containers on the multi engine."""
    prepared = multi.prepare(spec, opts)
    extra = container_vars(spec, prepared[0], check=opts.check, progress=opts.progress)
    return multi.deploy(spec, opts, playbook="container", extra=extra, prepared=prepared)
