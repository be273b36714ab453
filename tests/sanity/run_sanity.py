#!/usr/bin/env python3
"""Run ``ansible-test sanity`` over the collection exactly as it ships.

ansible-test must run from a directory ``ansible_collections/<namespace>/<name>`` and lists the
files to test with git. The repository root is the collection but also holds the Python package,
benchmarks and tests that are not part of it, so this script

1. builds the collection tarball with ``ansible-galaxy collection build`` (galaxy.yml's
   ``build_ignore`` decides what ships) and fails on a symlink in it that points nowhere or out of it,
2. unpacks it into ``build/sanity/ansible_collections/shipyard/deploy`` with ``tests/sanity/ignore-*.txt``,
   and makes that tree a git work tree of its own (``build/`` is ignored by the outer one),
3. runs ``ansible-test sanity --local`` there with the running Python, ``HOME`` in ``build/sanity-home``
   (ansible-test keeps its per-test virtual environments under ``~/.ansible/test``) and the offline pip
   bootstrap ``tests/sanity/get_pip.py``.

Arguments are passed to ansible-test (``--test pep8``, ``-v``). Exit status is ansible-test's; 1 for
a dangling symlink.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
OUT = ROOT / "build" / "sanity"
HOME = ROOT / "build" / "sanity-home"


def build_tarball() -> Path:
    """Build the collection tarball into build/sanity/dist and return its path."""
    dist = OUT / "dist"
    subprocess.run(
        [
            str(BIN / "ansible-galaxy"),
            "collection",
            "build",
            "--force",
            "--output-path",
            str(dist),
            str(ROOT),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (tarball,) = dist.glob("*.tar.gz")
    return tarball


def dangling_symlinks(tarball: Path) -> list[str]:
    """Return a line for each symlink in the tarball whose target is not a member of it."""
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
    names = {PurePosixPath(m.name) for m in members}
    bad = []
    for member in members:
        if not member.issym():
            continue
        target = PurePosixPath(os.path.normpath(str(PurePosixPath(member.name).parent / member.linkname)))
        if member.linkname.startswith("/") or target not in names:
            bad.append(f"{member.name} -> {member.linkname}")
    return bad


def make_tree(tarball: Path) -> Path:
    """Unpack the tarball into the collection tree ansible-test wants and return the tree."""
    tree = OUT / "ansible_collections" / "shipyard" / "deploy"
    shutil.rmtree(OUT / "ansible_collections", ignore_errors=True)
    tree.mkdir(parents=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(tree, filter="tar")
    (tree / "tests" / "sanity").mkdir(parents=True)
    for ignore in sorted((ROOT / "tests" / "sanity").glob("ignore-*.txt")):
        shutil.copy2(ignore, tree / "tests" / "sanity" / ignore.name)
    git = ["git", "-C", str(tree)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    return tree


def install_pip_bootstrap() -> None:
    """Save the offline get-pip stand-in where ansible-test looks before it downloads one."""
    from ansible_test._internal.host_configs import NativePythonConfig
    from ansible_test._internal.python_requirements import get_venv_packages

    python = NativePythonConfig(
        version=f"{sys.version_info.major}.{sys.version_info.minor}", path=sys.executable
    )
    version = get_venv_packages(python)["pip"]
    cache = HOME / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "tests" / "sanity" / "get_pip.py", cache / f"get_pip_{version.replace('.', '_')}.py")


def main(argv: list[str]) -> int:
    tarball = build_tarball()
    bad = dangling_symlinks(tarball)
    for line in bad:
        print(f"{tarball.name}: symlink points at nothing in the collection: {line}", file=sys.stderr)
    if bad:
        return 1
    tree = make_tree(tarball)
    install_pip_bootstrap()
    env = dict(os.environ, HOME=str(HOME), ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CONFIG", None)
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    cmd = [str(BIN / "ansible-test"), "sanity", "--local", "--python", python, "--color", "no", *argv]
    return subprocess.run(cmd, cwd=tree, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
