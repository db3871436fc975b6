"""Alert rules on monitor results: when to notify, and when to stay quiet.

A monitor produces a result; its JSON form holds values such as the share of
drifted columns, the worst data-quality severity or a performance metric. An
:class:`AlertRule` names a monitor, a condition on one value of that result,
a severity and a cooldown. :func:`evaluate` is a pure state machine: given
the rule, what was remembered after the previous evaluation, the new result
and the time, it returns what to remember now and the notifications to send.
It reads no clock, stores nothing and sends nothing, so the scheduler, a
test or a notebook run the same rules the same way.

Conditions
----------

``<path> <op> <value>``, with ``op`` one of ``== != > >= < <=``::

    drift_share >= 0.5
    dataset_drift == true
    quality.max_severity >= critical
    performance.mae > 0.3
    columns.*.drift_detected == true          one alert per column
    columns.`petal width`.score < 0.01        a name with spaces, in backticks

The path walks the result's JSON form, dot by dot. A segment selects a key
of an object, an item of a list by index, or the item of a list whose
``"column"`` (else ``"name"``) is that segment, so ``columns.age.score``
reads the drift report's entry for column ``age``. One segment may be ``*``:
every key or item matches, and each column gets its own alert (its own
deduplication key); several items of one column (a column's quality issues)
make one alert that holds when any of them does.

The value on the right is a number, ``true``/``false``, a severity
(``info < warning < error < critical``, compared by rank; a ``null``
severity, as in a quality report with no issue, ranks below ``info``), or a
string in quotes (only ``==`` and ``!=``).

A value the result does not have (a missing key; ``null`` or NaN where a
number is expected, as a performance metric before labels arrive) is
*unknown*: the alert keeps its state, so missing labels neither fire an
alert nor resolve one. A value of the wrong type (a string where the rule
expects a number) is a misconfigured rule and raises
:class:`~moorline.errors.InvalidArgument`.

States
------

Each deduplication key (rule + monitor, + column for a ``*`` rule) has an
:class:`AlertState`::

    ok        --holds-->                       firing    notify "firing"
    firing    --holds-->                       firing    (nothing: fires once)
    firing    --clears-->                      resolved  notify "resolved"
    resolved  --holds, within the cooldown-->  pending   (nothing: a flap)
    resolved  --holds, cooldown over-->        firing    notify "firing"
    pending   --holds, cooldown over-->        firing    notify "firing"
    pending   --clears-->                      resolved  (nothing: it was never announced)
    any       --unknown-->                     unchanged

The cooldown runs from the last *resolved* notice: a condition that flaps
(clears and holds again) within ``cooldown_seconds`` pages nobody twice,
and one that still holds when the cooldown ends fires then.

>>> rule = AlertRule(name="drift", monitor="churn", condition="drift_share >= 0.5",
...                   cooldown_seconds=600)
>>> states, notes = evaluate(rule, {}, {"drift_share": 0.62}, now=1_000)
>>> [(n.kind.value, n.title) for n in notes]
[('firing', 'FIRING: drift on churn')]
>>> states, notes = evaluate(rule, states, {"drift_share": 0.70}, now=2_000)
>>> notes
[]
>>> states, notes = evaluate(rule, states, {"drift_share": 0.10}, now=3_000)
>>> [n.kind.value for n in notes], states["drift/churn"].status.value
(['resolved'], 'resolved')
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Protocol

from moorline.errors import InvalidArgument

#: The wildcard path segment.
WILDCARD: Final = "*"
MAX_NAME = 200


class AlertSeverity(StrEnum):
    """How urgent an alert is; the four levels of PagerDuty's Events API, so every
    channel can carry them unchanged. Ordered ``info < warning < error < critical``."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK: Final = {
    AlertSeverity.INFO: 0,
    AlertSeverity.WARNING: 1,
    AlertSeverity.ERROR: 2,
    AlertSeverity.CRITICAL: 3,
}


