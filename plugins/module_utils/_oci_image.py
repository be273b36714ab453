# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: read an OCI image layout and unpack an image safely.

Host-side code: standard library only. Used by the module ``oci_image`` after ``skopeo`` has
copied an image by digest into a host-side OCI layout. Unpacking is done here with ``tarfile``
(not ``umoci unpack``) so that hosts need no extra tool, and so that every entry is checked:
no absolute names, no ``..``, nothing written through a symlink, no device nodes; OCI whiteouts
(``.wh.<name>``, ``.wh..wh..opq``) remove what lower layers made. Every blob read is checked
against its sha256.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import shutil
import stat
import tarfile

from ansible_collections.shipyard.deploy.plugins.module_utils._fs import atomic_write

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")
LAYER_GZIP = ("application/vnd.oci.image.layer.v1.tar+gzip",
              "application/vnd.docker.image.rootfs.diff.tar.gzip")
LAYER_TAR = ("application/vnd.oci.image.layer.v1.tar",)
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_CHUNK = 1 << 20


class ImageError(ValueError):
    """The image or its layout is not what it must be (the message names what and why)."""


def blob_path(layout, digest):
    """The path of blob ``digest`` in OCI layout ``layout``."""
    if not DIGEST_RE.match(digest or ""):
        raise ImageError("digest %r is not of the form sha256:<64 hex digits>" % (digest,))
    return os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1])


def read_blob(layout, digest, limit=4 << 20):
    """The bytes of a small blob (a manifest or config), checked against its digest."""
    with open(blob_path(layout, digest), "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ImageError("blob %s is larger than %d bytes: not a manifest or config" % (digest, limit))
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise ImageError("blob %s does not match its digest: the layout is corrupt" % digest)
    return data


def manifest_for_ref(layout, ref):
    """The manifest descriptor in ``index.json`` named ``ref`` (org.opencontainers.image.ref.name)."""
    with open(os.path.join(layout, "index.json"), "rb") as handle:
        index = json.loads(handle.read().decode("utf-8"))
    for desc in index.get("manifests") or []:
        if (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name") == ref:
            return desc
    raise ImageError("the layout %s has no image named %r" % (layout, ref))


def load_image(layout, digest):
    """(manifest, config) of the image whose manifest is blob ``digest``, both checked."""
    manifest = json.loads(read_blob(layout, digest).decode("utf-8"))
    if manifest.get("mediaType", MANIFEST_TYPES[0]) not in MANIFEST_TYPES:
        raise ImageError("%s is a %s, not an image manifest (an index? pull a single-platform "
                         "image by its manifest digest)" % (digest, manifest.get("mediaType")))
    config = json.loads(read_blob(layout, manifest["config"]["digest"]).decode("utf-8"))
    return manifest, config


def image_json(digest, config):
    """The ``image.json`` document of a release: the digest and the image config's ``config``."""
    return {"digest": digest, "config": config.get("config") or {}}


class _HashingReader(object):
    """A file wrapper that hashes what is read through it (for streaming tarfile)."""

    def __init__(self, handle):
        self.handle = handle
        self.sha = hashlib.sha256()

    def read(self, size=-1):
        data = self.handle.read(size)
        self.sha.update(data)
        return data

    def drain(self):
        while self.read(_CHUNK):
            pass
        return "sha256:" + self.sha.hexdigest()


def clean_name(name):
    """A tar entry name as a relative path inside the root, or ImageError if it would escape."""
    if name.startswith("/"):
        raise ImageError("entry %r has an absolute path" % name)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ImageError("entry %r contains '..'" % name)
    return "/".join(parts)


def _inside(root, rel):
    """The path of ``rel`` in ``root``, refused when a parent of it is a symlink or not a dir."""
    path = os.path.join(root, rel) if rel else root
    parent = os.path.dirname(path)
    if os.path.realpath(parent) != os.path.normpath(parent):
        raise ImageError("entry %r would be written through a symlink" % rel)
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


def _owner_mode(path, member, is_link=False):
    if os.geteuid() == 0:
        os.lchown(path, member.uid, member.gid)
    if not is_link:
        os.chmod(path, member.mode & 0o7777)
        os.utime(path, (member.mtime, member.mtime))


def _apply_whiteout(root, rel, made):
    base = os.path.basename(rel)
    parent_rel = os.path.dirname(rel)
    parent = os.path.join(root, parent_rel) if parent_rel else root
    if os.path.realpath(parent) != os.path.normpath(parent):
        raise ImageError("whiteout %r is under a symlink" % rel)
    if not os.path.isdir(parent):
        return
    if base == OPAQUE:  # the directory hides everything lower layers put in it
        for child in os.listdir(parent):
            child_rel = (parent_rel + "/" + child) if parent_rel else child
            if child_rel not in made:
                _remove(os.path.join(parent, child))
        return
    _remove(os.path.join(parent, base[len(WHITEOUT):]))


def _extract(tar, member, root, made, skipped):
    rel = clean_name(member.name)
    if not rel:
        return  # the root itself
    base = os.path.basename(rel)
    if base.startswith(WHITEOUT):
        _apply_whiteout(root, rel, made)
        return
    if member.ischr() or member.isblk():
        skipped.append(rel)  # no device nodes: runc gives the container its own /dev
        return
    path = _inside(root, rel)
    if not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path), 0o755)
    made.add(rel)
    if member.isdir():
        if not (os.path.isdir(path) and not os.path.islink(path)):
            _remove(path)
            os.mkdir(path, 0o700)
        _owner_mode(path, member)
        return
    _remove(path)
    if member.issym():
        os.symlink(member.linkname, path)
        _owner_mode(path, member, is_link=True)
    elif member.islnk():
        target = _inside(root, clean_name(member.linkname))
        if not os.path.lexists(target):
            raise ImageError("entry %r links to %r, which the image does not have"
                             % (rel, member.linkname))
        os.link(target, path, follow_symlinks=False)
    elif member.isfifo():
        os.mkfifo(path, 0o600)
        _owner_mode(path, member)
    elif member.isreg():
        src = tar.extractfile(member)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)
        _owner_mode(path, member)
    else:
        skipped.append(rel)


