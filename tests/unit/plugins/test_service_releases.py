"""service_releases prune: a prune killed half-way never leaves a half-deleted 'complete' release."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.shipyard.deploy.plugins.modules import service_releases


def release(root: Path, name: str, activated: str) -> None:
    path = root / "hello" / "releases" / name
    path.mkdir(parents=True)
    (path / "server.py").write_text("print('hi')\n")
    manifest = {"version": name, "sha256": "a" * 64, "activated": activated}
    (path / ".shipyard-release.json").write_text(json.dumps(manifest))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for i, name in enumerate(["1.0.0", "2.0.0", "3.0.0", "4.0.0"]):
        release(tmp_path, name, f"2026-01-0{i + 1}T00:00:00Z")
    (tmp_path / "hello" / "current").symlink_to(tmp_path / "hello" / "releases" / "4.0.0")
    (tmp_path / "hello" / "previous").symlink_to(tmp_path / "hello" / "releases" / "3.0.0")
    return tmp_path


def run(root: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    args = {"service": "hello", "root": str(root), "keep": 2}
    with patch_module_args(args), pytest.raises(SystemExit):
        service_releases.main()
    return json.loads(capsys.readouterr().out)


def test_a_prune_killed_mid_delete_leaves_no_complete_looking_release(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_rmtree = shutil.rmtree

    def dies_half_way(path: str, *args: Any, **kwargs: Any) -> None:
        (Path(path) / "server.py").unlink()  # some files gone, the manifest still there ...
        raise KeyboardInterrupt  # ... and the process is gone

    monkeypatch.setattr(shutil, "rmtree", dies_half_way)
    with (
        pytest.raises(KeyboardInterrupt),
        patch_module_args({"service": "hello", "root": str(root), "keep": 2}),
    ):
        service_releases.main()
    releases = root / "hello" / "releases"
    names = sorted(p.name for p in releases.iterdir())
    # the half-deleted release is no longer under its own name: nothing can roll back to it
    assert any(n.startswith(".removing-") for n in names), names
    for name in names:
        if not name.startswith("."):
            assert (releases / name / "server.py").exists(), f"{name} is half-deleted but looks complete"
    monkeypatch.setattr(shutil, "rmtree", real_rmtree)
    run(root, capsys)
    assert sorted(p.name for p in releases.iterdir()) == ["3.0.0", "4.0.0"]  # leftovers cleaned too
    again = run(root, capsys)
    assert again["changed"] is False
