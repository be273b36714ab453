"""SIGKILL of the controller while the new release is being put in place (see _interrupt.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _interrupt import kill_at_points_and_converge

from shipyard.lab import Lab, LabStatus

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_sigkill_during_the_release_copy_leaves_the_service_up_and_a_rerun_converges(
    lab: LabStatus, lab_api: Lab, tmp_path: Path
) -> None:
    kill_at_points_and_converge(
        ["during-copy"], name="relkill", base=10200, lab=lab, lab_api=lab_api, tmp=tmp_path
    )