def unpack_layer(layout, desc, root):
    """Apply one layer (descriptor from the manifest) onto ``root``; returns skipped entries."""
    media = desc.get("mediaType")
    if media not in LAYER_GZIP + LAYER_TAR:
        raise ImageError("layer %s has media type %r: only (gzipped) tar layers are supported"
                         % (desc.get("digest"), media))
    made, skipped = set(), []
    with open(blob_path(layout, desc["digest"]), "rb") as handle:
        reader = _HashingReader(handle)
        mode = "r|gz" if media in LAYER_GZIP else "r|"
        try:
            with tarfile.open(fileobj=reader, mode=mode) as tar:
                for member in tar:
                    try:
                        _extract(tar, member, root, made, skipped)
                    except ImageError as exc:
                        raise ImageError("layer %s: %s" % (desc["digest"], exc)) from exc
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ImageError("layer %s is not a readable tar: %s" % (desc["digest"], exc)) from exc
        if reader.drain() != desc["digest"]:
            raise ImageError("layer %s does not match its digest: the layout is corrupt"
                             % desc["digest"])
    return skipped


def unpack(layout, manifest, root):
    """Unpack every layer of ``manifest`` in order into the new directory ``root``."""
    os.mkdir(root, 0o755)
    skipped = []
    for desc in manifest.get("layers") or []:
        skipped.extend(unpack_layer(layout, desc, root))
    return skipped


def prune_layout(layout, keep):
    """Drop images not in ``keep`` (manifest digests) from a layout, then unreferenced blobs.

    Returns the digests of the blobs removed. The index is rewritten atomically first, so a
    run killed half-way leaves only unreferenced blobs, removed by the next prune.
    """
    index_path = os.path.join(layout, "index.json")
    try:
        with open(index_path, "rb") as handle:
            index = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError):
        return []
    manifests = [m for m in index.get("manifests") or [] if m.get("digest") in keep]
    if len(manifests) != len(index.get("manifests") or []):
        index["manifests"] = manifests
        atomic_write(index_path, json.dumps(index, sort_keys=True).encode("utf-8"), mode=0o644)
    used = set()
    for desc in manifests:
        try:
            manifest = json.loads(read_blob(layout, desc["digest"]).decode("utf-8"))
        except (OSError, ValueError):
            continue
        used.add(desc["digest"])
        used.add(manifest["config"]["digest"])
        used.update(layer["digest"] for layer in manifest.get("layers") or [])
    removed = []
    blobs = os.path.join(layout, "blobs", "sha256")
    for name in sorted(os.listdir(blobs)) if os.path.isdir(blobs) else []:
        if "sha256:" + name not in used:
            os.unlink(os.path.join(blobs, name))
            removed.append("sha256:" + name)
    return removed
