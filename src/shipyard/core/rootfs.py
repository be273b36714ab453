"""The base root of lab hosts: debootstrap once, prepare, cache as ``.tar.zst``, unpack once.

The unpacked ``cache_dir/base-<key>/`` is the read-only overlay lower dir shared by every host
of every lab. It is built under a temporary name and renamed, under a lock, so two concurrent
``up()`` calls never both build it and nobody ever sees a half-made one.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from shipyard.core.progress import ProgressCallback, say
from shipyard.core.sysutil import flocked, mounts_under, run

log = logging.getLogger("shipyard.lab")

#: Debian suite of the hosts.
SUITE = "bookworm"
#: Mirror for debootstrap.
MIRROR = "http://deb.debian.org/debian"
#: The packages of the base root (the one list; the cache key hashes it).
PACKAGES: tuple[str, ...] = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "iproute2",
    "curl",
    "procps",
    "haproxy",
    "skopeo",  # the container strategy pulls images by digest on hosts (oci_image)
    # skopeo's containers-common depends on the virtual container-network-stack, which
    # debootstrap cannot resolve: name a provider
    "containernetworking-plugins",
)
#: Bump when the preparation steps change, so old caches are not reused.
RECIPE_VERSION = 1
#: Units masked in the base (timers that would wake every host, pstore that fails).
MASKED_UNITS: tuple[str, ...] = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
    "systemd-pstore.service",
)
#: sshd drop-in: only the per-host ed25519 key exists.
SSHD_DROPIN = "HostKey /etc/ssh/ssh_host_ed25519_key\nPermitRootLogin prohibit-password\n"
_TAR_OPTS = ("--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls")


def base_key(packages: tuple[str, ...] = PACKAGES, suite: str = SUITE) -> str:
    """The cache key of a base root: a hash of the package list and the suite.

    Args:
        packages: the debootstrap ``--include`` list.
        suite: the Debian suite.

    Returns:
        16 hex digits.
    """
    text = f"v{RECIPE_VERSION}\n{suite}\n" + ",".join(sorted(packages))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def prepare_root(root: Path) -> None:
    """Make a fresh debootstrap root fit to be shared by many hosts (LAB-FACTS "Base root").

    Removes host keys, empties the machine id (and links dbus' to it), masks timers, cleans
    apt, adds the sshd drop-in, copies ``/usr/sbin/runc`` in when the machine has it.

    Args:
        root: the root directory.
    """
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    dbus_id = root / "var/lib/dbus/machine-id"
    dbus_id.parent.mkdir(parents=True, exist_ok=True)
    if dbus_id.exists() or dbus_id.is_symlink():
        dbus_id.unlink()
    dbus_id.symlink_to("/etc/machine-id")
    unit_dir = root / "etc/systemd/system"
    unit_dir.mkdir(parents=True, exist_ok=True)
    for unit in MASKED_UNITS:
        link = unit_dir / unit
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to("/dev/null")
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*"):
        for path in root.glob(pattern):
            if path.is_file() or path.is_symlink():
                path.unlink()
    dropin = root / "etc/ssh/sshd_config.d/shipyard.conf"
    dropin.parent.mkdir(parents=True, exist_ok=True)
    dropin.write_text(SSHD_DROPIN)
    runc = Path("/usr/sbin/runc")
    if runc.is_file():
        shutil.copy2(runc, root / "usr/sbin/runc")


def ensure_base(
    cache_dir: Path,
    tools: dict[str, str],
    progress: ProgressCallback | None,
    *,
    packages: tuple[str, ...] = PACKAGES,
    name: str = "base",
    prepare: Callable[[Path], None] = prepare_root,
) -> Path:
    """Return the unpacked base root, building and caching it first if needed.

    Args:
        cache_dir: where ``<name>-<key>.tar.zst`` and ``<name>-<key>/`` live.
        tools: tool paths (``tar``, ``debootstrap``), e.g. from ``find_tools()``.
        progress: progress callback.
        packages: the debootstrap ``--include`` list (part of the key).
        name: the cache name prefix (``base`` for lab hosts, ``runtime`` for container images).
        prepare: what to do to a fresh root before it is cached.

    Returns:
        The base root directory (the overlay lower dir).
    """
    key = base_key(packages)
    base = cache_dir / f"{name}-{key}"
    tarball = cache_dir / f"{name}-{key}.tar.zst"
    if base.is_dir():
        return base
    cache_dir.mkdir(parents=True, exist_ok=True)
    with flocked(cache_dir / f".{name}-{key}.lock"):
        if base.is_dir():  # another up() made it while we waited
            return base
        tmp = cache_dir / f".{name}-{key}.tmp-{os.getpid()}"
        _remove_tree(tmp)
        try:
            if tarball.is_file():
                say(progress, f"unpacking the cached base root {tarball.name}")
                tmp.mkdir(mode=0o755)
                run([tools["tar"], "--zstd", *_TAR_OPTS, "-C", tmp, "-xpf", tarball], timeout=600)
            else:
                say(progress, f"building the base root (debootstrap {SUITE}, ~1-2 min, once)")
                run(
                    [
                        tools["debootstrap"],
                        "--variant=minbase",
                        f"--include={','.join(packages)}",
                        SUITE,
                        tmp,
                        MIRROR,
                    ],
                    timeout=1800,
                )
                prepare(tmp)
                tar_tmp = cache_dir / f".{name}-{key}.tar.zst.tmp-{os.getpid()}"
                run([tools["tar"], "--zstd", *_TAR_OPTS, "-C", tmp, "-cf", tar_tmp, "."], timeout=600)
                tar_tmp.chmod(0o644)
                tar_tmp.replace(tarball)
                say(progress, f"cached the base root as {tarball}")
            tmp.rename(base)
        except BaseException:
            _remove_tree(tmp)
            raise
    return base


def _remove_tree(path: Path) -> None:
    """Remove a temporary tree, first unmounting anything debootstrap left mounted in it."""
    for mnt in mounts_under(path):
        run(["umount", "-l", mnt], check=False)
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)
