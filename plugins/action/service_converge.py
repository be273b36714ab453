# -*- coding: utf-8 -*-
# Copyright: shipyard developers
# Apache License 2.0 (see LICENSE)
"""Controller side of shipyard.deploy.service_converge: leases, artifacts, one call per host.

The module converges the host's whole desired state in one remote execution. This plugin
adds what only the controller can do:

- the lease owner (this run's ansible-playbook process), waiting while another live run holds
  a service's lease (at most ``wait`` seconds) and breaking the lease of a run that is gone;
- the artifacts: when the module reports a release whose artifact is not on the host, the
  artifact is checked against the spec's sha256 on the controller (downloaded once from its
  URL into a cache when it has no path), copied to the host, and the module is called again.

So a no-op is one module call per host; a first deploy or an upgrade is two plus the copies.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shlex
import tempfile
import time
import zipfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.urls import open_url
from ansible.plugins.action import ActionBase
from ansible_collections.shipyard.deploy.plugins.module_utils import _fs
from ansible_collections.shipyard.deploy.plugins.plugin_utils._lock import (
    describe,
    holder_is_dead,
    locked_message,
    owner,
)

MODULE = "shipyard.deploy.service_converge"
_CHUNK = 1 << 20
#: the lean runner's bootstrap (``python3 -c``): stdin is one JSON line {args, check_mode,
#: diff}, then a zip of the collection's module_utils; the zip goes to a private temp file
#: (0600, removed at the end) and is imported from there
BOOTSTRAP = (
    "import io,os,sys,tempfile\n"
    "d=sys.stdin.buffer.read();n=d.index(b'\\n')\n"
    "f,p=tempfile.mkstemp(prefix='shipyard-converge-',suffix='.zip')\n"
    "try:\n"
    " os.write(f,d[n+1:]);os.close(f);sys.path.insert(0,p)\n"
    " from ansible_collections.shipyard.deploy.plugins.module_utils import _converge,_lean\n"
    " _lean.main(_converge.ARGUMENT_SPEC,_converge.run,io.StringIO(d[:n].decode('utf-8')))\n"
    "finally:\n"
    " os.unlink(p)\n"
)
#: the runner: "lean" (the bootstrap above) or "module" (Ansible's module execution)
RUNNERS = ("lean", "module")
_PAYLOAD = {}
#: sha256 of controller files already checked by this process: {(path, size, mtime): sha256}
_CHECKED = {}


def payload():
    """The zip of the collection's module_utils the lean runner imports (built once)."""
    if "zip" not in _PAYLOAD:
        here = os.path.dirname(os.path.abspath(__file__))
        utils = os.path.join(os.path.dirname(here), "module_utils")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            base = "ansible_collections/shipyard/deploy/plugins/"
            for package in ("ansible_collections/", "ansible_collections/shipyard/",
                            "ansible_collections/shipyard/deploy/", base, base + "module_utils/"):
                zf.writestr(package + "__init__.py", "")
            for name in sorted(os.listdir(utils)):
                if name.endswith(".py") and name != "__init__.py":
                    zf.write(os.path.join(utils, name), base + "module_utils/" + name)
        _PAYLOAD["zip"] = buf.getvalue()
    return _PAYLOAD["zip"]


def file_sha256(path):
    """The file's sha256, computed once per (path, size, mtime) in this process."""
    info = os.stat(path)
    key = (path, info.st_size, info.st_mtime_ns)
    if key not in _CHECKED:
        _CHECKED[key] = _fs.file_sha256(path, _CHUNK)
    return _CHECKED[key]


