"""Pure statistics for the benchmark: medians, ratios, per-instance costs, least-squares lines."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def median(values: Iterable[float]) -> float | None:
    """The median, or None for no values."""
    data = [float(v) for v in values]
    return statistics.median(data) if data else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def per_extra(small: tuple[float, float | None], big: tuple[float, float | None]) -> float | None:
    """Seconds per extra unit between two (count, seconds) points: (t_big - t_small) / (n_big - n_small)."""
    (n_small, t_small), (n_big, t_big) = small, big
    if t_small is None or t_big is None or n_big == n_small:
        return None
    return (t_big - t_small) / (n_big - n_small)


@dataclass(frozen=True)
class Line:
    """y = intercept + slope * x, fitted by least squares over ``points`` samples."""

    intercept: float
    slope: float
    points: int
    r2: float | None

    def at(self, x: float) -> float:
        """The fitted value at x."""
        return self.intercept + self.slope * x


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> Line | None:
    """Ordinary least squares of ys on xs (every sample, not medians); None with < 2 distinct xs."""
    if len(xs) != len(ys):
        raise ValueError(f"fit_line: {len(xs)} xs but {len(ys)} ys")
    if len(set(xs)) < 2:
        return None
    n = len(xs)
    mean_x = sum(xs) / n
    mean_y = sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    ss_tot = sum((y - mean_y) ** 2 for y in ys)
    ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    r2 = 1 - ss_res / ss_tot if ss_tot > 0 else None
    return Line(intercept=intercept, slope=slope, points=n, r2=r2)


def select(samples: Iterable[Mapping[str, Any]], **keys: Any) -> list[float]:
    """The ``seconds`` of every sample whose fields equal ``keys``."""
    return [float(s["seconds"]) for s in samples if all(s.get(k) == v for k, v in keys.items())]


def med(samples: Iterable[Mapping[str, Any]], **keys: Any) -> float | None:
    """The median ``seconds`` of the samples matching ``keys``."""
    return median(select(samples, **keys))


OPS = ("<=", ">=", "<", ">")


@dataclass(frozen=True)
class Target:
    """A target to report: ``value`` must be ``op`` (``<=``, ``>=``, ``<`` or ``>``) ``limit``."""

    name: str
    value: float | None
    op: str
    limit: float
    unit: str = ""
    note: str = ""
    #: where the target comes from (an issue number), for the report
    source: str = ""

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"Target {self.name!r}: op {self.op!r} is not one of {', '.join(OPS)}")

    @property
    def met(self) -> bool | None:
        """True/False, or None when the value was not measured."""
        if self.value is None:
            return None
        return {
            "<=": self.value <= self.limit,
            ">=": self.value >= self.limit,
            "<": self.value < self.limit,
            ">": self.value > self.limit,
        }[self.op]

    @property
    def verdict(self) -> str:
        """'met', 'missed by X' (X: the distance to the limit, in the target's unit) or 'not measured'."""
        if self.value is None:
            return "not measured"
        if self.met:
            return "met"
        return f"missed by {abs(self.value - self.limit):.3g}{self.unit}"

    @property
    def margin(self) -> str:
        """How far from the limit, as a factor and a difference (e.g. '2.5x over (+3.1 s)')."""
        if self.value is None:
            return "not measured"
        diff = self.value - self.limit
        if self.limit:
            factor = self.value / self.limit
            if self.op in ("<=", "<"):
                word = "under" if self.met else "over"
                rel = f"{factor:.2f}x of the limit, {word}"
            else:
                word = "above" if self.met else "short"
                rel = f"{factor:.2f}x of the limit, {word}"
        else:
            rel = "limit 0"
        return f"{rel} by {abs(diff):.3g}{self.unit}"
