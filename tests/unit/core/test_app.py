"""The app file and its checks: model errors, globs, directory apps, duplicates, port clashes,
cycles, unknown dependencies, capacity with numbers, waves, placement by ansible's inventory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from _root import ROOT
from shipyard.core.app import (
    HostResources,
    app_json_schema,
    check_app,
    is_app,
    is_app_file,
    load_app,
    parse_resources,
    place,
    waves,
)
from shipyard.core.errors import SpecErrors

SHA = (ROOT / "examples" / "dist" / "hello-1.0.0.tar.sha256").read_text().split()[0]
ART = str(ROOT / "examples" / "dist" / "hello-1.0.0.tar")


def spec(tmp: Path, name: str, *, base: int, instances: int = 2, memory: str = "64M", cpu: str = "50%",
         balancer: int | None = None, sub: str = "services", **extra: Any) -> Path:
    doc: dict[str, Any] = {
        "name": name, "version": "1.0.0",
        "artifact": {"path": ART, "sha256": SHA},
        "command": "/usr/bin/python3 server.py --port {port}",
        "instances": instances, "ports": {"base": base},
        "resources": {"memory": memory, "cpu": cpu}, **extra,
    }
    if balancer is not None:
        doc["balancer"] = {"port": balancer}
    path = tmp / sub / f"{name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def app_file(tmp: Path, doc: dict[str, Any]) -> Path:
    path = tmp / "apps" / "app.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def messages(exc: pytest.ExceptionInfo[SpecErrors]) -> str:
    return "\n".join(e.message for e in exc.value.errors)


@pytest.fixture
def three(tmp_path: Path) -> Path:
    spec(tmp_path, "front", base=9000)
    spec(tmp_path, "back", base=9100)
    spec(tmp_path, "db", base=9200)
    return tmp_path


def test_an_app_file_loads_every_spec_with_placement_and_dependencies(three: Path) -> None:
    path = app_file(three, {"name": "shop", "services": [
        {"spec": "../services/front.yml", "hosts": "web", "depends_on": ["back"]},
        {"spec": "../services/back.yml", "depends_on": ["db"]},
        "../services/db.yml",
    ]})
    app = load_app(path)
    assert app.name == "shop"
    assert [(s.name, s.hosts, s.depends_on) for s in app.services] == [
        ("front", "web", ("back",)), ("back", "all", ("db",)), ("db", "all", ())]
    assert app.services[0].spec.service.port_list() == [9000, 9001]
    assert waves(app) == [["db"], ["back"], ["front"]]
    assert is_app_file(path) and is_app(path) and not is_app_file(three / "services" / "db.yml")
    check_app(app)


def test_a_glob_adds_the_specs_an_explicit_entry_does_not_place(three: Path) -> None:
    path = app_file(three, {"name": "shop", "services": [
        "../services/*.yml", {"spec": "../services/back.yml", "hosts": "api"}]})
    app = load_app(path)
    assert sorted((s.name, s.hosts) for s in app.services) == [("back", "api"), ("db", "all"), ("front", "all")]


def test_a_glob_that_matches_nothing_and_a_missing_file_are_named(three: Path) -> None:
    path = app_file(three, {"name": "shop", "services": ["../nothing/*.yml", "../services/nope.yml"]})
    with pytest.raises(SpecErrors) as exc:
        load_app(path)
    text = messages(exc)
    assert "services[0].spec: '../nothing/*.yml' is not allowed: the glob matches no spec file" in text
    assert "nope.yml" in text and "does not exist" in text


@pytest.mark.parametrize(("doc", "expected"), [
    ({"name": "shop", "servics": []}, "servics: [] is not allowed: unknown field: did you mean 'services'?"),
    ({"name": "Shop", "services": ["a.yml"]}, "name: 'Shop' is not allowed: use lowercase letters"),
    ({"name": "shop", "services": [{"spec": "a.yml", "host": "web"}]},
     "services[0].host: 'web' is not allowed: unknown field: did you mean 'hosts'?"),
    ({"name": "shop", "services": [{"spec": "a.yml", "hosts": "web; rm"}]},
     "services[0].hosts: 'web; rm' is not allowed: use an inventory pattern"),
    ({"name": "shop", "services": [{"spec": "a.yml", "depends_on": ["Bad"]}]},
     "services[0].depends_on: ['Bad'] is not allowed: 'Bad' is not a service name"),
    ({"name": "shop", "services": ["a.yml"], "capacity": {"overcommit": 0}},
     "capacity.overcommit: 0.0 is not allowed: use a value of at least 0.1"),
    ({"name": "shop", "services": ["a.yml"], "capacity": {"reserve_memory": "lots"}},
     "capacity.reserve_memory: 'lots' is not allowed: use a size with a K, M or G suffix"),
    ({"name": "shop", "services": []}, "services: [] is not allowed: list should have at least 1 item"),
    ({"name": "shop", "services": ["{{ evil }}.yml"]}, "remove the template markers"),
])
def test_app_file_errors_name_the_field_the_value_and_the_fix(tmp_path: Path, doc: dict[str, Any], expected: str) -> None:
    with pytest.raises(SpecErrors) as exc:
        load_app(app_file(tmp_path, doc))
    assert expected in messages(exc)
    assert exc.value.exit_code == 2


def test_a_bad_spec_in_an_app_is_reported_with_its_own_file(three: Path) -> None:
    bad = three / "services" / "bad.yml"
    bad.write_text("name: bad\nversion: 1.0.0\ninstance: 2\n")
    with pytest.raises(SpecErrors) as exc:
        load_app(app_file(three, {"name": "shop", "services": ["../services/*.yml"]}))
    assert f"{bad}: instance: 2 is not allowed: unknown field: did you mean 'instances'?" in messages(exc)


def test_a_directory_is_an_app_of_its_specs(three: Path) -> None:
    app = load_app(three / "services")
    assert app.name == "services"
    assert sorted(app.names()) == ["back", "db", "front"]
    assert all(s.hosts == "all" and not s.depends_on for s in app.services)
    assert is_app(three / "services")


def test_duplicate_names_name_both_files(three: Path) -> None:
    spec(three, "front", base=9500, sub="other")
    app = load_app(app_file(three, {"name": "shop", "services": ["../services/front.yml", "../other/front.yml"]}))
    with pytest.raises(SpecErrors) as exc:
        check_app(app)
    assert "services[1] (front): 'front' is not allowed: front.yml (services[0]) and front.yml both name" in messages(exc)


def test_an_unknown_dependency_gets_a_did_you_mean(three: Path) -> None:
    app = load_app(app_file(three, {"name": "shop", "services": [
        {"spec": "../services/front.yml", "depends_on": ["bakc"]}, "../services/back.yml"]}))
    with pytest.raises(SpecErrors) as exc:
        check_app(app)
    assert "services[0] (front).depends_on: 'bakc' is not allowed: not a service of the app: did you mean 'back'?" in messages(exc)


def test_a_cycle_is_named_service_by_service(three: Path) -> None:
    app = load_app(app_file(three, {"name": "shop", "services": [
        {"spec": "../services/front.yml", "depends_on": ["back"]},
        {"spec": "../services/back.yml", "depends_on": ["db"]},
        {"spec": "../services/db.yml", "depends_on": ["front"]}]}))
    with pytest.raises(SpecErrors) as exc:
        check_app(app)
    assert "'front -> back -> db -> front' is not allowed: the services depend on each other in a cycle" in messages(exc)
    with pytest.raises(SpecErrors):
        waves(app)


def test_a_port_clash_names_both_services_and_the_host(tmp_path: Path) -> None:
    spec(tmp_path, "front", base=9000, balancer=9100)
    spec(tmp_path, "back", base=9100)
    app = load_app(app_file(tmp_path, {"name": "shop", "services": [
        {"spec": "../services/front.yml", "hosts": "web"}, {"spec": "../services/back.yml", "hosts": "web-1"}]}))
    check_app(app)  # different patterns: no clash known without an inventory
    check_app(app, {"web-2": ["front"], "api-1": ["back"]})  # apart: fine
    with pytest.raises(SpecErrors) as exc:
        check_app(app, {"web-1": ["front", "back"], "web-2": ["front"]})
    assert exc.value.errors[0].message.endswith(
        "services[1] (back).ports: 9100 is not allowed: port 9100 on host web-1 is claimed by front "
        "(balancer) and back (instance 1): give one of them other ports, or place them apart")
    assert len(exc.value.errors) == 1


def test_same_placement_pattern_clashes_are_found_without_an_inventory(tmp_path: Path) -> None:
    spec(tmp_path, "front", base=9000)
    spec(tmp_path, "back", base=9001)
    app = load_app(tmp_path / "services")
    with pytest.raises(SpecErrors) as exc:
        check_app(app)
    assert "port 9001 on every host of 'all' is claimed by back (instance 1) and front (instance 2)" in messages(exc)


def test_capacity_memory_and_cpu_name_the_host_the_services_and_the_numbers(tmp_path: Path) -> None:
    spec(tmp_path, "front", base=9000, instances=4, memory="512M", cpu="50%")
    spec(tmp_path, "back", base=9100, instances=2, memory="1G", cpu="100%")
    app = load_app(app_file(tmp_path, {"name": "shop", "services": ["../services/front.yml", "../services/back.yml"],
                                       "capacity": {"reserve_memory": "512M"}}))
    placement = {"h1": ["front", "back"], "h2": ["front"]}
    big = HostResources(memory=8 * 1024**3, cpus=8, source="host")
    check_app(app, placement, {"h1": big, "h2": big})
    small = HostResources(memory=4 * 1024**3, cpus=2, source="inventory")
    with pytest.raises(SpecErrors) as exc:
        check_app(app, placement, {"h1": small, "h2": big})
    text = messages(exc)
    assert ("capacity.memory: 'h1' is not allowed: the services placed on h1 need 4G (front 4 x 512M, back 2 x 1G), "
            "but it has 4G (inventory) less the 512M reserve x overcommit 1 = 3.5G") in text
    assert ("capacity.cpu: 'h1' is not allowed: the services placed on h1 have CPU quotas of 4 cores "
            "(front 4 x 50%, back 2 x 100%), but it has 2 cores (inventory) x overcommit 1 = 2") in text
    assert "h2" not in text
    generous = load_app(app_file(tmp_path, {"name": "shop", "services": ["../services/*.yml"],
                                            "capacity": {"overcommit": 2.0, "reserve_memory": "256M"}}))
    check_app(generous, placement, {"h1": small, "h2": big})


def test_waves_put_independent_services_together(three: Path) -> None:
    app = load_app(app_file(three, {"name": "shop", "services": [
        {"spec": "../services/front.yml", "depends_on": ["back", "db"]}, "../services/back.yml", "../services/db.yml"]}))
    assert waves(app) == [["back", "db"], ["front"]]


def test_lambda_services_are_not_placed_and_refuse_hosts(tmp_path: Path) -> None:
    path = app_file(tmp_path, {"name": "shop", "services": [str(ROOT / "services" / "imageupload.yml")]})
    app = load_app(path)
    assert app.services[0].hosts is None and not app.services[0].on_hosts
    with pytest.raises(SpecErrors) as exc:
        load_app(app_file(tmp_path, {"name": "shop", "services": [
            {"spec": str(ROOT / "services" / "imageupload.yml"), "hosts": "web"}]}))
    assert "services[0].hosts: 'web' is not allowed: imageupload is a lambda service" in messages(exc)


def test_placement_resolves_patterns_with_ansibles_inventory(three: Path) -> None:
    inventory = ROOT / "inventories" / "example" / "hosts.yml"
    app = load_app(app_file(three, {"name": "shop", "services": [
        {"spec": "../services/front.yml", "hosts": "web"},
        {"spec": "../services/back.yml", "hosts": "api:!api-3"},
        {"spec": "../services/db.yml", "hosts": "api-3"}]}))
    assert place(app, inventory) == {"web-1": ["front"], "web-2": ["front"], "api-1": ["back"],
                                     "api-2": ["back"], "api-3": ["db"]}
    assert place(app, inventory, limit="web-1,api-3") == {"web-1": ["front"], "api-3": ["db"]}
    nowhere = load_app(app_file(three, {"name": "shop", "services": [{"spec": "../services/front.yml", "hosts": "db"}]}))
    with pytest.raises(SpecErrors) as exc:
        place(nowhere, inventory)
    assert "services[0] (front).hosts: 'db' is not allowed: matches no host of" in messages(exc)
    assert "(all, api, web)" in messages(exc)


def test_host_resources_are_parsed_from_the_one_remote_command() -> None:
    assert parse_resources("2\nMemTotal:       24576000 kB\n") == (24576000 * 1024, 2.0)
    assert parse_resources("4\nMemTotal: 24576000 kB\n1073741824\n") == (1073741824, 4.0)
    assert parse_resources("4\nMemTotal: 1000 kB\nmax\n") == (1024000, 4.0)


def test_the_shop_example_app_is_valid_and_its_waves_follow_the_article() -> None:
    app = load_app(ROOT / "apps" / "shop.yml")
    assert {s.name: s.strategy for s in app.services} == {
        "gateway": "multi", "orders": "multi", "catalog": "container", "payments": "multi", "imageupload": "lambda"}
    assert waves(app) == [["catalog", "imageupload", "payments"], ["orders"], ["gateway"]]
    check_app(app, {"h1": [s.name for s in app.host_services()]},
              {"h1": HostResources(memory=2 * 1024**3, cpus=4)})


def test_the_app_schema_accepts_the_example_apps() -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(app_json_schema())
    for path in sorted((ROOT / "apps").glob("*.yml")):
        assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == [], path
    assert not validator.is_valid({"name": "shop", "services": [{"spec": "a.yml", "host": "x"}]})