def cache_dir():
    base = os.environ.get("SHIPYARD_ARTIFACT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "shipyard", "artifacts")
    if not os.path.isdir(base):
        os.makedirs(base, 0o700, exist_ok=True)
    return base


def download(url, sha256, timeout=60):
    """The cached file of ``url`` (fetched once, checked against ``sha256``, renamed in place)."""
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "artifact"
    directory = cache_dir()
    path = os.path.join(directory, "%s-%s" % (sha256, name))
    lock = os.open(os.path.join(directory, ".%s.lock" % sha256), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one download per artifact, whatever the forks
        if os.path.isfile(path) and file_sha256(path) == sha256:
            return path
        fd, tmp = tempfile.mkstemp(prefix=".download-", dir=directory)
        try:
            sha = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                response = open_url(url, timeout=timeout, follow_redirects="safe")
                for block in iter(lambda: response.read(_CHUNK), b""):
                    sha.update(block)
                    out.write(block)
            if sha.hexdigest() != sha256:
                raise AnsibleActionFail(
                    "artifact.url %s has sha256 %s, not the spec's %s: fix artifact.sha256 or "
                    "the URL" % (url, sha.hexdigest(), sha256))
            os.chmod(tmp, 0o644)
            os.rename(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return path
    except AnsibleActionFail:
        raise
    except Exception as exc:  # urllib, ssl, OSError: the message is what the user needs
        raise AnsibleActionFail("artifact.url %s: the download failed: %s" % (url, exc)) from exc
    finally:
        os.close(lock)


def local_artifact(service):
    """The controller path of a service's artifact, checked against the spec's sha256."""
    artifact = service.get("artifact") or {}
    name = service.get("name")
    sha256 = str(artifact.get("sha256") or "").lower()
    if artifact.get("path"):
        path = str(artifact["path"])
        actual = file_sha256(path) if os.path.isfile(path) else None
        if actual != sha256:
            raise AnsibleActionFail(
                "service %s: artifact %s: %s. Rebuild the artifact or fix artifact.sha256 in the "
                "service spec." % (name, path, "sha256 mismatch: expected %s, actual %s" % (sha256, actual)
                                   if actual else "no such file on the controller"))
        return path
    if artifact.get("url"):
        return download(str(artifact["url"]), sha256)
    raise AnsibleActionFail("service %s: the release is not on the host and the spec has no "
                            "artifact.path or artifact.url" % name)


class ActionModule(ActionBase):
    """Take the leases, converge, copy missing artifacts and converge again."""

    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        wait = int(args.pop("wait", 600))
        runner = str(args.pop("runner", None) or (task_vars or {}).get("shipyard_converge_runner") or "lean")
        if runner not in RUNNERS:
            result.update(failed=True, msg="runner=%r: use lean or module" % runner)
            return result
        host = (task_vars or {}).get("inventory_hostname")
        me = owner()
        args.update(owner=me, lock_wait=wait, break_tokens={}, staged={})
        single = args.get("service")
        services = [single] if single is not None else list(args.get("services") or [])
        by_name = {str(s.get("name")): s for s in services if isinstance(s, dict)}
        if single is None and isinstance(args.get("secrets"), dict):
            # an application's secrets: each host gets only its own services' values
            args["secrets"] = {k: v for k, v in args["secrets"].items() if k in by_name}
        try:  # a local artifact is checked before any host is touched
            for service in by_name.values():
                if (service.get("artifact") or {}).get("path"):
                    local_artifact(service)
        except AnsibleActionFail as exc:
            result.update(failed=True, msg=str(exc))
            return result
        started = time.monotonic()
        calls = 0
        copies = []
        remote_tmp = None
        try:
            while True:
                res = self._converge(runner, args, task_vars)
                calls += 1
                if res.get("failed"):
                    break
                locked = res.get("locked") or {}
                if locked:
                    name, holder = sorted(locked.items())[0]
                    if holder_is_dead(holder, me):
                        args["break_tokens"] = dict(args["break_tokens"], **{name: holder.get("token")})
                        continue
                    if time.monotonic() - started >= wait:
                        res.update(failed=True, msg=locked_message(name, host, holder, wait))
                        break
                    time.sleep(1.0)
                    continue
                missing = res.get("missing") or []
                if missing and not args["staged"].keys() >= set(missing):
                    if remote_tmp is None:
                        remote_tmp = self._make_tmp_path()
                    staged = dict(args["staged"])
                    for name in missing:
                        if name not in by_name:
                            raise AnsibleActionFail("the module asked for the artifact of %s, "
                                                    "which is not in this task" % name)
                        source = local_artifact(by_name[name])
                        dest = self._connection._shell.join_path(remote_tmp, "%s.artifact" % name)
                        self._transfer_file(source, dest)
                        staged[name] = dest
                        copies.append(name)
                    self._fixup_perms2(list(staged.values()))
                    args["staged"] = staged
                    continue
                break
        except AnsibleActionFail as exc:
            res = {"failed": True, "msg": str(exc)}
        finally:
            if remote_tmp is not None:
                self._remove_tmp_path(remote_tmp)
        broken = res.get("broken") or {}
        for name, lease in sorted(broken.items()):
            res.setdefault("warnings", []).append(
                "broke the deploy lock of %s on %s held by %s: %s"
                % (name, host, describe(lease), lease.get("reason")))
        # the cost model: remote executions per host (module calls, plus the temp dir, one
        # copy per missing artifact and the cleanup on a first deploy or an upgrade)
        remote = calls + (len(copies) + 2 if remote_tmp is not None else 0)
        res["calls"] = {"module": calls, "remote": remote, "copies": copies,
                        "waited": round(time.monotonic() - started, 3)}
        res["runner"] = runner
        result.update(res)
        return result

    def _converge(self, runner, args, task_vars):
        """One remote execution of the converge: the lean runner or Ansible's module path."""
        if runner == "module":
            return self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        python = self._templar.template(
            (task_vars or {}).get("ansible_python_interpreter") or "/usr/bin/python3")
        header = json.dumps({"args": args, "check_mode": bool(self._task.check_mode),
                             "diff": bool(self._task.diff)})
        cmd = "%s -c %s" % (shlex.quote(str(python)), shlex.quote(BOOTSTRAP))
        out = self._low_level_execute_command(
            cmd, sudoable=True, in_data=header.encode("utf-8") + b"\n" + payload())
        try:
            res = json.loads(out.get("stdout") or "")
        except ValueError:
            res = {"failed": True, "rc": out.get("rc"),
                   "msg": "the converge on the host did not answer with a result (rc %s): %s"
                   % (out.get("rc"), (out.get("stderr") or out.get("stdout") or "").strip()[-2000:])}
            if out.get("rc") == 255:
                res["unreachable"] = True
        if res.get("failed") and not res.get("msg"):
            res["msg"] = "the converge failed"
        return res
