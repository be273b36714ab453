"""The CLI on apps: validate of an app (offline, with an inventory's numbers), exit 2 messages
naming services, hosts and numbers, the --json documents, and app errors before any host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from _root import ROOT
from shipyard.cli import main

SHOP = ROOT / "apps" / "shop.yml"


@pytest.fixture(autouse=True)
def no_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No inventory unless a test passes one (the lab's may be up on this machine)."""
    monkeypatch.setenv("SHIPYARD_INVENTORY", str(tmp_path / "no-inventory.yml"))
    monkeypatch.setenv("SHIPYARD_WORK_DIR", str(tmp_path / "work"))


def inventory(tmp_path: Path, memory: str = "4G", cpus: int = 4) -> Path:
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {
        "vars": {"shipyard_memory": memory, "shipyard_cpus": cpus},
        "children": {"web": {"hosts": {"w1": {"ansible_host": "192.0.2.1"}, "w2": {"ansible_host": "192.0.2.2"}}}},
    }}))
    return path


def app(tmp_path: Path, services: list[object], **extra: object) -> Path:
    path = tmp_path / "app.yml"
    path.write_text(yaml.safe_dump({"name": "shop", "services": services, **extra}))
    return path


def test_validate_of_the_shop_without_an_inventory_says_what_it_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SHOP)]) == 0
    captured = capsys.readouterr()
    assert f"{SHOP}: ok (app shop: 5 services; waves: catalog, imageupload, payments -> orders -> gateway)" in captured.out
    assert "skipped: placement, port clashes per host and capacity: no inventory" in captured.err


def test_validate_of_an_app_uses_the_inventory_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SHOP), "-i", str(inventory(tmp_path)), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is True
    (entry,) = doc["specs"]
    assert entry["app"] == "shop" and entry["waves"] == [["catalog", "imageupload", "payments"], ["orders"], ["gateway"]]
    assert entry["placement"] == {"w1": ["gateway", "orders", "catalog", "payments"],
                                  "w2": ["gateway", "orders", "catalog", "payments"]}
    w1 = entry["hosts"][0]
    assert (w1["host"], w1["memory_used"], w1["cpus_used"], w1["source"]) == ("w1", 8 * 64 * 1024**2, 2.0, "inventory")
    assert w1["memory_available"] == 4 * 1024**3 - 256 * 1024**2


def test_an_overcommitted_host_is_refused_with_exit_2_naming_the_host_and_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(SHOP), "-i", str(inventory(tmp_path, memory="512M", cpus=1))]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert ("capacity.memory: 'w1' is not allowed: the services placed on w1 need 512M (gateway 2 x 64M, "
            "orders 2 x 64M, catalog 2 x 64M, payments 2 x 64M), but it has 512M (inventory) less the 256M "
            "reserve x overcommit 1 = 256M") in captured.err
    assert "capacity.cpu: 'w2' is not allowed" in captured.err and "2 cores" in captured.err
    assert "Traceback" not in captured.err


def test_a_cycle_and_a_clash_give_one_json_error_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shop = ROOT / "services" / "shop"
    path = app(tmp_path, [
        {"spec": str(shop / "orders.yml"), "depends_on": ["payments"]},
        {"spec": str(shop / "payments.yml"), "depends_on": ["orders"]},
        {"spec": str(ROOT / "services" / "hello.yml"), "hosts": "w1"},
        {"spec": str(ROOT / "services" / "hello-container.yml"), "hosts": "web"},
    ])
    assert main(["validate", "--json", str(path), "-i", str(inventory(tmp_path))]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False
    fixes = [e["message"] for e in doc["specs"][0]["errors"]]
    assert any("'orders -> payments -> orders' is not allowed: the services depend on each other in a cycle" in m
               for m in fixes)
    assert any("services[3] (hello): 'hello' is not allowed: hello.yml (services[2]) and hello-container.yml" in m
               for m in fixes)


def test_a_port_clash_on_one_host_names_both_services_and_the_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = yaml.safe_load((ROOT / "services" / "shop" / "payments.yml").read_text())
    spec.update(name="refunds", ports={"base": 9301})
    spec["artifact"]["path"] = str(ROOT / "examples" / "dist" / "hello-1.0.0.tar")
    (tmp_path / "refunds.yml").write_text(yaml.safe_dump(spec))
    path = app(tmp_path, [{"spec": str(ROOT / "services" / "shop" / "payments.yml"), "hosts": "web"},
                          {"spec": "refunds.yml", "hosts": "w2"}])
    assert main(["validate", str(path), "-i", str(inventory(tmp_path)), "--offline"]) == 2
    err = capsys.readouterr().err
    assert ("services[1] (refunds).ports: 9301 is not allowed: port 9301 on host w2 is claimed by payments "
            "(instance 2) and refunds (instance 1)") in err
    assert "w1" not in err


def test_a_placement_matching_no_host_is_refused_before_status_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = app(tmp_path, [{"spec": str(ROOT / "services" / "shop" / "orders.yml"), "hosts": "db"}])
    assert main(["status", str(path), "-i", str(inventory(tmp_path)), "--json"]) == 2
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["exit_code"] == 2 and doc["field"] == "services[0] (orders).hosts" and doc["value"] == "db"
    assert not (tmp_path / "work" / "runs").exists() or not any((tmp_path / "work" / "runs").iterdir())


def test_logs_names_the_apps_services_for_an_unknown_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", str(SHOP), "--service", "order", "-i", str(inventory(tmp_path))]) == 2
    assert "--service: 'order' is not allowed: did you mean 'orders'?" in capsys.readouterr().err


def test_logs_refuses_a_lines_count_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", str(SHOP), "-n", "0"]) == 2
    assert "-n" in capsys.readouterr().err


def test_a_directory_is_validated_as_an_app(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(ROOT / "services" / "shop")]) == 0
    assert "ok (app shop: 4 services" in capsys.readouterr().out
    assert main(["validate", str(ROOT / "services")]) == 2  # hello is named by three specs there
    assert "both name a service so" in capsys.readouterr().err
