"""The strategies, one home each, and the registry that maps a spec's strategy to its verbs.

Every strategy imports only :mod:`shipyard.core` (the container strategy's run side reuses the
multi engine); the API dispatches through :func:`verb`; nothing here imports the API or the
CLI (import-linter contracts in ``pyproject.toml`` keep it so).

A strategy is a :class:`Strategy`: its name (one of :data:`shipyard.core.constants.STRATEGIES`)
and the host-level verbs it supports, each ``(LoadedSpec, Options) -> Result``. Verbs of one
strategy only (``bake``, ``package``, ``build`` …) are functions of its package, listed in
``extras`` so that an error can point at them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from shipyard.core.constants import STRATEGIES, StrategyName
from shipyard.core.errors import SpecError
from shipyard.core.results import Result
from shipyard.core.spec import LoadedSpec
from shipyard.strategies import multi
from shipyard.strategies._options import Options
from shipyard.strategies.container import run as container
from shipyard.strategies.lambda_ import deploy as lambda_

__all__ = ["REGISTRY", "Options", "Strategy", "Verb", "get", "verb"]

#: A host-level verb: deploy, rollback, remove, status, promote.
Verb = Callable[[LoadedSpec, Options], Result]


@dataclass(frozen=True)
class Strategy:
    """What a strategy offers: its verbs by name, and the verbs of its own (for hints)."""

    name: StrategyName
    verbs: Mapping[str, Verb]
    extras: tuple[str, ...] = field(default=())


REGISTRY: Mapping[StrategyName, Strategy] = {
    "multi": Strategy(
        "multi",
        {"deploy": multi.deploy, "rollback": multi.rollback, "remove": multi.remove, "status": multi.status},
    ),
    "container": Strategy(
        "container",
        {
            "deploy": container.deploy,
            "rollback": multi.rollback,
            "remove": multi.remove,
            "status": multi.status,
        },
        extras=("build", "push"),
    ),
    "ami": Strategy("ami", {}, extras=("bake", "prune", "rollout")),
    "lambda": Strategy(
        "lambda",
        {"deploy": lambda_.deploy, "rollback": lambda_.rollback, "promote": lambda_.promote},
        extras=("package", "invoke"),
    ),
}
assert set(REGISTRY) == set(STRATEGIES), "one registry entry per strategy"


def get(name: str) -> Strategy:
    """The strategy called ``name`` (a SpecError naming the choices otherwise)."""
    if name not in REGISTRY:
        raise SpecError("--strategy", name, f"use one of {', '.join(STRATEGIES)}")
    return REGISTRY[name]  # type: ignore[index]


def verb(name: str, action: str) -> Verb:
    """The function that runs ``action`` for strategy ``name``, or a SpecError saying what to use."""
    strategy = get(name)
    found = strategy.verbs.get(action)
    if found is None:
        offered = [*strategy.verbs, *strategy.extras]
        raise SpecError(
            "strategy",
            name,
            f"the {name} strategy has no {action}: use shipyard {' / shipyard '.join(offered)}",
        )
    return found
