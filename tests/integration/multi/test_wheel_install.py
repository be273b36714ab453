"""``pip install`` alone gives working Ansible: the built wheel in a fresh venv, used from a
directory outside the checkout with plain ansible-doc and ansible-playbook (no shipyard CLI,
no ANSIBLE_COLLECTIONS_PATH): ansible-core's sys.path scan finds the collection; the Packer
template is installed; a real deploy with ``-e shipyard_spec=...`` reaches a lab host.

Nothing is downloaded: the wheel is installed with --no-deps, and the fresh venv sees the
test venv's site-packages (for ansible-core, pydantic, ...) through a .pth line, which adds
that directory only (the .pth files in it, such as an editable install's, are not run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from _hello import DIST, sha

from _root import ROOT

pytestmark = pytest.mark.lab

BIN = Path(sys.executable).parent
NAME = "wheel-hello"
BASE = 8570
#: the console scripts ansible-core would install, for a venv that got it through the .pth
SCRIPTS = {"ansible-doc": "ansible.cli.doc", "ansible-playbook": "ansible.cli.playbook"}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [str(BIN / "pip"), "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp), str(ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp.glob("shipyard-*.whl")
    env_dir = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, capture_output=True)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    (site / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--disable-pip-version-check", str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    for script, module in SCRIPTS.items():
        path = env_dir / "bin" / script
        path.write_text(f"#!{python}\nimport sys\nfrom {module} import main\nsys.exit(main())\n")
        path.chmod(0o755)
    return env_dir


def _env(venv: Path, home: Path) -> dict[str, str]:
    """A user's shell after `pip install shipyard`: no checkout on any path, no ANSIBLE_* set."""
    return {"PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


def _run(venv: Path, cwd: Path, argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, cwd=cwd, env=_env(venv, cwd), timeout=600, check=False, **kw
    )


def _site(venv: Path) -> Path:
    (site,) = (venv / "lib").glob("python3*/site-packages")
    return site


def test_the_installed_wheel_serves_ansible_doc_playbooks_and_the_packer_template(
    venv: Path, tmp_path: Path
) -> None:
    site = _site(venv)
    installed = site / "ansible_collections" / "shipyard" / "deploy"
    where = _run(venv, tmp_path, ["python", "-c", "import shipyard; print(shipyard.__file__)"])
    assert where.stdout.startswith(str(site)), where  # the wheel's copy, not the checkout
    doc = _run(venv, tmp_path, ["ansible-doc", "--json", "shipyard.deploy.service_instances"])
    assert doc.returncode == 0, doc.stderr
    (entry,) = json.loads(doc.stdout).values()
    assert entry["doc"]["filename"].startswith(str(installed)), entry["doc"]["filename"]
    spec_doc = _run(venv, tmp_path, ["ansible-doc", "shipyard.deploy.shipyard_spec"])
    assert spec_doc.returncode == 0 and "shipyard_spec" in spec_doc.stdout, spec_doc.stderr
    syntax = _run(
        venv, tmp_path, ["ansible-playbook", "-i", "localhost,", "--syntax-check", "shipyard.deploy.deploy"]
    )
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    assert "ERROR" not in syntax.stderr
    # a bake from a pip install finds its template where the API looks for it
    assert (installed / "packer" / "service.pkr.hcl").is_file()
    assert (installed / "packer" / "variables.pkr.hcl").is_file()
    packer = _run(
        venv,
        tmp_path,
        ["python", "-c", "from shipyard.core.collection import packer_dir; print(packer_dir())"],
    )
    assert packer.stdout.strip() == str((installed / "packer").resolve()), packer.stderr


def test_a_pip_install_deploys_with_plain_ansible_playbook_and_shipyard_spec(
    venv: Path, lab: Any, tmp_path: Path
) -> None:
    host = lab.hosts[-1]
    spec = tmp_path / f"{NAME}.yml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": NAME,
                "version": "1.0.0",
                "artifact": {"path": str(DIST / "hello-1.0.0.tar"), "sha256": sha("1.0.0")},
                "command": "/usr/bin/python3 server.py --port {port}",
                "instances": 1,
                "ports": {"base": BASE},
                "env": {"HELLO_NAME": NAME},
                "health": {"path": "/health", "timeout": 2, "interval": 0.2, "start_timeout": 15},
            }
        )
    )
    common = ["-i", str(lab.inventory), "--limit", host.name, "-e", f"shipyard_spec={spec.name}"]
    deploy = _run(venv, tmp_path, ["ansible-playbook", "shipyard.deploy.deploy", *common])
    assert deploy.returncode == 0, deploy.stdout[-4000:] + deploy.stderr
    assert "Load and validate the service spec (shipyard_spec)" in deploy.stdout
    with urllib.request.urlopen(f"http://{host.address}:{BASE}/", timeout=3) as resp:
        assert json.loads(resp.read())["service"] == NAME
    removed = _run(venv, tmp_path, ["ansible-playbook", "shipyard.deploy.remove", *common])
    assert removed.returncode == 0, removed.stdout[-4000:] + removed.stderr
