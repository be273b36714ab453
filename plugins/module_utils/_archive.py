# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: unpack a tar archive into a directory by one set of safety rules.

Host-side code: standard library only. ``safe_extract`` is the collection's only unpacker: the
release tarballs (module ``service_release_unpack``) and the OCI image layers (``_oci_image``,
module ``oci_image``) both go through it, so the rules below exist once.

Nothing is extracted with ``TarFile.extract``: each member is made by hand, with ``O_NOFOLLOW``
and ``O_EXCL`` for files and after a check that no parent directory on its path is a symlink.

Refused (``ArchiveError`` naming the member and why; nothing after it is unpacked):

- a member name that is absolute or has a ``..`` component;
- a member whose path goes through a symlink (made by an earlier member or already there);
- a hard link whose target is absolute, has ``..``, goes through a symlink, is a directory or
  is not in the directory (hard links may only join two entries of the archive);
- with ``links_inside`` (release tarballs): a symlink with an absolute target, or one that
  resolves outside ``dest`` (checked for each link, and again for every link of the finished
  tree, so a chain of links cannot escape either);
- with ``specials="refuse"`` (release tarballs): character and block devices, FIFOs and every
  other non-file type (sockets, GNU volume headers);
- a member named one of ``reserved`` (the release tarballs: the manifest);
- with ``whiteouts`` (OCI layers): a whiteout ``.wh.<name>`` whose name is empty, ``.`` or
  ``..`` (it would delete the directory or its parent).

Normalized:

- set-uid, set-gid and sticky bits and the group and other write bits are stripped from every
  file and directory (``mode & 0o755``); the members changed are listed in ``stripped``;
- with ``owner=(uid, gid)`` every entry gets that owner (release tarballs: root:root); with
  ``owner=None`` the archive's owners are kept (OCI images: the image's user must own its
  files). Owners are only set when running as root.

Skipped (listed in ``skipped``, with ``specials="skip"``, OCI layers): devices, FIFOs and other
types. runc gives a container its own ``/dev``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import stat

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
#: The mode bits an unpacked file or directory may keep: no set-id, sticky or group/other write.
MODE_MASK = 0o755
_CHUNK = 1 << 20

REFUSE = "refuse"
SKIP = "skip"


class ArchiveError(ValueError):
    """A member of the archive breaks a rule (the message names the member and the rule)."""


def check_file_name(name):
    """Return None when ``name`` is one plain file name, else a message saying why not."""
    if name in (None, "", ".", ".."):
        return "%r is not a file name" % (name,)
    if "/" in name or "\0" in name:
        return "%r is not a plain file name (it has a '/' or a NUL)" % (name,)
    return None


def clean_name(name):
    """A member name as a relative path inside the directory, or ArchiveError if it escapes."""
    if name.startswith("/"):
        raise ArchiveError("entry %r has an absolute path" % name)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ArchiveError("entry %r contains '..'" % name)
    return "/".join(parts)


def _kind(member):
    if member.ischr():
        return "a character device"
    if member.isblk():
        return "a block device"
    if member.isfifo():
        return "a FIFO"
    return "of tar type %r" % (member.type,)


def _checked_path(root, rel, what):
    """The path of ``rel`` in ``root`` (a real path), refused when a parent is a symlink."""
    path = os.path.join(root, rel)
    parent = os.path.dirname(path)
    if os.path.realpath(parent) != parent:
        raise ArchiveError("%s would be written through a symlink" % what)
    return path


