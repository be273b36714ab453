"""Constants shared by the API and the CLI: exit codes, default paths and names."""

from __future__ import annotations

from typing import Final, Literal, get_args

#: The command did what was asked.
EXIT_OK: Final = 0
#: The operation failed on a host or in AWS.
EXIT_FAILED: Final = 1
#: Invalid input; nothing was touched.
EXIT_INVALID: Final = 2
#: A deadline passed.
EXIT_TIMEOUT: Final = 3
#: A tool, a privilege or the lab is missing.
EXIT_SETUP: Final = 4
#: Interrupted by the user (SIGINT).
EXIT_INTERRUPTED: Final = 130

#: Where releases live on a host.
HOST_ROOT: Final = "/opt/shipyard"
#: Unit names are ``<UNIT_PREFIX><service>@<port>.service``.
UNIT_PREFIX: Final = "shipyard-"
#: The collection's fully qualified name.
COLLECTION: Final = "shipyard.deploy"

#: The deployment strategies (Chris Richardson's four), named once: the spec's ``strategy``
#: field, the CLI's ``--strategy`` choices and the registry in :mod:`shipyard.strategies` all
#: read this.
StrategyName = Literal["multi", "ami", "lambda", "container"]
STRATEGIES: Final[tuple[StrategyName, ...]] = get_args(StrategyName)
