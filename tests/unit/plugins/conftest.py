"""Make this checkout importable as ansible_collections.shipyard.deploy for the plugin tests."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
_ROOT = Path(tempfile.mkdtemp(prefix="shipyard-collections-"))
(_ROOT / "ansible_collections" / "shipyard").mkdir(parents=True)
(_ROOT / "ansible_collections" / "shipyard" / "deploy").symlink_to(REPO)
sys.path.insert(0, str(_ROOT))
