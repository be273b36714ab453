# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Private to shipyard.deploy: read an OCI image layout and unpack an image safely.

Host-side code: standard library only. Used by the module ``oci_image`` after ``skopeo`` has
copied an image by digest into a host-side OCI layout. Unpacking is done here with ``tarfile``
(not ``umoci unpack``) so that hosts need no extra tool, and so that every entry is checked by
``_archive.safe_extract``, the unpacker the release tarballs use too: no absolute names, no
``..``, nothing written through a symlink, hard links only between entries of the image; device
nodes and FIFOs are skipped (runc gives the container its own ``/dev``); set-id, sticky and
group/other write bits are stripped; the image's owners and its (absolute) symlinks are kept.
OCI whiteouts (``.wh.<name>``, ``.wh..wh..opq``) remove what lower layers made; a whiteout of
``.``, ``..`` or an empty name is refused. Every blob read is checked against its sha256.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import tarfile

from ansible_collections.shipyard.deploy.plugins.module_utils._archive import (
    SKIP,
    ArchiveError,
    safe_extract,
)
from ansible_collections.shipyard.deploy.plugins.module_utils._fs import atomic_write

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}\Z")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")
LAYER_GZIP = ("application/vnd.oci.image.layer.v1.tar+gzip",
              "application/vnd.docker.image.rootfs.diff.tar.gzip")
LAYER_TAR = ("application/vnd.oci.image.layer.v1.tar",)
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


def unpack_layer(layout, desc, root):
    """Apply one layer (descriptor from the manifest) onto ``root``; returns skipped entries."""
    media = desc.get("mediaType")
    if media not in LAYER_GZIP + LAYER_TAR:
        raise ImageError("layer %s has media type %r: only (gzipped) tar layers are supported"
                         % (desc.get("digest"), media))
    with open(blob_path(layout, desc["digest"]), "rb") as handle:
        reader = _HashingReader(handle)
        mode = "r|gz" if media in LAYER_GZIP else "r|"
        try:
            with tarfile.open(fileobj=reader, mode=mode) as tar:
                try:
                    # the image's owners are kept and its absolute symlinks too (runc resolves
                    # them inside the container's root; nothing on the host follows them)
                    done = safe_extract(tar, root, owner=None, specials=SKIP, links_inside=False,
                                        whiteouts=True)
                except ArchiveError as exc:
                    raise ImageError("layer %s: %s" % (desc["digest"], exc)) from exc
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ImageError("layer %s is not a readable tar: %s" % (desc["digest"], exc)) from exc
        if reader.drain() != desc["digest"]:
            raise ImageError("layer %s does not match its digest: the layout is corrupt"
                             % desc["digest"])
    return done["skipped"]


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
