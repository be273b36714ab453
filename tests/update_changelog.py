#!/usr/bin/env python3
"""Write CHANGELOG.rst and changelogs/changelog.yaml from the fragments, or check they are current.

The collection's version (galaxy.yml) is one release that collects every fragment in
changelogs/fragments (config keep_fragments: the fragments are the source and stay). Each run
redoes that release with antsibull-changelog: new, changed and removed fragments and plugins
are taken into account, the release date already recorded is kept.

    python tests/update_changelog.py          # make changelog: rewrite both files
    python tests/update_changelog.py --check  # make lint: exit 1 if they are not what the fragments give
"""

from __future__ import annotations

import datetime
import difflib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from _root import ROOT

BIN = Path(sys.executable).parent
OUTPUTS = ("CHANGELOG.rst", "changelogs/changelog.yaml")
# what antsibull-changelog reads: the collection's metadata, its plugins and roles, the fragments
INPUTS = ("galaxy.yml", "meta", "plugins", "roles", "playbooks", "changelogs", *OUTPUTS)


def version() -> str:
    return str(yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))["version"])


def release_date(root: Path, release: str) -> str:
    """The date recorded for ``release``, today when it has none yet."""
    changes = root / "changelogs" / "changelog.yaml"
    if changes.is_file():
        recorded = ((yaml.safe_load(changes.read_text(encoding="utf-8")) or {}).get("releases") or {}).get(
            release
        )
        if recorded and recorded.get("release_date"):
            return str(recorded["release_date"])
    return datetime.date.today().isoformat()


def regenerate(root: Path) -> None:
    release = version()
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", ANSIBLE_NOCOLOR="1")
    subprocess.run(
        [
            str(BIN / "antsibull-changelog"),
            "release",
            "--version",
            release,
            "--date",
            release_date(root, release),
            "--update-existing",
            "--refresh",
            "--reload-plugins",
        ],
        cwd=root,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def check() -> int:
    with tempfile.TemporaryDirectory(prefix="shipyard-changelog-") as tmp:
        copy = Path(tmp) / "collection"
        copy.mkdir()
        for name in INPUTS:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, copy / name, symlinks=True)
            elif source.is_file():
                (copy / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, copy / name)
        regenerate(copy)
        stale = []
        for name in OUTPUTS:
            have = (ROOT / name).read_text(encoding="utf-8").splitlines() if (ROOT / name).is_file() else []
            want = (copy / name).read_text(encoding="utf-8").splitlines()
            if have != want:
                stale.append(name)
                sys.stderr.writelines(
                    line + "\n"
                    for line in difflib.unified_diff(
                        have, want, name, name + " (from the fragments)", lineterm=""
                    )
                )
    if stale:
        print(
            f"{', '.join(stale)}: not what changelogs/fragments give for {version()}; run `make changelog` and commit",
            file=sys.stderr,
        )
        return 1
    print(f"CHANGELOG.rst and changelogs/changelog.yaml are current for {version()}")
    return 0


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        return check()
    if argv:
        print("usage: update_changelog.py [--check]", file=sys.stderr)
        return 2
    regenerate(ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
