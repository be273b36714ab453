"""The local lab: booted Debian hosts (systemd-nspawn) on a bridge, plus a moto AWS emulator.

Example:
    >>> from shipyard.lab import Lab
    >>> status = Lab("dev").up(hosts=2, inventory=Path("inventories/lab/hosts.yml"))
"""

from __future__ import annotations

from shipyard.lab.lab import (
    DEFAULT_CACHE_DIR,
    DEFAULT_STATE_ROOT,
    HostStatus,
    Lab,
    LabStatus,
    list_labs,
)

__all__ = [
    "DEFAULT_CACHE_DIR",
    "DEFAULT_STATE_ROOT",
    "HostStatus",
    "Lab",
    "LabStatus",
    "list_labs",
]
