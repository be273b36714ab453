"""Fixtures for tests that need the local lab (root, systemd-nspawn).

One lab named ``pytest`` (3 hosts, moto) is shared by the whole session. Without root the
fixture FAILS with the setup message: lab tests are never skipped silently.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from shipyard.core.errors import SetupError
from shipyard.core.progress import ProgressEvent
from shipyard.lab import Lab, LabStatus

#: Override with SHIPYARD_TEST_LAB to run several test sessions at once on one machine.
SHARED_LAB = os.environ.get("SHIPYARD_TEST_LAB", "pytest")
SHARED_HOSTS = 3


def _progress(event: ProgressEvent) -> None:
    print(f"[lab] {event.message}")  # shown with -s


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


@pytest.fixture
def aws(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[str], Any]:
    """boto3 clients for the lab's moto (``aws("lambda")``), with test credentials in the
    environment, no profile or endpoint override from the caller, and a per-test work dir."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SHIPYARD_WORK_DIR": str(tmp_path / "work"),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return lambda service: boto3.client(service, endpoint_url=aws_endpoint, region_name="us-east-1")