def _remove(path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _inside(root, path):
    return path == root or path.startswith(root + "/")


def _apply_whiteout(root, rel, made):
    base = os.path.basename(rel)
    parent_rel = os.path.dirname(rel)
    parent = os.path.join(root, parent_rel) if parent_rel else root
    if os.path.realpath(parent) != parent:
        raise ArchiveError("whiteout %r is under a symlink" % rel)
    if base == OPAQUE:  # the directory hides everything lower layers put in it
        if os.path.isdir(parent):
            for child in os.listdir(parent):
                child_rel = (parent_rel + "/" + child) if parent_rel else child
                if child_rel not in made:
                    _remove(os.path.join(parent, child))
        return
    target = base[len(WHITEOUT):]
    if target in ("", ".", "..") or "/" in target:
        raise ArchiveError("whiteout %r names %r, which is not a file name" % (rel, target))
    if os.path.isdir(parent):
        _remove(os.path.join(parent, target))


def _set_owner(path_or_fd, member, owner):
    if os.geteuid() != 0:
        return
    uid, gid = owner if owner is not None else (member.uid, member.gid)
    if isinstance(path_or_fd, int):
        os.fchown(path_or_fd, uid, gid)
    else:
        os.chown(path_or_fd, uid, gid, follow_symlinks=False)


def _extract_one(tar, member, root, rel, owner, links_inside, made):
    what = "entry %r" % member.name
    path = _checked_path(root, rel, what)
    if not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path), 0o755)
    mode = member.mode & MODE_MASK
    if member.isdir():
        if not (os.path.isdir(path) and not os.path.islink(path)):
            _remove(path)
            os.mkdir(path, 0o700)
        _set_owner(path, member, owner)
        os.chmod(path, mode)
        os.utime(path, (member.mtime, member.mtime))
        made.add(rel)
        return
    if member.issym():
        target = member.linkname
        if links_inside:
            if not target or target.startswith("/"):
                raise ArchiveError("%s is a symlink to %r: only relative links inside the "
                                   "directory are allowed" % (what, target))
            resolved = os.path.normpath(os.path.join(os.path.dirname(rel), target))
            if resolved == ".." or resolved.startswith("../"):
                raise ArchiveError("%s is a symlink to %r, outside the directory" % (what, target))
        _remove(path)
        os.symlink(target, path)
        _set_owner(path, member, owner)
    elif member.islnk():
        target_rel = clean_name(member.linkname)
        target = _checked_path(root, target_rel, "the target of hard link %r" % member.name)
        if not target_rel or not os.path.lexists(target):
            raise ArchiveError("%s links to %r, which the archive does not have"
                               % (what, member.linkname))
        if os.path.isdir(target) and not os.path.islink(target):
            raise ArchiveError("%s is a hard link to the directory %r" % (what, member.linkname))
        _remove(path)
        os.link(target, path, follow_symlinks=False)
    else:  # a regular file (the caller sorted out every other type)
        _remove(path)
        src = tar.extractfile(member)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)
            _set_owner(out.fileno(), member, owner)
            os.fchmod(out.fileno(), mode)
            os.utime(out.fileno(), (member.mtime, member.mtime))
    made.add(rel)


def check_links(root):
    """ArchiveError naming the first symlink under ``root`` that resolves outside it."""
    root = os.path.realpath(root)
    for directory, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = os.path.join(directory, name)
            if os.path.islink(path) and not _inside(root, os.path.realpath(path)):
                raise ArchiveError("entry %r is a symlink to %r, which resolves outside the "
                                   "directory" % (os.path.relpath(path, root), os.readlink(path)))


def safe_extract(tar, dest, owner=(0, 0), specials=REFUSE, links_inside=True, whiteouts=False,
                 reserved=()):
    """Unpack every member of the open TarFile ``tar`` into the existing directory ``dest``.

    The rules are in this module's docstring; a member named one of ``reserved`` (relative
    paths, e.g. a manifest the caller writes itself) is refused too. Returns ``{"count": members unpacked,
    "skipped": [names], "stripped": [names whose set-id, sticky or group/other write bits were
    removed]}``. ``tar`` may be a stream (mode ``r|*``): members are read once, in order.
    """
    root = os.path.realpath(dest)
    if not os.path.isdir(root):
        raise ArchiveError("%s is not a directory" % dest)
    made, skipped, stripped = set(), [], []
    count = 0
    for member in tar:
        rel = clean_name(member.name)
        if not rel:
            continue  # the directory itself: its owner and mode are the caller's
        if rel in reserved:
            raise ArchiveError("entry %r has a name reserved for the installer's own file"
                               % member.name)
        if member.islnk():
            clean_name(member.linkname)  # refuse an escaping target before anything else
        if whiteouts and os.path.basename(rel).startswith(WHITEOUT):
            _apply_whiteout(root, rel, made)
            continue
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            if specials == SKIP:
                skipped.append(rel)
                continue
            raise ArchiveError("entry %r is %s: device nodes, FIFOs and special files are "
                               "refused" % (member.name, _kind(member)))
        try:
            _extract_one(tar, member, root, rel, owner, links_inside, made)
        except OSError as exc:
            raise ArchiveError("entry %r cannot be unpacked: %s" % (member.name, exc)) from exc
        count += 1
        if (member.isreg() or member.isdir()) and member.mode & ~MODE_MASK & 0o7777:
            stripped.append(rel)
    if links_inside:
        check_links(root)
    return {"count": count, "skipped": skipped, "stripped": stripped}
