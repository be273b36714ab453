"""``shipyard deploy APP`` on real lab hosts: every host service of the app in one playbook run,
wave by wave along depends_on; a second run changes nothing; bad apps (a port clash, an
overcommitted host, a cycle) are refused before any host changes; a failing service rolls back
alone, its dependents are skipped and an unrelated service finishes (exit 1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _apps import write_app, write_spec
from _relia import version_at

from shipyard import api
from shipyard.cli import main as cli_main
from shipyard.core.errors import SpecErrors
from shipyard.lab import Lab, LabStatus

pytestmark = pytest.mark.lab

HOSTS = "lab[0:1]"


def on_host(lab_api: Lab, host: str, service: str) -> bool:
    return lab_api.ssh(host, ["test", "-e", f"/opt/shipyard/{service}"]).returncode == 0


def entry(name: str, deps: list[str] | None = None) -> dict[str, Any]:
    return {"spec": f"../services/{name}.yml", "hosts": HOSTS, "depends_on": deps or []}


def test_an_app_deploys_in_waves_in_one_run_and_a_rerun_changes_nothing(
    lab: LabStatus, lab_api: Lab, tmp_path: Path
) -> None:
    bases = {"apdb": 9610, "apapi": 9620, "apweb": 9630, "apjob": 9640}
    for name, base in bases.items():
        write_spec(tmp_path, name, base)
    app = write_app(
        tmp_path,
        "waveapp",
        [entry("apweb", ["apapi"]), entry("apapi", ["apdb"]), entry("apdb"), entry("apjob")],
    )
    first = api.deploy(app, inventory=lab.inventory)
    assert isinstance(first, api.AppDeployResult)
    assert first.ok, [(s.service, s.state, s.message) for s in first.services]
    assert first.waves == (("apdb", "apjob"), ("apapi",), ("apweb",))
    assert {s.service: s.state for s in first.services} == dict.fromkeys(bases, "changed")
    for host in lab.hosts[:2]:
        for base in bases.values():
            assert [version_at(host.address, base + i) for i in range(2)] == ["1.0.0", "1.0.0"]
    again = api.deploy(app, inventory=lab.inventory)
    assert again.ok and {s.state for s in again.services} == {"ok"}, again
    # one playbook run: per wave one converge call per host, so a no-op is 3 remote calls per host
    assert again.remote_calls == {h.name: 3 for h in lab.hosts[:2]}


def test_bad_apps_are_refused_before_any_host_changes(lab: LabStatus, lab_api: Lab, tmp_path: Path) -> None:
    write_spec(tmp_path, "bdone", 9710)
    write_spec(tmp_path, "bdtwo", 9710)  # the same ports on the same hosts
    clash = write_app(tmp_path, "clashapp", [entry("bdone"), entry("bdtwo")])
    with pytest.raises(SpecErrors) as info:
        api.deploy(clash, inventory=lab.inventory)
    text = str(info.value)
    assert "bdone" in text and "bdtwo" in text and "9710" in text and lab.hosts[0].name in text

    write_spec(tmp_path, "bdfat", 9720, instances=4, memory="64G")
    fat = write_app(tmp_path, "fatapp", [entry("bdfat")])
    with pytest.raises(SpecErrors) as info:
        api.deploy(fat, inventory=lab.inventory)
    assert "capacity" in str(info.value) and "bdfat" in str(info.value)

    write_spec(tmp_path, "bdcya", 9730)
    write_spec(tmp_path, "bdcyb", 9740)
    cycle = write_app(tmp_path, "cycapp", [entry("bdcya", ["bdcyb"]), entry("bdcyb", ["bdcya"])])
    assert cli_main(["deploy", str(cycle), "-i", str(lab.inventory), "-q"]) == 2
    for host in lab.hosts[:2]:
        for name in ("bdone", "bdtwo", "bdfat", "bdcya", "bdcyb"):
            assert not on_host(lab_api, host.name, name), (host.name, name)


def test_a_failing_service_rolls_back_alone_its_dependents_are_skipped_and_the_rest_finishes(
    lab: LabStatus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bases = {"fbase": 9810, "fdep": 9820, "fother": 9830}
    for name, base in bases.items():
        write_spec(tmp_path, name, base)
    app = write_app(tmp_path, "failapp", [entry("fbase"), entry("fdep", ["fbase"]), entry("fother")])
    assert api.deploy(app, inventory=lab.inventory).ok
    # the base's new version never gets healthy; the unrelated service moves to 2.0.0
    write_spec(tmp_path, "fbase", bases["fbase"], version="9.9.9-broken")
    write_spec(tmp_path, "fdep", bases["fdep"], version="2.0.0")
    write_spec(tmp_path, "fother", bases["fother"], version="2.0.0")
    capsys.readouterr()
    code = cli_main(["deploy", str(app), "-i", str(lab.inventory), "--json", "-q"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1, doc["services"]
    states = {s["service"]: s["state"] for s in doc["services"]}
    assert states == {"fbase": "failed", "fdep": "skipped", "fother": "changed"}, doc
    dep = next(s for s in doc["services"] if s["service"] == "fdep")
    assert dep["blocked_by"] == ["fbase"]
    for host in lab.hosts[:2]:
        # rolled back: the base still serves 1.0.0; the dependent was not touched
        assert [version_at(host.address, bases["fbase"] + i) for i in range(2)] == ["1.0.0"] * 2
        assert [version_at(host.address, bases["fdep"] + i) for i in range(2)] == ["1.0.0"] * 2
        assert [version_at(host.address, bases["fother"] + i) for i in range(2)] == ["2.0.0"] * 2


def test_prune_removes_a_dropped_service_and_nothing_else(
    lab: LabStatus, lab_api: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bases = {"prkeep": 9910, "prdrop": 9920, "prelse": 9930}
    for name, base in bases.items():
        write_spec(tmp_path, name, base)
    app = write_app(tmp_path, "pruneapp", [entry("prkeep"), entry("prdrop")])
    assert api.deploy(app, inventory=lab.inventory).ok
    # a service outside the app, on the same hosts
    assert api.deploy(tmp_path / "services" / "prelse.yml", inventory=lab.inventory, hosts=HOSTS).ok
    write_app(tmp_path, "pruneapp", [entry("prkeep")])
    kept = api.deploy(app, inventory=lab.inventory)
    assert kept.ok and [s.service for s in kept.services] == ["prkeep"]
    hosts = list(lab.hosts[:2])
    for host in hosts:  # dropped from the file, but left running without --prune
        assert version_at(host.address, bases["prdrop"]) == "1.0.0"
    capsys.readouterr()
    assert cli_main(["deploy", str(app), "-i", str(lab.inventory), "--prune", "--check", "--json", "-q"]) == 0
    listed = {s["service"]: s["state"] for s in json.loads(capsys.readouterr().out)["services"]}
    assert listed == {"prkeep": "ok", "prdrop": "would be removed"}, listed
    for host in hosts:
        assert on_host(lab_api, host.name, "prdrop")
    pruned = api.deploy(app, inventory=lab.inventory, prune=True)
    assert pruned.ok, pruned
    assert {s.service: s.state for s in pruned.services} == {"prkeep": "ok", "prdrop": "removed"}
    for host in hosts:
        assert not on_host(lab_api, host.name, "prdrop")
        assert version_at(host.address, bases["prdrop"]) is None
        assert version_at(host.address, bases["prkeep"]) == "1.0.0"
        assert version_at(host.address, bases["prelse"]) == "1.0.0"


def test_the_shop_deploys_in_one_run_and_a_second_run_changes_nothing(
    lab: LabStatus, aws: Any, aws_endpoint: str
) -> None:
    from _root import ROOT

    shop = ROOT / "apps" / "shop.yml"
    aws("s3").create_bucket(Bucket="imageupload-images")  # the Lambda's S3 trigger's bucket
    first = api.deploy(shop, inventory=lab.inventory, endpoint_url=aws_endpoint)
    assert isinstance(first, api.AppDeployResult)
    assert first.ok, [(s.service, s.state, s.message) for s in first.services]
    states = {s.service: s.state for s in first.services}
    assert states == {
        "gateway": "changed",
        "orders": "changed",
        "catalog": "changed",
        "payments": "changed",
        "imageupload": "changed",
    }, first.services
    # the gateway's balancer and every instance answer on every host
    for host in lab.hosts:
        assert version_at(host.address, 9000) == "1.0.0"
    again = api.deploy(shop, inventory=lab.inventory, endpoint_url=aws_endpoint)
    assert again.ok, [(s.service, s.state, s.message) for s in again.services]
    function = aws("lambda").get_function(FunctionName="imageupload")["Configuration"]
    assert function["FunctionName"] == "imageupload"
    assert {s.service: s.state for s in again.services} == dict.fromkeys(states, "ok"), again.services
