"""Fixtures for tests that need the local lab (root, systemd-nspawn).

One lab named ``pytest`` (3 hosts, moto) is shared by the whole session. Without root the
fixture FAILS with the setup message: lab tests are never skipped silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from shipyard.errors import SetupError
from shipyard.lab import Lab, LabStatus

#: Override with SHIPYARD_TEST_LAB to run several test sessions at once on one machine.
SHARED_LAB = os.environ.get("SHIPYARD_TEST_LAB", "pytest")
SHARED_HOSTS = 3


def _progress(message: str) -> None:
    print(f"[lab] {message}")  # shown with -s


@pytest.fixture(scope="session")
def lab_api() -> Lab:
    """The handle of the shared lab (for ``ssh``); use together with ``lab``."""
    return Lab(SHARED_LAB, progress=_progress)


@pytest.fixture(scope="session")
def lab(lab_api: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabStatus]:
    """The shared lab, up: 3 hosts, a moto server, an inventory in a tmp dir."""
    inventory = tmp_path_factory.mktemp("lab") / "inventory.yml"
    try:
        lab_api.down()  # a lab left behind by an interrupted session
        status = lab_api.up(SHARED_HOSTS, inventory=inventory)
    except SetupError as exc:
        pytest.fail(f"the lab cannot start: {exc}", pytrace=False)
    try:
        yield status
    finally:
        lab_api.down()


@pytest.fixture(scope="session")
def aws_endpoint(lab: LabStatus) -> str:
    """The shared lab's moto URL (``http://127.0.0.1:PORT``)."""
    assert lab.aws_endpoint is not None
    return lab.aws_endpoint
