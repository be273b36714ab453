"""A spec, a secret and a CLI argument are data: never templated by Ansible, never run.

Through the real console script on a lab host: a lookup in an env value, a URL and a secret
would write a marker file on the controller if Ansible templated them; the marker never
appears, the env value and the secret arrive on the host byte for byte (the secret in its
0600 file). And Ctrl-C (SIGINT to the command's process group, as a terminal sends it) stops
the whole run: exit 130, 'interrupted', no process of the run left, and the next deploy takes
the lock at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from _interrupt import descendants
from _relia import make_spec, ssh, version_at

from shipyard import api
from shipyard.core.runner import run_playbook
from shipyard.core.spec import load_spec
from shipyard.lab import Lab, LabStatus

SHIPYARD = str(Path(sys.executable).parent / "shipyard")


def _lookup(marker: Path) -> str:
    return "{{ lookup('ansible.builtin.pipe', 'id > " + str(marker) + "; echo RAN') }}"


def _cli(argv: list[str], work: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SHIPYARD, *argv],
        env={**os.environ, "SHIPYARD_WORK_DIR": str(work), **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_a_lookup_in_env_url_or_secret_never_runs_and_values_arrive_byte_for_byte(
    lab: LabStatus, tmp_path: Path
) -> None:
    marker = tmp_path / "MARKER"
    lookup = _lookup(marker)
    secret = "pa{{ 7*7 }}ss {% raw %} {# x " + lookup
    host = lab.hosts[0]
    spec = make_spec(
        tmp_path, name="reljinja", base=10500, instances=1, secrets={"TOKEN": {"env": "RELJINJA_TOKEN"}}
    )
    doc = yaml.safe_load(spec.read_text())
    doc["env"]["EVIL"] = lookup
    spec.write_text(yaml.safe_dump(doc))

    run = _cli(
        ["deploy", str(spec), "-i", str(lab.inventory), "--hosts", host.name],
        tmp_path / "w",
        RELJINJA_TOKEN=secret,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert not marker.exists(), "a spec value ran on the controller"
    assert version_at(host.address, 10500) == "1.0.0"
    env_file = ssh(lab, host.name, ["cat", "/etc/shipyard/reljinja/env"])
    assert f'EVIL="{lookup}"' in env_file.splitlines()
    secrets = ssh(lab, host.name, ["stat", "-c", "%a %U", "/etc/shipyard/reljinja/secrets.env"]).split()
    assert secrets == ["600", "root"]
    content = ssh(lab, host.name, ["cat", "/etc/shipyard/reljinja/secrets.env"])
    assert f'TOKEN="{secret}"' in content.splitlines()
    assert secret not in run.stdout + run.stderr

    # the URL: refused before anything runs, naming the field; the marker never appears
    doc["artifact"] = {"url": "https://example.invalid/" + lookup.replace(" ", ""), "sha256": "0" * 64}
    spec.write_text(yaml.safe_dump(doc))
    for argv in (
        ["validate", str(spec)],
        ["deploy", str(spec), "-i", str(lab.inventory), "--hosts", host.name],
    ):
        bad = _cli(argv, tmp_path / "w", RELJINJA_TOKEN=secret)
        assert bad.returncode == 2, bad.stdout + bad.stderr
        assert "artifact.url" in bad.stderr and "template markers" in bad.stderr
        assert "Traceback" not in bad.stderr
    assert not marker.exists()

    # playbook users who bypass the spec: the role gets the URL as !unsafe data, and fails on
    # the download (nothing at that address), never on templating it
    loaded = load_spec(make_spec(tmp_path, name="reljinja", base=10500, instances=1))
    svc = loaded.to_ansible()
    svc["artifact"] = {
        "url": "http://127.0.0.1:9/" + lookup,
        "sha256": "0" * 64,
        "kind": "tarball",
        "path": None,
    }
    result = run_playbook(
        "deploy",
        inventory=lab.inventory,
        extravars={"shipyard_service": svc, "shipyard_hosts": host.name},
        work_dir=tmp_path / "w",
    )
    assert not result.ok
    assert not marker.exists()
    assert version_at(host.address, 10500) == "1.0.0"  # the failed run left the release serving


def test_ctrl_c_mid_deploy_stops_everything_and_the_next_deploy_takes_the_lock_at_once(
    lab: LabStatus, tmp_path: Path
) -> None:
    host = lab.hosts[0]
    name, base = "relctrlc", 10520
    v1 = make_spec(tmp_path, name=name, base=base, instances=2)
    v2 = make_spec(tmp_path, name=name, version="2.0.0", base=base, instances=2)
    assert api.deploy(v1, inventory=lab.inventory, hosts=host.name).ok
    proc = subprocess.Popen(
        [SHIPYARD, "deploy", str(v2), "-i", str(lab.inventory), "--hosts", host.name],
        env={**os.environ, "SHIPYARD_WORK_DIR": str(tmp_path / "w")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        lease = f"/run/shipyard/locks/{name}.json"
        watch = f"end=$(($(date +%s)+120)); until [ -e {lease} ]; do [ $(date +%s) -gt $end ] && exit 3; sleep 0.02; done"
        Lab(lab.name).ssh(host.name, ["sh", "-c", watch], timeout=150)
        tree = [p for p in descendants(proc.pid) if p != proc.pid]
        assert tree, "the deploy started no process"
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out + err
    assert "interrupted" in err
    assert "Traceback" not in err
    time.sleep(0.5)
    alive = [p for p in tree if Path(f"/proc/{p}").exists() and "ansible" in _cmdline(p)]
    assert not alive, f"left running after Ctrl-C: {[_cmdline(p) for p in alive]}"
    # the lease names a dead ansible-playbook: broken at once (a live holder would make this
    # fail after 3 s, as test_concurrent_deploys proves)
    started = time.monotonic()
    again = run_playbook(
        "deploy",
        inventory=lab.inventory,
        extravars={
            "shipyard_service": load_spec(v2).to_ansible(),
            "shipyard_release": "2.0.0",
            "shipyard_hosts": host.name,
            "shipyard_lock_wait": 3,
        },
        work_dir=tmp_path / "w",
        progress=None,
    )
    assert again.ok, (again.failures, time.monotonic() - started)
    assert {version_at(host.address, p) for p in (base, base + 1)} == {"2.0.0"}


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _tarball(tmp: Path, version: str, extra: list[tuple[str, bytes, int]]) -> tuple[Path, str]:
    """The hello 1.0.0 tarball plus ``extra`` members (name, type, mode), and its sha256."""
    import hashlib
    import io
    import tarfile

    from _hello import DIST

    out = tmp / f"hello-{version}.tar"
    with tarfile.open(DIST / "hello-1.0.0.tar") as src, tarfile.open(out, "w") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        for name, kind, mode in extra:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uid, info.gid = kind, mode, 0, 0
            if kind == tarfile.CHRTYPE:
                info.devmajor, info.devminor = 1, 3  # /dev/null's numbers
            data = b"x\n" if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data) if data else None)
    return out, hashlib.sha256(out.read_bytes()).hexdigest()


def test_a_release_never_keeps_devices_set_id_or_writable_files(lab: LabStatus, tmp_path: Path) -> None:
    """The multi strategy's release install on a real host: set-id and group/other write bits
    are stripped, a device node is refused naming the member, and the release before keeps
    serving."""
    import tarfile

    host = lab.hosts[1]
    name, base = "relunpack", 10540
    spec = make_spec(tmp_path, name=name, base=base, instances=1)
    assert api.deploy(spec, inventory=lab.inventory, hosts=host.name).ok
    art, digest = _tarball(
        tmp_path,
        "1.1.0",
        [
            ("bin", tarfile.DIRTYPE, 0o2777),
            ("bin/suid", tarfile.REGTYPE, 0o4755),
            ("data", tarfile.DIRTYPE, 0o777),
            ("data/open", tarfile.REGTYPE, 0o666),
        ],
    )
    doc = yaml.safe_load(spec.read_text())
    doc.update(version="1.1.0", artifact={"path": str(art), "sha256": digest})
    spec.write_text(yaml.safe_dump(doc))
    result = api.deploy(spec, inventory=lab.inventory, hosts=host.name)
    assert result.ok, result.failures
    release = f"/opt/shipyard/{name}/releases/1.1.0"
    modes = ssh(
        lab,
        host.name,
        [
            "stat",
            "-c",
            "%n %a %U",
            f"{release}/bin",
            f"{release}/bin/suid",
            f"{release}/data",
            f"{release}/data/open",
        ],
    )
    assert modes.split("\n")[:4] == [
        f"{release}/bin 755 root",
        f"{release}/bin/suid 755 root",
        f"{release}/data 755 root",
        f"{release}/data/open 644 root",
    ]

    art, digest = _tarball(tmp_path, "1.2.0", [("dev-null", tarfile.CHRTYPE, 0o666)])
    doc.update(version="1.2.0", artifact={"path": str(art), "sha256": digest})
    spec.write_text(yaml.safe_dump(doc))
    bad = api.deploy(spec, inventory=lab.inventory, hosts=host.name)
    assert not bad.ok
    assert any("dev-null" in f.message for f in bad.failures), bad.failures
    current = ssh(lab, host.name, ["readlink", f"/opt/shipyard/{name}/current"]).strip()
    assert current == release  # 1.1.0 (whose VERSION file says 1.0.0) still serves
    assert version_at(host.address, base) == "1.0.0"
    gone = Lab(lab.name).ssh(host.name, ["test", "-e", f"/opt/shipyard/{name}/releases/1.2.0"])
    assert gone.returncode != 0, "the refused release was left on the host"


def test_a_lookup_in_a_lambda_env_never_runs_and_reaches_the_function_as_written(
    tmp_path: Path, aws: Any, aws_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """playbooks/lambda.yml gets the function's env, alias and triggers from the same !unsafe
    vars file: a lookup in them is text in the function's configuration, never run."""
    import shutil
    import uuid

    from _hello import ROOT

    marker = tmp_path / "MARKER"
    lookup = _lookup(marker)
    name = f"lj-{uuid.uuid4().hex[:6]}"
    shutil.copytree(ROOT / "services" / "imageupload", tmp_path / "code")
    spec = tmp_path / f"{name}.yml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "version": "1.0.0",
                "strategy": "lambda",
                "env": {"IMAGES_TABLE": "t", "IMAGES_STREAM": "s", "EVIL": lookup},
                "secrets": {"TOKEN": {"env": "LJ_TOKEN"}},
                "lambda": {"source": "code", "handler": "app.handler"},
            }
        )
    )
    monkeypatch.setenv("LJ_TOKEN", "pa{{ 7*7 }}ss")
    result = api.deploy(spec, endpoint_url=aws_endpoint)
    assert result.ok, getattr(result, "message", result)
    assert not marker.exists()
    env = aws("lambda").get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    assert env["EVIL"] == lookup
    assert env["TOKEN"] == "pa{{ 7*7 }}ss"
