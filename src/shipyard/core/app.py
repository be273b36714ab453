"""An application: many service specs deployed, checked and operated as one.

An app file names its service specs (paths or globs relative to the app file), where each one
runs (an inventory pattern) and what it depends on::

    name: shop
    services:
      - spec: ../services/shop/catalog.yml
        hosts: all
      - spec: ../services/shop/orders.yml
        depends_on: [catalog, payments]
      - ../services/shop/*.yml          # a string: a path or glob, on all hosts, no dependencies
    capacity: {overcommit: 1.0, reserve_memory: 256M}

A directory is an app too: every ``*.yml`` spec in it, on all hosts, named after the directory.

:func:`load_app` reads and validates the file and every spec once (all the errors at once);
:func:`check_app` refuses, before any host is touched, duplicate names, unknown dependencies, a
dependency cycle, two services claiming a port on one host and a host whose memory or cores
the services placed there exceed. The checks are pure (numbers in, errors out); :func:`place`
resolves placements with ansible-core's inventory, :func:`inventory_resources` and
:func:`read_host_resources` find each host's memory and cores. :func:`waves` orders the
services by ``depends_on``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shipyard.core import safeyaml
from shipyard.core.errors import OperationError, SpecError, SpecErrors
from shipyard.core.progress import ProgressCallback
from shipyard.core.results import Result
from shipyard.core.runner import run_playbook
from shipyard.core.spec import (
    _UNITS,
    MEMORY_RE,
    NAME_FIX,
    NAME_RE,
    LoadedSpec,
    _field_name,
    _fix_for,
    _text_errors,
    load_spec,
)

#: The strategies whose services run on the inventory's hosts (placed, port- and capacity-checked).
HOST_STRATEGIES = ("multi", "container")
#: Ansible host patterns: names, groups, wildcards, ``:`` ``&`` ``!`` ``,``, ``~regex``, ranges.
PATTERN_RE = re.compile(r"^[A-Za-z0-9_.*?:&!,~\[\]^$()|+\\-]{1,400}\Z")
PATTERN_FIX = (
    "use an inventory pattern: a host or group name, 'all', wildcards, or groups joined by "
    "':' '&' '!' (e.g. web:&eu)"
)
_GLOB_CHARS = re.compile(r"[*?\[]")
#: The inventory variables that override what is read from a host.
MEMORY_VAR, CPUS_VAR = "shipyard_memory", "shipyard_cpus"
DEFAULT_RESERVE = "256M"


def parse_memory(value: str) -> int:
    """Bytes of a size such as ``64M`` (the spec's ``resources.memory`` format)."""
    match = MEMORY_RE.match(value)
    if match is None:
        raise ValueError("use a size with a K, M or G suffix, e.g. 256M or 4G")
    return int(match.group(1)) * _UNITS[match.group(2)]


def format_bytes(value: float) -> str:
    """``1.5G``, ``256M``, ``12K``: short and exact enough for an error line."""
    for unit, size in (("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if abs(value) >= size:
            text = f"{value / size:.2f}".rstrip("0").rstrip(".")
            return f"{text}{unit}"
    return f"{int(value)}B"


# -- the file ------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class AppEntry(_Model):
    """One line of ``services``: a spec (or a glob of specs), its placement and dependencies."""

    spec: str = Field(description="Path or glob of service specs, relative to the app file.")
    hosts: str = Field(default="all", description="Inventory pattern or group the service runs on.")
    depends_on: list[str] = Field(
        default_factory=list, description="Services that must be healthy before this one rolls."
    )

    @field_validator("spec")
    @classmethod
    def _spec(cls, value: str) -> str:
        if not value.strip() or value.startswith("-"):
            raise ValueError("give the path of a spec file (or a glob), relative to the app file")
        return value

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: str) -> str:
        if not PATTERN_RE.match(value):
            raise ValueError(PATTERN_FIX)
        return value

    @field_validator("depends_on")
    @classmethod
    def _deps(cls, value: list[str]) -> list[str]:
        for name in value:
            if not NAME_RE.match(name):
                raise ValueError(f"{name!r} is not a service name: {NAME_FIX}")
        if len(set(value)) != len(value):
            raise ValueError("name each dependency once")
        return value


class AppCapacity(_Model):
    """How much of each host the app's services may claim."""

    overcommit: float = Field(
        default=1.0, ge=0.1, le=100, description="Factor on memory (less the reserve) and cores."
    )
    reserve_memory: str = Field(
        default=DEFAULT_RESERVE, description="Memory kept for the host itself (not given to services)."
    )

    @field_validator("overcommit", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("use a number such as 1.0 or 1.5")
        return float(value) if isinstance(value, int) else value

    @field_validator("reserve_memory", mode="before")
    @classmethod
    def _reserve(cls, value: Any) -> Any:
        if isinstance(value, str):
            parse_memory(value)
        return value


class AppFile(_Model):
    """The app file's format."""

    name: str = Field(description="The app's name: lowercase letters, digits and '-' (max 40).")
    services: list[AppEntry] = Field(min_length=1, description="The app's services.")
    capacity: AppCapacity = Field(default_factory=AppCapacity)

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        if isinstance(value, str) and not NAME_RE.match(value):
            raise ValueError(NAME_FIX)
        return value

    @field_validator("services", mode="before")
    @classmethod
    def _entries(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"spec": item} if isinstance(item, str) else item for item in value]
        return value


_MODELS: dict[str, type[BaseModel]] = {"": AppFile, "services": AppEntry, "capacity": AppCapacity}


def _app_errors(exc: ValidationError, source: str) -> SpecErrors:
    out: list[SpecError] = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        model = _MODELS.get(next((str(p) for p in loc[:-1] if isinstance(p, str)), ""), AppFile)
        known = list(model.model_fields)
        ctx = error.get("ctx") or {}
        inner = ctx.get("error")
        fix = str(inner) if error["type"] == "value_error" and inner is not None else _fix_for(error, known)
        value = "(missing)" if error["type"] == "missing" else error.get("input")
        out.append(SpecError(_field_name(loc), value, fix, source=source))
    return SpecErrors(out)


def app_json_schema() -> dict[str, Any]:
    """The JSON Schema of the app file (a ``services`` item may be a plain string)."""
    schema = AppFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "shipyard app"
    props = schema["properties"]
    props["name"]["pattern"] = NAME_RE.pattern.replace("\\Z", "(?![\\s\\S])")
    props["services"]["items"] = {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/AppEntry"}]}
    return schema


# -- the loaded app ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppService:
    """One service of an app: its validated spec, where it runs, what it waits for."""

    name: str
    spec: LoadedSpec
    #: the inventory pattern it runs on; None for services that run in AWS (lambda, ami)
    hosts: str | None
    depends_on: tuple[str, ...]
    #: the index of the ``services`` entry that named it (for error messages)
    entry: int

    @property
    def strategy(self) -> str:
        """The spec's strategy."""
        return self.spec.service.strategy

    @property
    def on_hosts(self) -> bool:
        """True for the strategies that run on the inventory's hosts (multi, container)."""
        return self.hosts is not None

    def claims(self) -> list[tuple[int, str]]:
        """The ports an instance of it listens on per host, with what claims each."""
        ports = [(p, f"instance {i + 1}") for i, p in enumerate(self.spec.service.port_list())]
        if self.spec.service.balancer is not None:
            ports.append((self.spec.service.balancer.port, "balancer"))
        return ports


@dataclass(frozen=True)
class App:
    """A validated app: its services in the order the app file lists them."""

    name: str
    #: the app file, or the directory that is the app
    path: Path
    services: tuple[AppService, ...]
    overcommit: float = 1.0
    reserve_memory: int = 256 * 1024**2

    @property
    def source(self) -> str:
        """The path errors name."""
        return str(self.path)

    def service(self, name: str) -> AppService:
        """The service called ``name`` (a SpecError naming the app's services otherwise)."""
        for svc in self.services:
            if svc.name == name:
                return svc
        raise SpecError("--service", name, _choice_fix(name, self.names()))

    def names(self) -> list[str]:
        """The services' names, in app order."""
        return [s.name for s in self.services]

    def host_services(self) -> tuple[AppService, ...]:
        """The services that run on hosts (multi, container)."""
        return tuple(s for s in self.services if s.on_hosts)


def _choice_fix(name: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}use one of the app's services: {', '.join(names) or '(none)'}"


def is_app_file(path: Path | str) -> bool:
    """True when ``path`` is an app file: a YAML mapping with ``services`` and no spec fields.

    A file that cannot be read or parsed is no app file (the spec loader then names the error).
    """
    try:
        data = safeyaml.load(Path(path))
    except SpecError:
        return False
    return (
        isinstance(data, dict) and "services" in data and not {"command", "artifact", "version"} & set(data)
    )


def is_app(path: Path | str) -> bool:
    """True when ``path`` is a directory (an app of its specs) or an app file."""
    p = Path(path)
    return p.is_dir() or is_app_file(p)


def load_app(path: Path | str) -> App:
    """Read and validate an app file or directory and every spec it names, all errors at once.

    Raises:
        SpecErrors: the app file or a spec is invalid, a path matches no file (exit 2).
    """
    p = Path(path)
    if p.is_dir():
        return _directory_app(p)
    source = str(p)
    data = safeyaml.load(p)
    if not isinstance(data, dict):
        raise SpecErrors(
            [SpecError("", type(data).__name__, "an app file is a mapping (name:, services:)", source=source)]
        )
    bad = _text_errors(data, source)
    if bad:
        raise SpecErrors(bad)
    try:
        model = AppFile.model_validate(data)
    except ValidationError as exc:
        raise _app_errors(exc, source) from None
    errors: list[SpecError] = []
    chosen: dict[Path, int] = {}  # spec file -> the entry that places it
    explicit: set[Path] = set()
    matched: dict[int, list[Path]] = {}
    for index, entry in enumerate(model.services):
        field = f"services[{index}].spec"
        if _GLOB_CHARS.search(entry.spec):
            files = _glob(p.parent, entry.spec)
            files = [f for f in files if f.is_file() and f.resolve() != p.resolve() and not is_app_file(f)]
            if not files:
                errors.append(
                    SpecError(
                        field, entry.spec, "the glob matches no spec file: fix the pattern", source=source
                    )
                )
        else:
            target = _norm(p.parent / entry.spec)
            if target.resolve() == p.resolve() or (target.is_file() and is_app_file(target)):
                errors.append(
                    SpecError(
                        field, entry.spec, "that is an app file: an app names service specs", source=source
                    )
                )
                continue
            if target.resolve() in explicit:
                first = chosen[target.resolve()]
                errors.append(
                    SpecError(
                        field, entry.spec, f"services[{first}] names the same file: keep one", source=source
                    )
                )
                continue
            files = [target]
            explicit.add(target.resolve())
        matched[index] = files
    for index, files in matched.items():  # an explicit entry wins over a glob that matches it too
        for f in files:
            key = f.resolve()
            if key not in chosen or (key in explicit and not _GLOB_CHARS.search(model.services[index].spec)):
                chosen[key] = index
    services: list[AppService] = []
    for index, files in matched.items():
        entry = model.services[index]
        for f in files:
            if chosen.get(f.resolve()) != index:
                continue
            try:
                loaded = load_spec(f)
            except SpecErrors as exc:
                errors.extend(exc.errors)
                continue
            except SpecError as exc:
                errors.append(exc)
                continue
            services.append(_service(loaded, entry, index, source, errors))
    if errors:
        raise SpecErrors(errors)
    return App(
        name=model.name,
        path=p,
        services=tuple(services),
        overcommit=model.capacity.overcommit,
        reserve_memory=parse_memory(model.capacity.reserve_memory),
    )


def _glob(base: Path, pattern: str) -> list[Path]:
    """The files ``pattern`` matches, relative to ``base`` unless absolute, sorted."""
    found = Path("/").glob(pattern.lstrip("/")) if pattern.startswith("/") else base.glob(pattern)
    return sorted(_norm(f) for f in found)


def _norm(path: Path) -> Path:
    """``apps/../services/a.yml`` as ``services/a.yml`` (what error messages name)."""
    return Path(os.path.normpath(path))


def _service(
    loaded: LoadedSpec, entry: AppEntry, index: int, source: str, errors: list[SpecError]
) -> AppService:
    strategy = loaded.service.strategy
    hosts: str | None = entry.hosts
    if strategy not in HOST_STRATEGIES:
        if "hosts" in entry.model_fields_set:
            errors.append(
                SpecError(
                    f"services[{index}].hosts",
                    entry.hosts,
                    f"{loaded.service.name} is a {strategy} service: it runs in AWS, not on the "
                    "inventory's hosts: remove hosts",
                    source=source,
                )
            )
        hosts = None
    return AppService(loaded.service.name, loaded, hosts, tuple(entry.depends_on), index)


def _directory_app(path: Path) -> App:
    name = path.resolve().name
    if not NAME_RE.match(name):
        raise SpecErrors(
            [
                SpecError(
                    "",
                    name,
                    f"a directory app is named after its directory: {NAME_FIX} (or write an app file)",
                    source=str(path),
                )
            ]
        )
    files = [f for f in sorted(path.glob("*.yml")) if f.is_file() and not is_app_file(f)]
    if not files:
        raise SpecErrors([SpecError("", str(path), "the directory holds no *.yml spec", source=str(path))])
    errors: list[SpecError] = []
    services: list[AppService] = []
    for index, f in enumerate(files):
        try:
            loaded = load_spec(f)
        except SpecErrors as exc:
            errors.extend(exc.errors)
            continue
        except SpecError as exc:
            errors.append(exc)
            continue
        services.append(_service(loaded, AppEntry(spec=f.name), index, str(path), errors))
    if errors:
        raise SpecErrors(errors)
    return App(name=name, path=path, services=tuple(services), reserve_memory=parse_memory(DEFAULT_RESERVE))


def as_app(app: App | Path | str) -> App:
    """``app`` itself when already loaded, else the app file or directory read once."""
    return app if isinstance(app, App) else load_app(app)


# -- checks (pure) -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostResources:
    """What a host offers the app's services."""

    memory: int
    cpus: float
    #: where the numbers came from: ``inventory`` (shipyard_memory / shipyard_cpus) or ``host``
    source: str = "host"


def _where(svc: AppService) -> str:
    return f"services[{svc.entry}] ({svc.name})"


def structure_problems(app: App) -> list[SpecError]:
    """Duplicate names, dependencies on services not in the app, and dependency cycles."""
    out: list[SpecError] = []
    seen: dict[str, AppService] = {}
    for svc in app.services:
        first = seen.get(svc.name)
        if first is not None:
            out.append(
                SpecError(
                    _where(svc),
                    svc.name,
                    f"{first.spec.path.name} (services[{first.entry}]) and {svc.spec.path.name} both "
                    "name a service so: give each service its own name",
                    source=app.source,
                )
            )
        else:
            seen[svc.name] = svc
    names = list(seen)
    for svc in app.services:
        for dep in svc.depends_on:
            if dep == svc.name:
                out.append(
                    SpecError(
                        f"{_where(svc)}.depends_on",
                        dep,
                        "a service cannot depend on itself",
                        source=app.source,
                    )
                )
            elif dep not in seen:
                out.append(
                    SpecError(
                        f"{_where(svc)}.depends_on",
                        dep,
                        f"not a service of the app: {_choice_fix(dep, names)}",
                        source=app.source,
                    )
                )
    for cycle in _cycles(app):
        first = seen[cycle[0]]
        out.append(
            SpecError(
                f"{_where(first)}.depends_on",
                " -> ".join([*cycle, cycle[0]]),
                "the services depend on each other in a cycle: remove one of these dependencies",
                source=app.source,
            )
        )
    return out


def _graph(app: App) -> dict[str, list[str]]:
    names = {s.name for s in app.services}
    graph: dict[str, list[str]] = {}
    for s in app.services:
        graph.setdefault(s.name, []).extend(d for d in s.depends_on if d in names and d != s.name)
    return graph


def _cycles(app: App) -> list[list[str]]:
    """One cycle per strongly connected component of the dependency graph (Tarjan)."""
    graph = _graph(app)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            comp = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                comp.append(top)
                if top == node:
                    break
            if len(comp) > 1:
                components.append(comp)

    for node in graph:
        if node not in index:
            connect(node)
    out: list[list[str]] = []
    for comp in components:  # walk the cycle inside the component from its first node in app order
        members = set(comp)
        start = next(n for n in graph if n in members)
        path, node = [start], start
        while True:
            node = next(n for n in graph[node] if n in members)
            if node in path:
                out.append(path[path.index(node) :])
                break
            path.append(node)
    return out


def waves(app: App) -> list[list[str]]:
    """The services in waves: each wave depends only on earlier ones (sorted within a wave).

    Raises:
        SpecErrors: duplicate names, an unknown dependency or a cycle.
    """
    problems = structure_problems(app)
    if problems:
        raise SpecErrors(problems)
    graph = _graph(app)
    done: set[str] = set()
    out: list[list[str]] = []
    while len(done) < len(graph):
        wave = sorted(n for n, deps in graph.items() if n not in done and all(d in done for d in deps))
        out.append(wave)
        done.update(wave)
    return out


def port_problems(app: App, placement: Mapping[str, Sequence[str]]) -> list[SpecError]:
    """Two services claiming one port (an instance's or a balancer's) on the same host."""
    out: list[SpecError] = []
    reported: set[tuple[str, str, int]] = set()
    by_name = {s.name: s for s in app.services}
    for host, names in placement.items():
        claimed: dict[int, tuple[AppService, str]] = {}
        for name in names:
            svc = by_name.get(name)
            if svc is None:
                continue
            for port, what in svc.claims():
                other = claimed.get(port)
                if other is None:
                    claimed[port] = (svc, what)
                    continue
                key = (other[0].name, svc.name, port)
                if key in reported or other[0].name == svc.name:
                    continue
                reported.add(key)
                out.append(
                    SpecError(
                        f"{_where(svc)}.ports",
                        port,
                        f"port {port} on host {host} is claimed by {other[0].name} ({other[1]}) and "
                        f"{svc.name} ({what}): give one of them other ports, or place them apart",
                        source=app.source,
                    )
                )
    return out


def offline_port_problems(app: App) -> list[SpecError]:
    """Port clashes between services with the same placement pattern (they share every host it
    matches): what can be checked without an inventory."""
    groups: dict[str, list[str]] = {}
    for svc in app.host_services():
        assert svc.hosts is not None
        groups.setdefault(svc.hosts, []).append(svc.name)
    out: list[SpecError] = []
    for pattern, names in groups.items():
        for error in port_problems(app, {f"'{pattern}'": names}):
            error.fix = error.fix.replace(f"on host '{pattern}'", f"on every host of {pattern!r}")
            error.message = error.message.replace(f"on host '{pattern}'", f"on every host of {pattern!r}")
            out.append(error)
    return out


@dataclass(frozen=True)
class HostLoad:
    """What the services placed on one host claim, against what it offers."""

    host: str
    memory_used: int
    memory_available: float
    cpus_used: float
    cpus_available: float
    source: str
    #: per service: (name, instances, memory per instance or None, cpu cores per instance or None)
    services: tuple[tuple[str, int, int | None, float | None], ...] = ()

    @property
    def fits(self) -> bool:
        """True when both memory and CPU fit."""
        return self.memory_used <= self.memory_available and self.cpus_used <= self.cpus_available + 1e-9


def host_loads(
    app: App, placement: Mapping[str, Sequence[str]], resources: Mapping[str, HostResources]
) -> list[HostLoad]:
    """Per host with known resources: memory and cores the placed services claim and may claim."""
    by_name = {s.name: s for s in app.services}
    out: list[HostLoad] = []
    for host, names in placement.items():
        res = resources.get(host)
        if res is None:
            continue
        rows: list[tuple[str, int, int | None, float | None]] = []
        for name in names:
            svc = by_name.get(name)
            if svc is None:
                continue
            limits = svc.spec.service.resources
            memory = parse_memory(limits.memory) if limits.memory else None
            cpu = int(limits.cpu.rstrip("%")) / 100 if limits.cpu else None
            rows.append((name, svc.spec.service.instances, memory, cpu))
        out.append(
            HostLoad(
                host=host,
                memory_used=sum(n * (m or 0) for _, n, m, _ in rows),
                memory_available=max(0.0, (res.memory - app.reserve_memory) * app.overcommit),
                cpus_used=round(sum(n * (c or 0) for _, n, _, c in rows), 6),
                cpus_available=res.cpus * app.overcommit,
                source=res.source,
                services=tuple(rows),
            )
        )
    return out


def capacity_problems(
    app: App, placement: Mapping[str, Sequence[str]], resources: Mapping[str, HostResources]
) -> list[SpecError]:
    """Hosts whose memory (less the reserve, times overcommit) or cores (times overcommit) the
    services placed there exceed; each names the host, the services and the numbers."""
    out: list[SpecError] = []
    for load in host_loads(app, placement, resources):
        res = resources[load.host]
        if load.memory_used > load.memory_available:
            parts = ", ".join(f"{name} {n} x {format_bytes(m)}" for name, n, m, _ in load.services if m)
            out.append(
                SpecError(
                    "capacity.memory",
                    load.host,
                    f"the services placed on {load.host} need {format_bytes(load.memory_used)} "
                    f"({parts}), but it has {format_bytes(res.memory)} ({res.source}) less the "
                    f"{format_bytes(app.reserve_memory)} reserve x overcommit {app.overcommit:g} = "
                    f"{format_bytes(load.memory_available)}: place fewer instances there, lower "
                    "resources.memory, or raise capacity.overcommit",
                    source=app.source,
                )
            )
        if load.cpus_used > load.cpus_available + 1e-9:
            parts = ", ".join(f"{name} {n} x {c * 100:g}%" for name, n, _, c in load.services if c)
            out.append(
                SpecError(
                    "capacity.cpu",
                    load.host,
                    f"the services placed on {load.host} have CPU quotas of {load.cpus_used:g} cores "
                    f"({parts}), but it has {res.cpus:g} cores ({res.source}) x overcommit "
                    f"{app.overcommit:g} = {load.cpus_available:g}: place fewer instances there, lower "
                    "resources.cpu, or raise capacity.overcommit",
                    source=app.source,
                )
            )
    return out


def check_app(
    app: App,
    placement: Mapping[str, Sequence[str]] | None = None,
    resources: Mapping[str, HostResources] | None = None,
) -> None:
    """Refuse the app before any host is touched: duplicates, unknown dependencies, cycles, and,
    given a placement (host -> service names), port clashes per host and, given each host's
    resources, capacity. Without a placement, services with the same placement pattern are
    checked for port clashes.

    Raises:
        SpecErrors: every problem at once (exit 2).
    """
    problems = structure_problems(app)
    if placement is None:
        problems += offline_port_problems(app)
    else:
        problems += port_problems(app, placement)
        if resources:
            problems += capacity_problems(app, placement, resources)
    if problems:
        raise SpecErrors(problems)


# -- the inventory (controller side) -------------------------------------------------------------


class InventoryView:
    """An inventory read by ansible-core itself (any format, group_vars included)."""

    def __init__(self, path: Path | str) -> None:
        from ansible.inventory.manager import InventoryManager  # noqa: PLC0415 - heavy: only when asked
        from ansible.parsing.dataloader import DataLoader  # noqa: PLC0415
        from ansible.vars.manager import VariableManager  # noqa: PLC0415

        self.path = Path(path)
        loader = DataLoader()
        self._inventory = InventoryManager(loader=loader, sources=[str(self.path)])
        self._variables = VariableManager(loader=loader, inventory=self._inventory)

    def hosts(self, pattern: str = "all") -> list[str]:
        """The names of the hosts ``pattern`` matches, in inventory order."""
        return [h.name for h in self._inventory.list_hosts(pattern)]

    def groups(self) -> list[str]:
        """The inventory's group names."""
        return sorted(self._inventory.groups)

    def host_vars(self, host: str) -> dict[str, Any]:
        """The host's variables (group vars, host vars), not templated."""
        found = self._inventory.get_host(host)
        if found is None:
            return {}
        return dict(self._variables.get_vars(host=found, include_hostvars=False))


def place(
    app: App, inventory: Path | str | InventoryView, *, limit: str | None = None
) -> dict[str, list[str]]:
    """Where each host service of the app runs: {host: [service names]}, inventory order.

    Args:
        app: the app.
        inventory: the inventory path (or one already read).
        limit: a host pattern the placement is intersected with (``--hosts``).

    Raises:
        SpecErrors: a placement matches no host of the inventory (exit 2).
    """
    view = inventory if isinstance(inventory, InventoryView) else InventoryView(inventory)
    order = view.hosts("all")
    out: dict[str, list[str]] = {h: [] for h in order}
    errors: list[SpecError] = []
    for svc in app.host_services():
        assert svc.hosts is not None
        matched = set(view.hosts(svc.hosts))
        if not matched:
            groups = ", ".join(g for g in view.groups() if g not in ("ungrouped",))
            errors.append(
                SpecError(
                    f"{_where(svc)}.hosts",
                    svc.hosts,
                    f"matches no host of {view.path}: use a host or group of it ({groups})",
                    source=app.source,
                )
            )
            continue
        if limit:
            matched &= set(view.hosts(limit))
        for host in order:
            if host in matched:
                out[host].append(svc.name)
    if errors:
        raise SpecErrors(errors)
    return {h: names for h, names in out.items() if names}


def _size_var(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        return parse_memory(value)
    raise ValueError("use a size such as 4G or 512M (or a number of bytes)")


def inventory_resources(
    view: InventoryView, hosts: Iterable[str]
) -> tuple[dict[str, HostResources], list[str]]:
    """The resources the inventory states (``shipyard_memory``, ``shipyard_cpus``) and the
    hosts for which it states neither or only one (to be read from the hosts).

    Raises:
        SpecErrors: a value is not a size or a number of cores (exit 2).
    """
    known: dict[str, HostResources] = {}
    partial: list[str] = []
    errors: list[SpecError] = []
    for host in hosts:
        hvars = view.host_vars(host)
        memory_raw, cpus_raw = hvars.get(MEMORY_VAR), hvars.get(CPUS_VAR)
        memory: int | None = None
        cpus: float | None = None
        if memory_raw is not None:
            try:
                memory = _size_var(memory_raw)
            except ValueError as exc:
                errors.append(SpecError(f"{host}: {MEMORY_VAR}", memory_raw, str(exc), source=str(view.path)))
        if cpus_raw is not None:
            if isinstance(cpus_raw, (int, float)) and not isinstance(cpus_raw, bool) and cpus_raw > 0:
                cpus = float(cpus_raw)
            else:
                errors.append(
                    SpecError(
                        f"{host}: {CPUS_VAR}",
                        cpus_raw,
                        "use a number of cores such as 2 or 0.5",
                        source=str(view.path),
                    )
                )
        if memory is not None and cpus is not None:
            known[host] = HostResources(memory, cpus, "inventory")
        else:
            partial.append(host)
    if errors:
        raise SpecErrors(errors)
    return known, partial


def parse_resources(text: str) -> tuple[int, float]:
    """Memory (bytes) and cores from ``playbooks/host_resources.yml``'s output: the memory is
    the smaller of MemTotal and a memory cgroup limit (a container host's real share)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    cpus = float(lines[0])
    memory = None
    limits: list[int] = []
    for line in lines[1:]:
        if line.startswith("MemTotal:"):
            memory = int(line.split()[1]) * 1024
        elif line.isdigit():
            limits.append(int(line))
    if memory is None:
        raise ValueError("no MemTotal line")
    return min([memory, *limits]), cpus


def read_host_resources(
    view: InventoryView,
    hosts: Sequence[str],
    *,
    progress: ProgressCallback | None = None,
    work_dir: Path | None = None,
) -> dict[str, HostResources]:
    """Each host's resources: the inventory's values, else read from the host itself in one
    playbook run (one remote command per host); a value the inventory states wins.

    Raises:
        OperationError: a host could not be read (unreachable, or odd output).
    """
    known, missing = inventory_resources(view, hosts)
    if not missing:
        return known
    result = run_playbook(
        "host_resources",
        inventory=view.path,
        extravars={"shipyard_hosts": ",".join(missing)},
        progress=progress,
        capture=("ansible.builtin.raw",),
        work_dir=work_dir,
    )
    problems = [f"{f.host}: {f.message}" for f in result.failures]
    for host in missing:
        res = result.captured.get(host, {}).get("ansible.builtin.raw")
        if res is None:
            if not any(p.startswith(f"{host}:") for p in problems):
                problems.append(f"{host}: no answer")
            continue
        try:
            memory, cpus = parse_resources(str(res.get("stdout", "")))
        except (ValueError, IndexError):
            problems.append(f"{host}: cannot read its cores and memory from {res.get('stdout', '')!r}")
            continue
        hvars = view.host_vars(host)
        if hvars.get(MEMORY_VAR) is not None:
            memory = _size_var(hvars[MEMORY_VAR])
        if hvars.get(CPUS_VAR) is not None:
            cpus = float(hvars[CPUS_VAR])
        known[host] = HostResources(memory, cpus, "host")
    if problems:
        raise OperationError(
            "cannot read the hosts' memory and cores for the capacity check: "
            + "; ".join(problems)
            + f" (set {MEMORY_VAR} and {CPUS_VAR} in the inventory, or validate with --offline)"
        )
    return known


# -- the validation report -----------------------------------------------------------------------


@dataclass(frozen=True)
class AppCheck(Result):
    """What ``validate`` of an app checked: services, placement, waves, capacity per host."""

    kind: ClassVar[str] = "app-check"

    app: str
    path: str
    #: per service: name, file, strategy, hosts pattern (None: AWS), depends_on
    services: tuple[dict[str, Any], ...]
    waves: tuple[tuple[str, ...], ...]
    placement: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    hosts: tuple[HostLoad, ...] = ()
    #: the checks that were not made, and why
    skipped: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Always True: a failed check raises instead."""
        return True


def service_rows(app: App) -> tuple[dict[str, Any], ...]:
    """The app's services as plain rows (for reports)."""
    return tuple(
        {
            "name": s.name,
            "file": str(s.spec.path),
            "strategy": s.strategy,
            "version": s.spec.service.version,
            "hosts": s.hosts,
            "depends_on": list(s.depends_on),
        }
        for s in app.services
    )
