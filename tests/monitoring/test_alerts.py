"""Alert rules and their state machine: fire once, resolve once, stay quiet while
flapping within the cooldown, one alert per deduplication key."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moorline.errors import InvalidArgument
from moorline.monitoring.alerts import (
    AlertRule,
    AlertSeverity,
    AlertState,
    AlertStatus,
    Condition,
    Link,
    Notification,
    NotificationKind,
    evaluate,
)
from moorline.monitoring.base import ColumnKind
from moorline.monitoring.report import ColumnDrift, DriftReport

T0 = 1_700_000_000_000  # ms
SECOND = 1000
MINUTE = 60 * SECOND


def drift_rule(cooldown: float = 600.0, **kw: Any) -> AlertRule:
    return AlertRule(
        name="high-drift",
        monitor="churn",
        condition="drift_share >= 0.5",
        severity=AlertSeverity.CRITICAL,
        cooldown_seconds=cooldown,
        **kw,
    )


def run(
    rule: AlertRule, results: list[tuple[int, dict[str, Any]]]
) -> tuple[dict[str, AlertState], list[Notification]]:
    """Evaluate ``rule`` over (time, result) pairs, threading the state through."""
    states: dict[str, AlertState] = {}
    sent: list[Notification] = []
    for now, result in results:
        states, notes = evaluate(rule, states, result, now)
        sent += notes
    return states, sent


# -- the state machine -------------------------------------------------------------------


def test_fires_once_while_the_condition_holds() -> None:
    rule = drift_rule()
    states, sent = run(rule, [(T0 + i * MINUTE, {"drift_share": 0.5 + i / 10}) for i in range(5)])
    assert [n.kind for n in sent] == [NotificationKind.FIRING]
    (note,) = sent
    assert note.at == T0 and note.fired_at == T0
    assert note.dedup_key == "high-drift/churn"
    state = states["high-drift/churn"]
    assert state.status == AlertStatus.FIRING
    assert state.fired_at == T0 and state.since == T0
    assert state.evaluated_at == T0 + 4 * MINUTE and state.value == pytest.approx(0.9)


def test_nothing_is_sent_while_the_condition_does_not_hold() -> None:
    states, sent = run(
        drift_rule(), [(T0, {"drift_share": 0.2}), (T0 + MINUTE, {"drift_share": 0.49})]
    )
    assert sent == []
    assert states["high-drift/churn"].status == AlertStatus.OK
    assert states["high-drift/churn"].fired_at is None


def test_a_resolved_notice_when_the_condition_clears_and_only_one() -> None:
    rule = drift_rule()
    states, sent = run(
        rule,
        [
            (T0, {"drift_share": 0.7}),
            (T0 + 5 * MINUTE, {"drift_share": 0.6}),
            (T0 + 10 * MINUTE, {"drift_share": 0.1}),
            (T0 + 15 * MINUTE, {"drift_share": 0.0}),
        ],
    )
    assert [n.kind for n in sent] == [NotificationKind.FIRING, NotificationKind.RESOLVED]
    resolved = sent[1]
    assert resolved.at == T0 + 10 * MINUTE
    assert resolved.fired_at == T0  # points back at the firing it resolves
    assert resolved.firing_id == sent[0].id
    assert resolved.id != sent[0].id
    assert resolved.title == "RESOLVED: high-drift on churn"
    assert "no longer holds" in resolved.summary and "10 min 0 s" in resolved.summary
    assert resolved.details["duration_seconds"] == 600.0
    state = states["high-drift/churn"]
    assert state.status == AlertStatus.RESOLVED
    assert state.resolved_at == T0 + 10 * MINUTE
    assert state.since == T0 + 10 * MINUTE  # the status changed then, not later


def test_flapping_within_the_cooldown_is_suppressed() -> None:
    rule = drift_rule(cooldown=600)
    resolve_at = T0 + MINUTE
    states, sent = run(
        rule,
        [
            (T0, {"drift_share": 0.8}),  # fires
            (resolve_at, {"drift_share": 0.1}),  # resolves
            (resolve_at + 10 * SECOND, {"drift_share": 0.9}),  # holds again: pending
            (resolve_at + 20 * SECOND, {"drift_share": 0.1}),  # clears: silent
            (resolve_at + 30 * SECOND, {"drift_share": 0.9}),  # pending again
            (resolve_at + 599 * SECOND, {"drift_share": 0.9}),  # still within the cooldown
        ],
    )
    assert [n.kind for n in sent] == [NotificationKind.FIRING, NotificationKind.RESOLVED]
    state = states["high-drift/churn"]
    assert state.status == AlertStatus.PENDING
    assert state.resolved_at == resolve_at  # the cooldown still runs from the resolved notice

    # the condition still holds when the cooldown ends: it fires then
    states, notes = evaluate(rule, states, {"drift_share": 0.9}, resolve_at + 600 * SECOND)
    assert [n.kind for n in notes] == [NotificationKind.FIRING]
    assert notes[0].fired_at == resolve_at + 600 * SECOND
    assert states["high-drift/churn"].status == AlertStatus.FIRING


def test_a_pending_alert_that_clears_sends_no_resolved_notice() -> None:
    rule = drift_rule(cooldown=600)
    states, sent = run(
        rule,
        [
            (T0, {"drift_share": 0.8}),
            (T0 + MINUTE, {"drift_share": 0.1}),
            (T0 + 2 * MINUTE, {"drift_share": 0.8}),
            (T0 + 3 * MINUTE, {"drift_share": 0.1}),
            (T0 + 4 * MINUTE, {"drift_share": 0.1}),
        ],
    )
    assert [n.kind for n in sent] == [NotificationKind.FIRING, NotificationKind.RESOLVED]
    assert states["high-drift/churn"].status == AlertStatus.RESOLVED


def test_after_the_cooldown_a_new_firing_is_announced_at_once() -> None:
    rule = drift_rule(cooldown=60)
    _, sent = run(
        rule,
        [
            (T0, {"drift_share": 0.8}),
            (T0 + MINUTE, {"drift_share": 0.1}),
            (T0 + 3 * MINUTE, {"drift_share": 0.8}),
        ],
    )
    kinds = [n.kind for n in sent]
    assert kinds == [NotificationKind.FIRING, NotificationKind.RESOLVED, NotificationKind.FIRING]
    assert sent[2].fired_at == T0 + 3 * MINUTE


def test_a_zero_cooldown_announces_every_flap() -> None:
    values = [0.8, 0.1, 0.8, 0.1]
    _, sent = run(
        drift_rule(cooldown=0),
        [(T0 + i * SECOND, {"drift_share": v}) for i, v in enumerate(values)],
    )
    assert [n.kind.value for n in sent] == ["firing", "resolved", "firing", "resolved"]


def test_an_unknown_value_neither_fires_nor_resolves() -> None:
    rule = AlertRule(
        name="mae", monitor="prices", condition="performance.mae > 0.3", cooldown_seconds=0
    )
    states, sent = run(
        rule,
        [
            (T0, {"performance": {"mae": None}}),  # no labels yet: nothing known
            (T0 + 1, {"performance": {}}),
        ],
    )
    assert sent == [] and states == {}
    states, sent = run(
        rule,
        [
            (T0, {"performance": {"mae": 0.5}}),  # fires
            (T0 + 1, {"performance": {"mae": None}}),  # labels late again: still firing
            (T0 + 2, {"performance": {"mae": math.nan}}),
            (T0 + 3, {"performance": {"mae": "NaN"}}),  # NaN as the JSON reports write it
            (T0 + 4, {}),
        ],
    )
    assert [n.kind for n in sent] == [NotificationKind.FIRING]
    assert states["mae/prices"].status == AlertStatus.FIRING
    assert states["mae/prices"].evaluated_at == T0  # the last time the value was known
    states, notes = evaluate(rule, states, {"performance": {"mae": 0.1}}, T0 + 5)
    assert [n.kind for n in notes] == [NotificationKind.RESOLVED]


def _drift_report(drifted: dict[str, bool]) -> DriftReport:
    columns = tuple(
        ColumnDrift(
            column=name,
            type=ColumnKind.NUMERICAL,
            stattest="ks",
            stattest_display_name="K-S p_value",
            score=0.001 if hit else 0.4,
            threshold=0.05,
            drift_detected=hit,
        )
        for name, hit in drifted.items()
    )
    return DriftReport(
        preset="default", reference_rows=100, current_rows=100, columns=columns, drift_share=0.5
    )


def test_deduplication_is_per_column_for_a_wildcard_rule() -> None:
    rule = AlertRule(
        name="column-drift",
        monitor="churn",
        condition="columns.*.drift_detected == true",
        cooldown_seconds=0,
    )
    # a real drift report object: the rule reads its JSON form
    states, notes = evaluate(rule, {}, _drift_report({"age": True, "income": False}), T0)
    assert [(n.kind.value, n.dedup_key, n.column) for n in notes] == [
        ("firing", "column-drift/churn/age", "age")
    ]
    assert notes[0].title == "FIRING: column-drift on churn, column age"
    assert notes[0].summary.startswith("columns.age.drift_detected = true")
    assert states["column-drift/churn/income"].status == AlertStatus.OK

    # income drifts too: only income is announced, age is already firing
    states, notes = evaluate(
        rule, states, _drift_report({"age": True, "income": True}), T0 + MINUTE
    )
    assert [(n.kind.value, n.dedup_key) for n in notes] == [("firing", "column-drift/churn/income")]

    # age recovers: only age is resolved
    states, notes = evaluate(
        rule, states, _drift_report({"age": False, "income": True}), T0 + 2 * MINUTE
    )
    assert [(n.kind.value, n.dedup_key) for n in notes] == [("resolved", "column-drift/churn/age")]
    assert states["column-drift/churn/income"].status == AlertStatus.FIRING
    assert states["column-drift/churn/age"].status == AlertStatus.RESOLVED


def test_rules_and_monitors_keep_separate_states() -> None:
    a = drift_rule(cooldown=0)
    b = AlertRule(
        name="high-drift", monitor="fraud", condition="drift_share >= 0.5", cooldown_seconds=0
    )
    c = AlertRule(
        name="any-drift", monitor="churn", condition="dataset_drift == true", cooldown_seconds=0
    )
    shared: dict[str, AlertState] = {}
    result = {"drift_share": 0.9, "dataset_drift": True}
    sent: list[Notification] = []
    for rule in (a, b, c):
        states, notes = evaluate(rule, shared, result, T0)
        assert set(states) == {rule.dedup_key()}  # other rules' states are not returned
        shared.update(states)
        sent += notes
    assert sorted(n.dedup_key for n in sent) == [
        "any-drift/churn",
        "high-drift/churn",
        "high-drift/fraud",
    ]
    # a second round with every state passed: nothing new
    for rule in (a, b, c):
        _, notes = evaluate(rule, shared, result, T0 + MINUTE)
        assert notes == []


def test_one_alert_per_column_when_a_column_has_several_issues() -> None:
    rule = AlertRule(
        name="quality",
        monitor="ingest",
        condition="quality.issues.*.severity >= warning",
        cooldown_seconds=0,
    )
    result = {
        "quality": {
            "max_severity": "critical",
            "issues": [
                {"check": "null_rate", "column": "age", "severity": "info"},
                {"check": "out_of_range", "column": "age", "severity": "warning"},
                {"check": "type_change", "column": "city", "severity": "critical"},
                {"check": "unexpected_column", "column": "extra", "severity": "info"},
            ],
        }
    }
    states, notes = evaluate(rule, {}, result, T0)
    assert [(n.column, n.value) for n in notes] == [("age", "warning"), ("city", "critical")]
    assert states["quality/ingest/extra"].status == AlertStatus.OK


def test_real_quality_report_max_severity() -> None:
    pd = pytest.importorskip("pandas")
    from moorline.monitoring.quality import check_quality

    reference = pd.DataFrame({"temperature": [20.5, 21.0, 19.8], "city": ["a", "b", "a"]})
    broken = pd.DataFrame({"temperature": [None, None, None], "city": ["a", "b", "a"]})
    rule = AlertRule(
        name="bad-data",
        monitor="weather",
        condition="quality.max_severity >= critical",
        cooldown_seconds=0,
    )
    states, notes = evaluate(rule, {}, {"quality": check_quality(reference, broken).to_dict()}, T0)
    assert [n.kind for n in notes] == [NotificationKind.FIRING]
    # a clean batch: max_severity is null (no issue), which ranks below every severity
    clean = check_quality(reference, reference).to_dict()
    assert clean["max_severity"] is None
    _, notes = evaluate(rule, states, {"quality": clean}, T0 + MINUTE)
    assert [n.kind for n in notes] == [NotificationKind.RESOLVED]


def test_states_survive_a_round_trip_through_json() -> None:
    rule = AlertRule(
        name="score", monitor="m", condition="columns.age.score < 0.01", cooldown_seconds=600
    )
    states, _ = run(
        rule,
        [
            (T0, {"columns": [{"column": "age", "score": 0.001}]}),
            (T0 + MINUTE, {"columns": [{"column": "age", "score": 0.5}]}),
        ],
    )
    stored = {
        k: AlertState.from_dict(json.loads(json.dumps(s.to_dict()))) for k, s in states.items()
    }
    assert stored == states
    inf_state = AlertState(
        key="k",
        rule="r",
        monitor="m",
        column=None,
        status=AlertStatus.FIRING,
        value=math.inf,
        since=1,
        evaluated_at=1,
    )
    assert json.dumps(inf_state.to_dict())  # plain JSON: no bare Infinity
    assert AlertState.from_dict(inf_state.to_dict()).value == math.inf
    # the stored states drive the next evaluation exactly as the live ones do
    live = evaluate(rule, states, {"columns": [{"column": "age", "score": 0.0}]}, T0 + 2 * MINUTE)
    again = evaluate(rule, stored, {"columns": [{"column": "age", "score": 0.0}]}, T0 + 2 * MINUTE)
    assert live == again
    assert live[0]["score/m"].status == AlertStatus.PENDING
    with pytest.raises(InvalidArgument, match="Invalid alert state"):
        AlertState.from_dict({"key": "k", "status": "on fire"})


def test_notification_contents() -> None:
    rule = drift_rule(
        description="More than half the features moved",
        runbook_url="https://wiki.example.com/drift",
    )
    monitor_page = Link(text="Monitor", url="https://moorline.example.com/monitors/churn")
    _, notes = evaluate(rule, {}, {"drift_share": 0.625}, T0, links=[monitor_page])
    (note,) = notes
    assert note.kind == NotificationKind.FIRING and note.event == "alert.firing"
    assert note.title == "FIRING: high-drift on churn"
    assert (
        note.summary
        == "drift_share = 0.625 (rule: drift_share >= 0.5). More than half the features moved"
    )
    assert note.severity == AlertSeverity.CRITICAL
    assert note.links == (monitor_page, Link(text="Runbook", url="https://wiki.example.com/drift"))
    assert note.details == {
        "rule": "high-drift",
        "monitor": "churn",
        "column": None,
        "severity": "critical",
        "condition": "drift_share >= 0.5",
        "observed": 0.625,
        "fired_at": "2023-11-14T22:13:20.000+00:00",
        "resolved_at": None,
        "description": "More than half the features moved",
    }
    assert len(note.id) == 32 and note.id == note.firing_id
    # the id is a function of key, kind and time: the same on a re-evaluation of the same input
    _, again = evaluate(rule, {}, {"drift_share": 0.625}, T0, links=[monitor_page])
    assert again[0].id == note.id
    document = note.to_dict()
    assert document["status"] == "firing" and document["value"] == 0.625
    assert document["links"][1] == {"text": "Runbook", "url": "https://wiki.example.com/drift"}


# -- conditions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("drift_share >= 0.5", 0.5, True),
        ("drift_share >= 0.5", 0.4999, False),
        ("drift_share >= 0.5", "Infinity", True),
        ("drift_share >= 0.5", 1, True),
        ("dataset_drift == true", True, True),
        ("dataset_drift == true", False, False),
        ("dataset_drift != true", False, True),
        ("quality.max_severity >= critical", "critical", True),
        ("quality.max_severity >= critical", "warning", False),
        ("quality.max_severity >= warning", "error", True),
        ("quality.max_severity >= info", None, False),  # no issue at all
        ("quality.max_severity == warning", "WARNING", True),
        ("performance.mae > 0.3", 0.31, True),
        ("performance.mae > 0.3", 0.3, False),
        ("performance.mae <= 1e-3", 0.0005, True),
        ("performance.mae != 0.3", 0.3, False),
        ("preset == 'evidently'", "evidently", True),
        ("preset == evidently", "default", False),
        ('preset != "default"', "evidently", True),
    ],
)
def test_condition_semantics(text: str, value: Any, expected: bool) -> None:
    condition = Condition.parse(text)
    document: dict[str, Any] = {}
    node = document
    for segment in condition.path[:-1]:
        node = node.setdefault(segment, {})
    node[condition.path[-1]] = value
    rule = AlertRule(name="r", monitor="m", condition=text, cooldown_seconds=0)
    _, notes = evaluate(rule, {}, document, T0)
    assert condition.holds(value) is expected
    assert (len(notes) == 1) is expected


def test_paths_reach_list_items_by_name_index_and_backticked_names() -> None:
    report = {
        "columns": [
            {"column": "age", "score": 0.5},
            {"column": "petal width", "score": 0.001},
        ]
    }
    for text in ("columns.`petal width`.score < 0.01", "columns.1.score < 0.01"):
        _, notes = evaluate(AlertRule(name="r", monitor="m", condition=text), {}, report, T0)
        assert [n.value for n in notes] == [0.001], text
    _, notes = evaluate(
        AlertRule(name="r", monitor="m", condition="columns.age.score < 0.01"), {}, report, T0
    )
    assert notes == []
    # a wildcard over an object's keys names the column by its key
    _, notes = evaluate(
        AlertRule(name="r", monitor="m", condition="psi.* > 0.2"),
        {},
        {"psi": {"a": 0.1, "b": 0.3}},
        T0,
    )
    assert [(n.column, n.dedup_key) for n in notes] == [("b", "r/m/b")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "An alert condition is needed"),
        ("drift_share", "expected an operator"),
        ("drift_share => 0.5", "expected an operator"),
        ("drift_share >=", "nothing to compare with"),
        ("dataset_drift > true", "needs a number or a severity"),
        ("preset >= 'x'", "needs a number or a severity"),
        ("a.*.b.*.c == true", "at most one '*'"),
        ("a..b == 1", "expected a name at position 3"),
        ("drift share >= 0.5", "expected an operator"),
        ("drift_share >= 0.5 0.6", "cannot read the value"),
    ],
)
def test_bad_conditions_are_refused_when_the_rule_is_made(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        AlertRule(name="r", monitor="m", condition=text)


def test_a_value_of_the_wrong_type_is_a_misconfigured_rule() -> None:
    rule = AlertRule(name="r", monitor="m", condition="drift_share >= 0.5")
    with pytest.raises(
        InvalidArgument, match=r"Alert rule 'r'.*drift_share is 'high' \(str\).*a number"
    ):
        evaluate(rule, {}, {"drift_share": "high"}, T0)
    with pytest.raises(InvalidArgument, match="a number"):
        evaluate(rule, {}, {"drift_share": True}, T0)
    sev = AlertRule(name="s", monitor="m", condition="quality.max_severity >= warning")
    with pytest.raises(InvalidArgument, match="a severity"):
        evaluate(sev, {}, {"quality": {"max_severity": 3}}, T0)
    flag = AlertRule(name="f", monitor="m", condition="dataset_drift == true")
    with pytest.raises(InvalidArgument, match="true or false"):
        evaluate(flag, {}, {"dataset_drift": "yes"}, T0)


def test_rule_validation() -> None:
    with pytest.raises(InvalidArgument, match="unknown severity 'fatal'"):
        AlertRule(name="r", monitor="m", condition="x > 1", severity="fatal")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="cooldown_seconds must be a finite number >= 0"):
        AlertRule(name="r", monitor="m", condition="x > 1", cooldown_seconds=-1)
    with pytest.raises(InvalidArgument, match="cooldown_seconds"):
        AlertRule(name="r", monitor="m", condition="x > 1", cooldown_seconds=math.inf)
    with pytest.raises(InvalidArgument, match="alert rule name must be a non-empty string"):
        AlertRule(name=" ", monitor="m", condition="x > 1")
    with pytest.raises(InvalidArgument, match="control character"):
        AlertRule(name="r", monitor="m\nx", condition="x > 1")
    with pytest.raises(InvalidArgument, match="milliseconds"):
        evaluate(AlertRule(name="r", monitor="m", condition="x > 1"), {}, {"x": 2}, 1.5)  # type: ignore[arg-type]
    assert (
        AlertRule(name="r", monitor="m", condition="x > 1", severity="error").severity
        is AlertSeverity.ERROR
    )


# -- properties over any sequence ----------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(min_value=0, max_value=400), st.sampled_from([True, False, None])),
        min_size=1,
        max_size=40,
    ),
    cooldown=st.integers(min_value=0, max_value=600),
)
def test_invariants_over_any_sequence(steps: list[tuple[int, bool | None]], cooldown: int) -> None:
    """For any sequence of (seconds elapsed, holds/clears/unknown):

    - notifications alternate firing, resolved, firing...;
    - a firing is sent only when the condition holds, and never within the
      cooldown of the previous resolved notice;
    - a resolved notice is sent exactly when a firing alert's condition clears;
    - nothing is held back longer than needed: whenever the condition holds,
      the alert is not firing and the cooldown is over, it fires.
    """
    rule = AlertRule(name="r", monitor="m", condition="x == true", cooldown_seconds=cooldown)
    states: dict[str, AlertState] = {}
    now = T0
    firing = False
    last_resolved: int | None = None
    kinds: list[NotificationKind] = []
    for gap, holds in steps:
        now += gap * SECOND
        result = {} if holds is None else {"x": holds}
        states, notes = evaluate(rule, states, result, now)
        assert len(notes) <= 1
        cooled = last_resolved is None or now - last_resolved >= cooldown * SECOND
        if holds is None:
            assert notes == []
        elif holds:
            should_fire = not firing and cooled
            assert [n.kind for n in notes] == ([NotificationKind.FIRING] if should_fire else [])
            firing = firing or should_fire
        else:
            assert [n.kind for n in notes] == ([NotificationKind.RESOLVED] if firing else [])
            if firing:
                last_resolved = now
            firing = False
        kinds += [n.kind for n in notes]
        if states:
            assert (states["r/m"].status == AlertStatus.FIRING) is firing
    assert kinds == [NotificationKind.FIRING, NotificationKind.RESOLVED] * (len(kinds) // 2) + (
        [NotificationKind.FIRING] if len(kinds) % 2 else []
    )
