"""The house's rules that no import contract can check: each thing defined once.

- the strategy names: the spec's field, the registry and the CLI's --strategy read one tuple;
- the health and rollout defaults: only the spec model has them (roles, modules and playbooks
  receive the values and never re-default them);
- the public surface: every name of ``shipyard.__all__`` exists and the verbs are the API's;
- the results: each kind is its own type, told apart by ``kind``.
"""

from __future__ import annotations

import re
import typing

import pytest
import yaml

import shipyard
from _root import ROOT
from shipyard import api, strategies
from shipyard.cli import main
from shipyard.cli._base import _strategy_option
from shipyard.core.collection import collections_path
from shipyard.core.constants import STRATEGIES
from shipyard.core.errors import SpecError
from shipyard.core.spec import Health, Rollout, Service, load_spec


def test_the_strategy_names_are_written_once() -> None:
    assert typing.get_args(Service.model_fields["strategy"].annotation) == STRATEGIES
    assert set(strategies.REGISTRY) == set(STRATEGIES)

    @_strategy_option
    def probe() -> None: ...

    option = probe.__click_params__[0]  # type: ignore[attr-defined]
    assert tuple(option.type.choices) == STRATEGIES


def test_the_health_and_rollout_defaults_live_in_the_spec_model_only(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = yaml.safe_load((ROOT / "roles/service_instances/defaults/main.yml").read_text())
    assert "service_instances_health" not in defaults
    assert "service_instances_max_unavailable" not in defaults
    spec = yaml.safe_load((ROOT / "roles/service_instances/meta/argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    for name in ("service_instances_health", "service_instances_max_unavailable"):
        assert "default" not in options[name], name
    for sub in options["service_instances_health"]["options"].values():
        assert "default" not in sub
    monkeypatch.syspath_prepend(str(collections_path()))
    from ansible_collections.shipyard.deploy.plugins.modules import service_instances

    argspec = service_instances.ARGUMENT_SPEC
    assert "default" not in argspec["health"] and "default" not in argspec["max_unavailable"]
    assert all("default" not in o for o in argspec["health"]["options"].values())
    redefault = re.compile(r"shipyard_service\.(rollout|health)\.\w+\s*\|\s*default\(")
    for book in sorted((ROOT / "playbooks").glob("*.yml")):
        for line in book.read_text().splitlines():
            # a play keyword is read before variables are checked: its fallback is for that
            if line.startswith(("  max_fail_percentage:", "  serial:")):
                continue
            assert not redefault.search(line), (book.name, line)
    # and the spec model does have them
    assert Health().start_timeout == 30.0 and Rollout().max_unavailable == 1


def test_the_public_surface_is_exported_once() -> None:
    for name in shipyard.__all__:
        assert getattr(shipyard, name) is not None, name
    assert shipyard.deploy is api.deploy
    assert shipyard.SpecError is SpecError
    with pytest.raises(AttributeError):
        _ = shipyard.no_such_verb


def test_every_result_type_has_its_own_kind() -> None:
    kinds = [
        api.DeployResult.kind,
        api.LambdaResult.kind,
        api.BakeResult.kind,
        api.ImageResult.kind,
        api.PackageResult.kind,
        api.InvokeResult.kind,
    ]
    assert len(set(kinds)) == len(kinds)
    assert all(issubclass(t, api.Result) for t in (api.DeployResult, api.LambdaResult, api.BakeResult))


def test_deploy_of_an_ami_spec_is_refused_before_any_playbook(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to run the multi playbook silently: ami has no deploy (bake, then roll out)."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a playbook ran")

    monkeypatch.setattr(strategies.multi, "run_playbook", refuse)
    spec = ROOT / "services" / "hello-ami.yml"
    assert load_spec(spec).service.strategy == "ami"
    with pytest.raises(SpecError, match="the ami strategy has no deploy: use shipyard bake"):
        api.deploy(spec)
    assert main(["deploy", str(ROOT / "services" / "hello.yml"), "--strategy", "ami", "-q"]) == 2
    assert "the ami strategy has no deploy" in capsys.readouterr().err


def test_every_test_module_has_a_name_of_its_own() -> None:
    """pytest imports test modules by their basename (no packages under tests/): two files of
    one name in different folders break the whole collection."""
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
