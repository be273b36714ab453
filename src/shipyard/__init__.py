"""shipyard: deploy microservices with Ansible and Packer from one service description.

The public surface, re-exported once: the verbs (``shipyard.deploy(...)``), their results and
the errors. The verbs and results live in :mod:`shipyard.api` and are imported on first use,
so ``import shipyard`` (and the CLI's start) stays light.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import (
    DeployTimeout,
    OperationError,
    SetupError,
    ShipyardError,
    SpecError,
    SpecErrors,
)

if TYPE_CHECKING:  # the names __getattr__ hands out, for type checkers and editors
    from shipyard.api import (
        BakeResult,
        DeployResult,
        ImageResult,
        InstanceStatus,
        InvokeResult,
        LambdaResult,
        PackageResult,
        Result,
        bake,
        build,
        deploy,
        invoke,
        package,
        promote,
        prune,
        push,
        remove,
        render,
        rollback,
        rollout,
        status,
        validate,
    )

# the one version of the package and the collection: pyproject.toml reads it, galaxy.yml repeats it
__version__ = "0.1.0"

logging.getLogger("shipyard").addHandler(logging.NullHandler())

__all__ = [
    "BakeResult",
    "DeployResult",
    "DeployTimeout",
    "ImageResult",
    "InstanceStatus",
    "InvokeResult",
    "LambdaResult",
    "OperationError",
    "PackageResult",
    "Result",
    "SetupError",
    "ShipyardError",
    "SpecError",
    "SpecErrors",
    "__version__",
    "bake",
    "build",
    "deploy",
    "invoke",
    "package",
    "promote",
    "prune",
    "push",
    "remove",
    "render",
    "rollback",
    "rollout",
    "status",
    "validate",
]
#: what :func:`__getattr__` takes from :mod:`shipyard.api` (everything above but the errors)
_API = frozenset(__all__) - set(globals())


def __getattr__(name: str) -> Any:
    """The API's verbs and results, imported when first asked for."""
    if name in _API:
        return getattr(importlib.import_module("shipyard.api"), name)
    raise AttributeError(f"module 'shipyard' has no attribute {name!r}")
