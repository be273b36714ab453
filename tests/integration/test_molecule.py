"""Molecule scenarios under extensions/molecule, on lab hosts (create/destroy through the lab)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from _root import ROOT

SCENARIOS = sorted(
    p.name for p in (ROOT / "extensions" / "molecule").iterdir() if (p / "molecule.yml").is_file()
)


@pytest.mark.lab
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    bindir = Path(sys.executable).parent
    short_home = tempfile.mkdtemp(prefix="mh", dir="/tmp")
    request.addfinalizer(lambda: shutil.rmtree(short_home, ignore_errors=True))
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "build" / "collections"),
        "ANSIBLE_NOCOLOR": "1",
        "NO_COLOR": "1",
        "MOLECULE_EPHEMERAL_DIRECTORY": str(tmp_path / "ephemeral"),
        # Molecule installs the collection under ~/.ansible/collections; a copy left there would
        # shadow the checkout for later ansible-lint and ansible-playbook runs.
        # (short: ssh's ControlPath socket lives under it and must fit a Unix socket path).
        "HOME": short_home,
    }
    proc = subprocess.run(
        [str(bindir / "molecule"), "test", "-s", scenario],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    # idempotence and verify really ran (a scenario without hosts would "pass" testing nothing)
    assert "idempotence" in output and "verify" in output
    assert "failed=0" in output and "unreachable=0" in output