class AlertStatus(StrEnum):
    """Where one deduplication key is in the state machine (see the module docstring)."""

    OK = "ok"
    FIRING = "firing"
    PENDING = "pending"
    RESOLVED = "resolved"


class NotificationKind(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


# -- conditions --------------------------------------------------------------------

_OPS: Final = ("==", "!=", ">=", "<=", ">", "<")
_ORDERED: Final = frozenset({">=", "<=", ">", "<"})
_SEGMENT = re.compile(r"`([^`]+)`|([A-Za-z0-9_\-]+|\*)")
_OP = re.compile(r"\s*(==|!=|>=|<=|>|<)\s*")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_JSON_FLOATS: Final = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    """A parsed condition: a path into the result, an operator, a literal.

    ``kind`` says how the literal compares: ``"number"``, ``"bool"``,
    ``"severity"`` (by rank) or ``"string"``.

    >>> c = Condition.parse("quality.max_severity >= critical")
    >>> c.path, c.op, c.literal, c.kind
    (('quality', 'max_severity'), '>=', 'critical', 'severity')
    >>> c.holds("critical"), c.holds("warning"), c.holds(None)
    (True, False, False)
    >>> Condition.parse("performance.mae > 0.3").holds(None) is None    # unknown
    True
    """

    text: str
    path: tuple[str, ...]
    op: str
    literal: float | bool | str
    kind: str

    @property
    def per_column(self) -> bool:
        """Whether the path has a ``*``: one alert per matched column."""
        return WILDCARD in self.path

    @classmethod
    def parse(cls, text: str) -> Condition:
        """Parse ``<path> <op> <value>``; InvalidArgument says what is wrong and where."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidArgument("An alert condition is needed, e.g. 'drift_share >= 0.5'")
        source = text.strip()

        def bad(why: str) -> InvalidArgument:
            return InvalidArgument(f"Invalid alert condition {source!r}: {why}")

        path: list[str] = []
        pos = 0
        while True:
            match = _SEGMENT.match(source, pos)
            if match is None:
                raise bad(
                    f"expected a name at position {pos + 1}; a name with characters "
                    "other than letters, digits, '_' and '-' goes in `backticks`"
                )
            path.append(match.group(1) if match.group(1) is not None else match.group(2))
            pos = match.end()
            if pos < len(source) and source[pos] == ".":
                pos += 1
                continue
            break
        if path.count(WILDCARD) > 1:
            raise bad("at most one '*' segment is allowed (one column per alert)")
        op_match = _OP.match(source, pos)
        if op_match is None:
            raise bad(
                f"expected an operator ({' '.join(_OPS)}) at position {pos + 1}, "
                f"found {source[pos:]!r}"
            )
        op = op_match.group(1)
        raw = source[op_match.end() :].strip()
        if not raw:
            raise bad(f"nothing to compare with after {op!r}")
        literal, kind = _literal(raw, bad)
        if op in _ORDERED and kind not in ("number", "severity"):
            raise bad(
                f"{op!r} needs a number or a severity "
                f"({', '.join(s.value for s in AlertSeverity)}) on the right, not {raw!r}"
            )
        return cls(text=source, path=tuple(path), op=op, literal=literal, kind=kind)

    def holds(self, value: Any) -> bool | None:
        """Whether ``value`` satisfies the condition; None when it is unknown.

        Raises InvalidArgument when ``value`` has a type the literal cannot be
        compared with.
        """
        if self.kind == "severity":
            rank = _severity_rank(value, self)
            return _compare(rank, self.op, _RANK_BY_NAME[str(self.literal)])
        if value is None:
            return None
        if self.kind == "number":
            number = _number(value, self)
            if math.isnan(number):
                return None
            return _compare(number, self.op, float(self.literal))
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise self._mismatch(value, "true or false")
            return (value == self.literal) == (self.op == "==")
        if not isinstance(value, str):
            raise self._mismatch(value, "a string")
        return (value == self.literal) == (self.op == "==")

    def _mismatch(self, value: Any, wanted: str) -> InvalidArgument:
        return InvalidArgument(
            f"Alert condition {self.text!r}: {'.'.join(self.path)} is {value!r} "
            f"({type(value).__name__}), which cannot be compared with {wanted}"
        )


def _literal(raw: str, bad: Any) -> tuple[float | bool | str, str]:
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true", "bool"
    if lowered in {s.value for s in AlertSeverity}:
        return lowered, "severity"
    if _NUMBER.fullmatch(raw):
        return float(raw), "number"
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1], "string"
    if _WORD.fullmatch(raw):
        return raw, "string"
    raise bad(f"cannot read the value {raw!r}: use a number, true/false, a severity or 'a string'")


def _severity_rank(value: Any, condition: Condition) -> int:
    if value is None:
        return -1  # no issue at all ranks below info
    if isinstance(value, str) and value.lower() in _RANK_BY_NAME:
        return _RANK_BY_NAME[value.lower()]
    raise condition._mismatch(value, "a severity (" + ", ".join(_RANK_BY_NAME) + ")")


_RANK_BY_NAME: Final = {s.value: s.rank for s in AlertSeverity}


def _number(value: Any, condition: Condition) -> float:
    if isinstance(value, bool):
        raise condition._mismatch(value, "a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value in _JSON_FLOATS:
        return _JSON_FLOATS[value]  # how the reports write NaN and infinities
    item = getattr(value, "item", None)  # NumPy scalars
    if callable(item):
        return _number(item(), condition)
    raise condition._mismatch(value, "a number")


def _compare(left: float, op: str, right: float) -> bool:
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if op == ">=":
        return left >= right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left < right


def _resolve(
    node: Any, path: Sequence[str], column: str | None
) -> Iterator[tuple[str | None, Any]]:
    """Every (column, value) the path reaches; nothing when it reaches nothing."""
    if not path:
        yield column, node
        return
    segment, rest = path[0], path[1:]
    if isinstance(node, Mapping):
        if segment == WILDCARD:
            for key, child in node.items():
                yield from _resolve(child, rest, str(key))
        elif segment in node:
            yield from _resolve(node[segment], rest, column)
    elif isinstance(node, list | tuple):
        if segment == WILDCARD:
            for index, item in enumerate(node):
                yield from _resolve(item, rest, _item_name(item, index))
        elif segment.isdigit() and int(segment) < len(node):
            yield from _resolve(node[int(segment)], rest, column)
        else:
            for item in node:
                if isinstance(item, Mapping) and _named(item) == segment:
                    yield from _resolve(item, rest, column)
                    return


def _named(item: Mapping[str, Any]) -> str | None:
    for key in ("column", "name"):
        value = item.get(key)
        if isinstance(value, str):
            return value
    return None


def _item_name(item: Any, index: int) -> str:
    name = _named(item) if isinstance(item, Mapping) else None
    # a table-wide item (a quality issue with column null) is named by its position
    return name if name is not None else str(index)


# -- rules -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """A link a notification carries: to the monitor's page, a report, a runbook."""

    text: str
    url: str

    def to_dict(self) -> dict[str, str]:
        return {"text": self.text, "url": self.url}


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRule:
    """When to alert on one monitor's results.

    ``condition`` is the text (see the module docstring); it is parsed when the
    rule is made, so a bad one fails at configuration time, and kept parsed in
    :attr:`parsed`. ``cooldown_seconds``: after a resolved notice, how long a
    condition that holds again stays silent (``pending``). ``runbook_url``,
    when set, is added to every notification's links.

    >>> AlertRule(name="mae", monitor="prices", condition="performance.mae > 0.3",
    ...           severity="critical").severity
    <AlertSeverity.CRITICAL: 'critical'>
    """

    name: str
    monitor: str
    condition: str
    severity: AlertSeverity = AlertSeverity.WARNING
    cooldown_seconds: float = 900.0
    description: str = ""
    runbook_url: str | None = None
    parsed: Condition = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_name("alert rule name", self.name)
        _check_name(f"monitor of alert rule {self.name!r}", self.monitor)
        try:
            object.__setattr__(self, "severity", AlertSeverity(self.severity))
        except ValueError:
            raise InvalidArgument(
                f"Alert rule {self.name!r}: unknown severity {self.severity!r}; use one of "
                + ", ".join(s.value for s in AlertSeverity)
            ) from None
        cooldown = self.cooldown_seconds
        if (
            isinstance(cooldown, bool)
            or not isinstance(cooldown, int | float)
            or not math.isfinite(cooldown)
            or cooldown < 0
        ):
            raise InvalidArgument(
                f"Alert rule {self.name!r}: cooldown_seconds must be a finite number >= 0, "
                f"got {cooldown!r}"
            )
        object.__setattr__(self, "parsed", Condition.parse(self.condition))

    @property
    def cooldown_ms(self) -> int:
        return round(self.cooldown_seconds * 1000)

    def dedup_key(self, column: str | None = None) -> str:
        """The key an alert of this rule is deduplicated on: rule + monitor (+ column).

        >>> AlertRule(name="drift", monitor="churn", condition="columns.*.drift_detected == true"
        ...           ).dedup_key("age")
        'drift/churn/age'
        """
        key = f"{self.name}/{self.monitor}"
        return key if column is None else f"{key}/{column}"


def _check_name(what: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(f"The {what} must be a non-empty string, got {value!r}")
    if len(value) > MAX_NAME:
        raise InvalidArgument(f"The {what} is longer than {MAX_NAME} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InvalidArgument(f"The {what} {value!r} contains a control character")


# -- state and notifications -------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertState:
    """What one deduplication key remembers between evaluations. Times are
    milliseconds since the epoch; ``value`` is the last known observed value."""

    key: str
    rule: str
    monitor: str
    column: str | None
    status: AlertStatus
    value: Any = None
    #: when ``status`` last changed
    since: int
    #: the last evaluation whose value was known
    evaluated_at: int
    #: the last firing notification
    fired_at: int | None = None
    #: the last resolved notification
    resolved_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "rule": self.rule,
            "monitor": self.monitor,
            "column": self.column,
            "status": self.status.value,
            "value": _json_value(self.value),
            "since": self.since,
            "evaluated_at": self.evaluated_at,
            "fired_at": self.fired_at,
            "resolved_at": self.resolved_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertState:
        """Read back :meth:`to_dict` (how a store keeps states)."""
        try:
            return cls(
                key=str(data["key"]),
                rule=str(data["rule"]),
                monitor=str(data["monitor"]),
                column=data.get("column"),
                status=AlertStatus(data["status"]),
                value=_value_from_json(data.get("value")),
                since=int(data["since"]),
                evaluated_at=int(data["evaluated_at"]),
                fired_at=_opt_int(data.get("fired_at")),
                resolved_at=_opt_int(data.get("resolved_at")),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidArgument(f"Invalid alert state {dict(data)!r}: {exc}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """One message to send: an alert fired or resolved.

    ``title`` and ``summary`` are plain text for people; ``details`` holds
    JSON values for machines (every channel carries them); ``at`` is when
    the state changed and ``fired_at`` when the alert (of a resolved notice:
    the alert it resolves) fired, both in milliseconds since the epoch.
    """

    kind: NotificationKind
    dedup_key: str
    rule: str
    monitor: str
    column: str | None
    severity: AlertSeverity
    condition: str
    value: Any
    at: int
    fired_at: int
    title: str
    summary: str
    details: Mapping[str, Any]
    links: tuple[Link, ...] = ()

    @property
    def id(self) -> str:
        """A stable id (32 hex digits): the same on every delivery attempt, so a
        receiver can drop a duplicate."""
        return notification_id(self.dedup_key, self.kind, self.at)

    @property
    def firing_id(self) -> str:
        """The id of the firing notification this one belongs to (itself when firing)."""
        return notification_id(self.dedup_key, NotificationKind.FIRING, self.fired_at)

    @property
    def event(self) -> str:
        """``alert.firing`` or ``alert.resolved``."""
        return f"alert.{self.kind.value}"

    def to_dict(self) -> dict[str, Any]:
        """The notification as JSON values (the ``alert`` of the generic webhook)."""
        return {
            "id": self.id,
            "status": self.kind.value,
            "dedup_key": self.dedup_key,
            "rule": self.rule,
            "monitor": self.monitor,
            "column": self.column,
            "severity": self.severity.value,
            "condition": self.condition,
            "value": _json_value(self.value),
            "at": self.at,
            "fired_at": self.fired_at,
            "title": self.title,
            "summary": self.summary,
            "details": _json_value(dict(self.details)),
            "links": [link.to_dict() for link in self.links],
        }


def notification_id(dedup_key: str, kind: NotificationKind, at: int) -> str:
    """The id of the ``kind`` notification of ``dedup_key`` sent at ``at``."""
    digest = hashlib.sha256(f"{dedup_key}\n{kind.value}\n{at}".encode()).hexdigest()
    return digest[:32]


class SupportsToDict(Protocol):
    def to_dict(self) -> Mapping[str, Any]: ...


# -- the state machine ---------------------------------------------------------------


def evaluate(
    rule: AlertRule,
    previous: Mapping[str, AlertState] | None,
    result: Mapping[str, Any] | SupportsToDict,
    now: int,
    *,
    links: Sequence[Link] = (),
) -> tuple[dict[str, AlertState], list[Notification]]:
    """Evaluate ``rule`` on a new monitor ``result`` at ``now`` (ms since the epoch).

    ``previous``: the states returned by the previous call (``{}`` or None at
    first; states of other rules are ignored). Returns every state of this
    rule by deduplication key (keys the result did not reach are carried
    unchanged) and the notifications to send, in key order. ``links`` (the
    monitor's page, the report) go into every notification.
    """
    if isinstance(now, bool) or not isinstance(now, int):
        raise InvalidArgument(f"now must be an integer time in milliseconds, got {now!r}")
    document = result if isinstance(result, Mapping) else result.to_dict()
    mine = {
        key: state
        for key, state in (previous or {}).items()
        if state.rule == rule.name and state.monitor == rule.monitor
    }
    observed = _observe(rule, document)
    states = dict(mine)
    notes: list[Notification] = []
    all_links = (
        *links,
        *((Link(text="Runbook", url=rule.runbook_url),) if rule.runbook_url else ()),
    )
    for column, (holds, value) in sorted(observed.items(), key=lambda kv: kv[0] or ""):
        key = rule.dedup_key(column)
        state, note = _step(
            rule,
            mine.get(key),
            key=key,
            column=column,
            holds=holds,
            value=value,
            now=now,
            links=all_links,
        )
        states[key] = state
        if note is not None:
            notes.append(note)
    return states, notes


def _observe(rule: AlertRule, document: Mapping[str, Any]) -> dict[str | None, tuple[bool, Any]]:
    """Per column (None for a rule without ``*``): whether the condition holds and
    the value shown for it. Columns whose every value is unknown are left out."""
    condition = rule.parsed
    out: dict[str | None, tuple[bool, Any]] = {}
    try:
        for column, value in _resolve(document, condition.path, None):
            key = column if condition.per_column else None
            holds = condition.holds(value)
            if holds is None:
                continue
            seen = out.get(key)
            if seen is None or (holds and not seen[0]):
                out[key] = (holds, value)
    except InvalidArgument as exc:
        raise InvalidArgument(f"Alert rule {rule.name!r}: {exc.message}") from None
    return out


def _step(
    rule: AlertRule,
    state: AlertState | None,
    *,
    key: str,
    column: str | None,
    holds: bool,
    value: Any,
    now: int,
    links: tuple[Link, ...],
) -> tuple[AlertState, Notification | None]:
    status = state.status if state is not None else AlertStatus.OK
    fired_at = state.fired_at if state is not None else None
    resolved_at = state.resolved_at if state is not None else None

    def moved(new: AlertStatus, **changes: Any) -> AlertState:
        since = now if new != status or state is None else state.since
        return AlertState(
            key=key,
            rule=rule.name,
            monitor=rule.monitor,
            column=column,
            status=new,
            value=value,
            since=since,
            evaluated_at=now,
            fired_at=changes.get("fired_at", fired_at),
            resolved_at=changes.get("resolved_at", resolved_at),
        )

    if holds:
        if status == AlertStatus.FIRING:
            return moved(AlertStatus.FIRING), None
        cooling = resolved_at is not None and now - resolved_at < rule.cooldown_ms
        if status in (AlertStatus.RESOLVED, AlertStatus.PENDING) and cooling:
            return moved(AlertStatus.PENDING), None
        new = moved(AlertStatus.FIRING, fired_at=now)
        return new, _notification(rule, NotificationKind.FIRING, new, links)
    if status == AlertStatus.FIRING:
        new = moved(AlertStatus.RESOLVED, resolved_at=now)
        return new, _notification(rule, NotificationKind.RESOLVED, new, links)
    if status == AlertStatus.PENDING:
        return moved(AlertStatus.RESOLVED), None
    return moved(status), None


def _notification(
    rule: AlertRule, kind: NotificationKind, state: AlertState, links: tuple[Link, ...]
) -> Notification:
    assert state.fired_at is not None  # a notification follows a firing
    condition = rule.parsed
    where = f"{rule.name} on {rule.monitor}"
    if state.column is not None:
        where += f", column {state.column}"
    subject = ".".join(
        state.column if s == WILDCARD and state.column else s for s in condition.path
    )
    shown = format_value(state.value)
    if kind == NotificationKind.FIRING:
        title = f"FIRING: {where}"
        summary = f"{subject} = {shown} (rule: {condition.text})"
    else:
        duration = _duration((state.resolved_at or state.evaluated_at) - state.fired_at)
        title = f"RESOLVED: {where}"
        summary = f"{subject} = {shown}: {condition.text} no longer holds (fired {duration} ago)"
    if rule.description:
        summary = f"{summary}. {rule.description}"
    details: dict[str, Any] = {
        "rule": rule.name,
        "monitor": rule.monitor,
        "column": state.column,
        "severity": rule.severity.value,
        "condition": condition.text,
        "observed": _json_value(state.value),
        "fired_at": iso_time(state.fired_at),
        "resolved_at": iso_time(state.resolved_at) if kind == NotificationKind.RESOLVED else None,
    }
    if kind == NotificationKind.RESOLVED and state.resolved_at is not None:
        details["duration_seconds"] = (state.resolved_at - state.fired_at) / 1000
    if rule.description:
        details["description"] = rule.description
    return Notification(
        kind=kind,
        dedup_key=state.key,
        rule=rule.name,
        monitor=rule.monitor,
        column=state.column,
        severity=rule.severity,
        condition=condition.text,
        value=state.value,
        at=state.evaluated_at,
        fired_at=state.fired_at,
        title=title,
        summary=summary,
        details=details,
        links=links,
    )


# -- small helpers -------------------------------------------------------------------


def iso_time(ms: int | None) -> str | None:
    """ISO 8601 in UTC with milliseconds, e.g. ``2024-05-01T12:00:00.000+00:00``."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _duration(ms: int) -> str:
    """``'45 s'``, ``'3 min 20 s'``, ``'2 h 5 min'``, ``'3 d 4 h'``."""
    seconds = max(ms, 0) // 1000
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _json_value(value: Any) -> Any:
    """Plain JSON values: NaN and infinities as the strings the reports use."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    item = getattr(value, "item", None)  # NumPy scalars
    if callable(item):
        return _json_value(item())
    return str(value)


def _value_from_json(value: Any) -> Any:
    if isinstance(value, str) and value in _JSON_FLOATS:
        return _JSON_FLOATS[value]
    return value


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


__all__ = [
    "AlertRule",
    "AlertSeverity",
    "AlertState",
    "AlertStatus",
    "Condition",
    "Link",
    "Notification",
    "NotificationKind",
    "evaluate",
    "format_value",
    "iso_time",
    "notification_id",
]
