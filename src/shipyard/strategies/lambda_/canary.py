"""A canary that finishes itself: shift a weight to the new version, watch, promote or roll back.

:func:`plan` merges the spec's ``lambda.canary`` with the caller's options (the options win) and
checks them before anything is touched. After the deploy has weighted the alias (the
``lambda_function`` module's ``canary`` parameter), :func:`watch` polls CloudWatch for the
watch's length: the named alarms (``DescribeAlarms``), or, where no alarm is named, the new
version's own ``Errors`` metric (``AWS/Lambda``, dimensions ``FunctionName``, ``Resource``
``name:alias`` and ``ExecutedVersion``; no datapoint counts as 0 errors, and progress says so).
The deploy verb then promotes (all OK) or rolls back (an alarm in ALARM, errors counted).

An interrupted watch changes nothing: the alias keeps its weights and :class:`Interrupted`
says how to finish (``shipyard promote SPEC`` / ``shipyard rollback SPEC``).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shipyard.core.errors import Interrupted, OperationError, SpecError
from shipyard.core.progress import ProgressCallback, say
from shipyard.core.spec import (
    CANARY_WATCH_FIX,
    CANARY_WATCH_MAX,
    CANARY_WATCH_MIN,
    MAX_CANARY_ALARMS,
    LambdaCanary,
    LoadedSpec,
    check_alarm_name,
    parse_duration,
)

#: Consecutive failed CloudWatch reads before the watch gives up (the alias is left as it is).
MAX_POLL_FAILURES = 3
#: The poll interval's bounds in seconds (the default is a twentieth of the watch within 1-5 s).
POLL_MIN, POLL_MAX = 0.1, 60.0
#: The alarm states a watch reads (``describe_alarms`` returns these two kinds).
_ALARM_TYPES = ["MetricAlarm", "CompositeAlarm"]


@dataclass(frozen=True)
class CanaryPlan:
    """What a deploy does with its canary: the weight (0: none), the watch (0: none), alarms."""

    weight: int = 0
    watch: float = 0.0
    alarms: tuple[str, ...] = ()
    #: where the alarm names came from, for errors: ``--alarm`` or ``lambda.canary.alarms``
    alarms_field: str = "--alarm"

    def alarm_field(self, index: int) -> str:
        """The field an alarm name is reported under."""
        return self.alarms_field if self.alarms_field == "--alarm" else f"{self.alarms_field}[{index}]"


@dataclass(frozen=True)
class CanaryOutcome:
    """How a watched canary ended: ``ok`` (promote) or the alarm or metric that fired (roll back)."""

    ok: bool
    version: str
    weight: int
    watch: float
    watched: float
    polls: int
    alarms: tuple[str, ...]
    #: the alarm that went to ALARM, or ``Errors`` (the metric); None when all stayed OK
    culprit: str | None
    message: str
    #: the metric watch found no datapoint at all (counted as 0 errors)
    no_datapoints: bool = False


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Clock:
    """Time for the watch (tests give a fake one): monotonic seconds, sleep, wall-clock now."""

    monotonic: Callable[[], float] = field(default=time.monotonic)
    sleep: Callable[[float], None] = field(default=time.sleep)
    now: Callable[[], datetime] = field(default=_utcnow)


#: The real clock (:func:`watch` reads this module attribute when given no clock).
SYSTEM_CLOCK = Clock()


def duration_text(seconds: float) -> str:
    """``90`` -> ``1m30s``; ``300`` -> ``5m``; ``3600`` -> ``1h``; ``0.2`` -> ``0s``."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"


def _watch_seconds(value: float | str) -> float:
    if isinstance(value, str):
        try:
            return float(parse_duration(value))
        except ValueError as exc:
            raise SpecError("--watch", value, str(exc)) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError("--watch", value, CANARY_WATCH_FIX)
    if value != 0 and not CANARY_WATCH_MIN <= value <= CANARY_WATCH_MAX:
        raise SpecError("--watch", value, f"{CANARY_WATCH_FIX} (or 0 seconds: no watch)")
    return float(value)


