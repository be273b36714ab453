# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: atomic file and symlink updates, and an flock.

Host-side code: standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import fcntl
import hashlib
import os
import tempfile
import time


def read_link(path):
    """The target of symlink ``path``, or None when it is missing or not a link."""
    try:
        return os.readlink(path)
    except OSError:
        return None


def read_bytes(path):
    """The bytes of file ``path``, or None when it cannot be read (missing, a directory)."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def file_sha256(path, chunk=1 << 20):
    """The hex sha256 of file ``path`` (read in chunks; OSError when it cannot be read)."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            sha.update(block)
    return sha.hexdigest()


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path, data, mode=0o644):
    """Write ``data`` (bytes) to ``path``: a temp file in the same dir, fsync, then rename."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def atomic_symlink(target, link):
    """Point ``link`` at ``target`` atomically: a new link under a temp name, then rename."""
    directory = os.path.dirname(link) or "."
    tmp = os.path.join(directory, ".%s.tmp-%d" % (os.path.basename(link), os.getpid()))
    with contextlib.suppress(OSError):
        os.unlink(tmp)
    os.symlink(target, tmp)
    try:
        os.rename(tmp, link)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def remove_link(link):
    """Remove symlink ``link`` if it exists."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(link)


#: Where the per-service deploy locks live (under /run: a reboot clears them).
LOCK_DIR = "/run/shipyard/locks"


@contextlib.contextmanager
def flock(path, mode=0o600, timeout=None):
    """Hold an exclusive flock on ``path`` (created if missing) for the ``with`` block.

    With ``timeout`` (seconds), raise TimeoutError when the lock is not free by then. The kernel
    drops the lock when the holding process dies, so a killed holder never blocks anyone.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    try:
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise TimeoutError("%s is locked by another process" % path) from None
                    time.sleep(0.2)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def service_flock(service, timeout=None, directory=LOCK_DIR):
    """The flock of ``service``'s critical host work (instances, links, lease changes)."""
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    return flock(os.path.join(directory, "." + service + ".flock"), timeout=timeout)
