"""Fixtures for every test: the repository root (also importable as ``from _root import ROOT``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from _root import ROOT


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (the collection and the Python package)."""
    return ROOT
