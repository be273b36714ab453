"""shipyard: deploy microservices with Ansible and Packer from one service description."""

from __future__ import annotations

import logging

from shipyard.core.errors import (
    DeployTimeout,
    OperationError,
    SetupError,
    ShipyardError,
    SpecError,
)

__version__ = "0.1.0"

logging.getLogger("shipyard").addHandler(logging.NullHandler())

__all__ = [
    "DeployTimeout",
    "OperationError",
    "SetupError",
    "ShipyardError",
    "SpecError",
    "__version__",
]
