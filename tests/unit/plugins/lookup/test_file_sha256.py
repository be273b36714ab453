"""file_sha256 lookup: the controller-side artifact check without a module process."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ansible_collections.shipyard.deploy.plugins.lookup.file_sha256 import LookupModule, file_sha256


def test_digest_of_a_file_and_empty_for_a_missing_one_or_a_directory(tmp_path: Path) -> None:
    data = b"x" * (3 << 20)  # more than one read block
    (tmp_path / "a.tar").write_bytes(data)
    assert file_sha256(str(tmp_path / "a.tar")) == hashlib.sha256(data).hexdigest()
    assert file_sha256(str(tmp_path / "missing.tar")) == ""
    assert file_sha256(str(tmp_path)) == ""


def test_the_lookup_returns_one_digest_per_term(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    got = LookupModule().run([str(tmp_path / "a"), str(tmp_path / "b")], variables={})
    assert got == [hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest()]