def plan(
    spec: LoadedSpec,
    *,
    canary: int | None = None,
    watch: float | str | None = None,
    alarms: Sequence[str] | None = None,
) -> CanaryPlan:
    """The canary of a deploy: the options (``canary``, ``watch``, ``alarms``) over the spec's
    ``lambda.canary``. A SpecError names the bad option before anything is touched.

    ``canary=0`` deploys without a canary (whatever the spec says); a watch or alarms without
    a weight are refused; alarms without a watch are watched for the default (5m).
    """
    sec = spec.service.lambda_
    base = sec.canary if sec is not None else None
    if canary is not None and (
        isinstance(canary, bool) or not isinstance(canary, int) or not 0 <= canary < 100
    ):
        raise SpecError("--canary", canary, "give a percentage from 0 to 99")
    weight = canary if canary is not None else (base.weight if base is not None else 0)
    seconds = _watch_seconds(watch) if watch is not None else None
    names: tuple[str, ...] | None = None
    if alarms is not None:
        if isinstance(alarms, str):
            raise SpecError("--alarm", alarms, "give a list of alarm names, not one string")
        names = tuple(dict.fromkeys(alarms))  # once each, in order
        for name in names:
            try:
                check_alarm_name(name)
            except ValueError as exc:
                raise SpecError("--alarm", name, str(exc)) from None
        if len(names) > MAX_CANARY_ALARMS:
            raise SpecError("--alarm", len(names), f"name at most {MAX_CANARY_ALARMS} alarms")
    if weight == 0:
        given = "--watch" if seconds else ("--alarm" if names else None)
        if given is not None:
            raise SpecError(
                given,
                watch if given == "--watch" else list(names or ()),
                "a watch needs a canary: give --canary N (1-99) or lambda.canary.weight in the spec",
            )
        return CanaryPlan()
    if seconds is None:
        if base is not None:
            seconds = float(base.watch_seconds)
        elif names:
            seconds = float(parse_duration(LambdaCanary.model_fields["watch"].default))
        else:
            seconds = 0.0  # a bare --canary N: weighted until promote or rollback (as before)
    if names is not None:
        return CanaryPlan(weight, seconds, names, "--alarm")
    return CanaryPlan(weight, seconds, tuple(base.alarms) if base is not None else (), "lambda.canary.alarms")


