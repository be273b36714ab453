"""SIGKILL of the controller right after the ``current`` switch (see _interrupt.py).

The host-side converge dies with its controller at that point (see _interrupt.py); the host
rolling after it was never touched, so the rerun changes something once and nothing the time
after.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _interrupt import kill_at_points_and_converge

from shipyard.lab import Lab, LabStatus

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_sigkill_right_after_the_switch_leaves_the_service_up_and_a_rerun_converges(
    lab: LabStatus, lab_api: Lab, tmp_path: Path
) -> None:
    kill_at_points_and_converge(
        ["after-switch"], name="relkil2", base=10220, lab=lab, lab_api=lab_api, tmp=tmp_path
    )
