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
import os
import tempfile


def read_link(path):
    """The target of symlink ``path``, or None when it is missing or not a link."""
    try:
        return os.readlink(path)
    except OSError:
        return None


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


@contextlib.contextmanager
def flock(path, mode=0o600):
    """Hold an exclusive flock on ``path`` (created if missing) for the ``with`` block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