def _describe(cloudwatch: Any, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The named alarms that exist, by name (metric and composite alarms)."""
    reply = cloudwatch.describe_alarms(AlarmNames=list(names), AlarmTypes=_ALARM_TYPES)
    found = [*(reply.get("MetricAlarms") or ()), *(reply.get("CompositeAlarms") or ())]
    return {a["AlarmName"]: a for a in found}


def check_alarms(cloudwatch: Any, canary: CanaryPlan) -> None:
    """Every named alarm exists (before the deploy: a SpecError naming the first one missing)."""
    if not canary.alarms:
        return
    found = _describe(cloudwatch, canary.alarms)
    for index, name in enumerate(canary.alarms):
        if name not in found:
            raise SpecError(
                canary.alarm_field(index), name, "no such CloudWatch alarm here: create it or fix the name"
            )


def finish_hint(spec: LoadedSpec, endpoint_url: str | None = None) -> str:
    """How to finish a canary by hand."""
    where = f" --endpoint-url {shlex.quote(endpoint_url)}" if endpoint_url else ""
    path = shlex.quote(str(spec.path))
    return f"shipyard promote {path}{where}  (or: shipyard rollback {path}{where})"


def moved(lambda_client: Any, function: str, alias: str, version: str) -> tuple[str, dict[str, float]] | None:
    """None while the alias still sends a weight to ``version``; else its version and weights
    now (someone promoted or rolled back during the watch: the watch then leaves it alone)."""
    doc = lambda_client.get_alias(FunctionName=function, Name=alias)
    weights = dict((doc.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})
    return None if version in weights else (str(doc.get("FunctionVersion")), weights)


def _errors_metric(
    cloudwatch: Any, function: str, alias: str, version: str, since: datetime, now: datetime
) -> tuple[float, bool]:
    """(errors of ``version`` through the alias since ``since``, whether no datapoint came)."""
    reply = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[
            {"Name": "FunctionName", "Value": function},
            {"Name": "Resource", "Value": f"{function}:{alias}"},
            {"Name": "ExecutedVersion", "Value": version},
        ],
        StartTime=since - timedelta(seconds=60),
        EndTime=now + timedelta(seconds=60),
        Period=60,
        Statistics=["Sum"],
    )
    points = reply.get("Datapoints") or []
    return float(sum(p.get("Sum", 0.0) for p in points)), not points


def watch(
    cloudwatch: Any,
    canary: CanaryPlan,
    *,
    function: str,
    alias: str,
    version: str,
    hint: str,
    progress: ProgressCallback | None = None,
    poll_interval: float | None = None,
    clock: Clock | None = None,
) -> CanaryOutcome:
    """Watch the canary for ``canary.watch`` seconds: the first alarm in ALARM (or an error of
    the new version where no alarm is named) ends it failed; else it ends ok.

    Polls every ``poll_interval`` seconds (default: a twentieth of the watch, 1-5 s), and once
    more at the end. An interrupt raises :class:`Interrupted` saying how to finish; the alias is
    not touched here.
    """
    clk = clock or SYSTEM_CLOCK
    interval = poll_interval if poll_interval is not None else min(5.0, max(1.0, canary.watch / 20))
    if not POLL_MIN <= interval <= POLL_MAX:
        raise SpecError("poll_interval", interval, f"give {POLL_MIN} to {POLL_MAX} seconds")
    report_every = max(interval, canary.watch / 10)
    watched = (
        f"alarms {', '.join(canary.alarms)}" if canary.alarms else f"the Errors metric of version {version}"
    )
    say(
        progress,
        f"canary: version {version} gets {canary.weight}% of {function}:{alias}; "
        f"watching {watched} for {duration_text(canary.watch)}",
    )
    start, since = clk.monotonic(), clk.now()
    polls = failures = 0
    last_line, last_report = "", float("-inf")
    no_points = True
    try:
        while True:
            polls += 1
            culprit = reason = None
            try:
                if canary.alarms:
                    found = _describe(cloudwatch, canary.alarms)
                    states = []
                    for name in canary.alarms:
                        doc = found.get(name)
                        if doc is None:
                            culprit, reason = name, f"alarm {name} no longer exists"
                            break
                        states.append(f"{name} {doc.get('StateValue', '?')}")
                        if doc.get("StateValue") == "ALARM":
                            why = doc.get("StateReason") or "no reason given"
                            culprit, reason = name, f"alarm {name} went to ALARM ({why})"
                            break
                    line = ", ".join(states)
                else:
                    errors, none = _errors_metric(cloudwatch, function, alias, version, since, clk.now())
                    no_points = no_points and none
                    if errors > 0:
                        culprit = "Errors"
                        reason = f"version {version} had {errors:g} errors (metric AWS/Lambda Errors)"
                    line = "Errors: no datapoints yet (counted as 0)" if none else f"Errors: {errors:g}"
                failures = 0
            except Exception as exc:
                failures += 1
                if failures >= MAX_POLL_FAILURES:
                    raise OperationError(
                        f"canary of {function}: CloudWatch could not be read {failures} times ({exc}); "
                        f"the alias {alias} still sends {canary.weight}% to version {version}: "
                        f"finish it with {hint}"
                    ) from exc
                line = f"CloudWatch read failed ({exc}); trying again"
            elapsed = clk.monotonic() - start
            if culprit is not None:
                say(progress, f"canary: {reason} after {duration_text(elapsed)}: rolling back")
                return CanaryOutcome(
                    False, version, canary.weight, canary.watch, round(elapsed, 3), polls,
                    canary.alarms, culprit, reason or culprit, no_points and not canary.alarms,
                )  # fmt: skip
            if line != last_line or elapsed - last_report >= report_every:
                say(progress, f"canary: {duration_text(elapsed)} of {duration_text(canary.watch)}: {line}")
                last_line, last_report = line, elapsed
            if elapsed >= canary.watch and failures == 0:  # the last read must have worked
                break
            clk.sleep(interval if failures else max(0.0, min(interval, canary.watch - elapsed)))
    except KeyboardInterrupt as exc:
        raise Interrupted(
            f"the canary watch of {function} was interrupted: the alias {alias} still sends "
            f"{canary.weight}% to version {version}; finish it with {hint}"
        ) from exc
    tail = " (no Errors datapoints: counted as 0)" if no_points and not canary.alarms else ""
    message = f"watched {watched} for {duration_text(canary.watch)}: all OK{tail}"
    say(progress, f"canary: {message}: promoting version {version}")
    return CanaryOutcome(
        True, version, canary.weight, canary.watch, round(elapsed, 3), polls, canary.alarms, None,
        message, no_points and not canary.alarms,
    )  # fmt: skip
