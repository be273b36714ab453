"""The repository root, defined once for every test (``from _root import ROOT``).

``tests/conftest.py`` puts this directory on ``sys.path`` (pytest's default import mode
inserts a conftest's directory), so any test module, however deep, imports it.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
