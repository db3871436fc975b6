"""Running monitors: reference profile, current window, checks, alerts, history.

:meth:`MonitorService.run` is the one path every run takes (the CLI's
``monitor run``, the scheduler, the API). The reference side is profiled
once per reference digest and kept in the artifact store under
``monitoring/references/<digest>/`` (the drift profile and the quality
contract), so later runs read it instead of the reference data. A check that
fails (an unreadable source, a column the check cannot handle) makes the
result ``error`` with the message; it never raises to the caller, so one
broken monitor cannot stop a scheduler.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

from moorline.core.paging import Page
from moorline.errors import InvalidArgument, MoorlineError, NotFound
from moorline.monitoring.alerts import AlertState, AlertStatus, Notification, evaluate
from moorline.monitoring.channels import Channel
from moorline.monitoring.monitors import (
    PREDICTION_METADATA_COLUMNS,
    AlertSenderPort,
    DatasetSource,
    Monitor,
    MonitorResult,
    MonitorStatus,
    MonitorStore,
    PredictionsSource,
    SqlSource,
    Window,
    WindowSource,
    _hide_password,
    channel_from_dict,
    channel_to_dict,
    delivery_record,
    validate_monitor_name,
)
from moorline.tracking.artifacts import ArtifactService

if TYPE_CHECKING:
    from moorline.monitoring.profile import ReferenceProfile

log = logging.getLogger("moorline.monitors")

PROFILE_PREFIX: Final = "monitoring/references"
RESULTS_DEFAULT: Final = 100
RESULTS_LIMIT: Final = 1000
#: What a monitor's credentials read as when shown (``Monitor.to_dict(redact=True)``);
#: sent back in an update, it keeps the stored value.
REDACTED: Final = "***"


class Monitors(Protocol):
    """The monitor use cases the shells call, whoever computes them.

    :class:`MonitorService` runs them over a local store;
    ``moorline.store.rest.monitors.RestMonitorService`` asks a moorline server,
    which runs monitors, computes and stores their results itself.
    """

    def create(self, monitor: Monitor) -> Monitor: ...

    def update(self, monitor: Monitor) -> Monitor: ...

    def get(self, name: str) -> Monitor: ...

    def list_monitors(self) -> list[Monitor]: ...

    def delete(self, name: str) -> None: ...

    def run(self, name: str) -> MonitorResult: ...

    def results(
        self, name: str, *, max_results: int | None = None, page_token: str | None = None
    ) -> Page[MonitorResult]: ...

    def result(self, result_id: int, *, monitor: str | None = None) -> MonitorResult: ...

    def alert_states(self, name: str) -> dict[str, AlertState]: ...


def profile_key(digest: str) -> str:
    """Where the drift profile of the reference with ``digest`` is kept."""
    return f"{PROFILE_PREFIX}/{digest}/profile.bin"


def contract_key(digest: str) -> str:
    """Where the quality contract (schema and profile JSON) of that reference is kept."""
    return f"{PROFILE_PREFIX}/{digest}/contract.json"


def validate_schedule(schedule: str | None) -> str | None:
    """A 5-field cron expression (UTC), or None."""
    if schedule is None or not schedule.strip():
        return None
    from croniter import croniter

    text = " ".join(schedule.split())
    if len(text.split()) != 5 or not croniter.is_valid(text):
        raise InvalidArgument(
            f"Invalid schedule {schedule!r}: expected a 5-field cron expression "
            "(minute hour day-of-month month day-of-week), e.g. '0 * * * *'"
        )
    return text


def previous_fire(schedule: str, now: int) -> int:
    """The latest time (ms) at or before ``now`` that ``schedule`` names."""
    from croniter import croniter

    at = datetime.fromtimestamp(now / 1000, tz=UTC)
    # croniter's get_prev is strictly before ``at``: step a millisecond past it.
    base = datetime.fromtimestamp((now + 1) / 1000, tz=UTC)
    fire: datetime = croniter(schedule, base).get_prev(datetime)
    return min(int(fire.timestamp() * 1000), int(at.timestamp() * 1000))


class _Loaded:
    """The reference side, as the checks want it."""

    def __init__(self, profile: ReferenceProfile, contract: Mapping[str, Any]) -> None:
        self.profile = profile
        self.contract = contract


class MonitorService:
    """Create, list and run monitors.

    ``windows`` reads sources; ``artifacts`` keeps reference profiles;
    ``sender`` delivers notifications (None: nothing is sent, as in a dry
    run); ``model_exists`` checks that a monitor's registered model exists
    (None: not checked); ``clock`` gives ms since the epoch.
    """

    def __init__(
        self,
        store: MonitorStore,
        windows: WindowSource,
        artifacts: ArtifactService,
        *,
        sender: AlertSenderPort | None = None,
        model_exists: Callable[[str], object] | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self._store = store
        self._windows = windows
        self._artifacts = artifacts
        self._sender = sender
        self._model_exists = model_exists
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        #: how many reference profiles this service built (tests read it)
        self.profiles_built = 0

    @property
    def store(self) -> MonitorStore:
        return self._store

    def set_sender(self, sender: AlertSenderPort | None) -> None:
        self._sender = sender

    # -- configuration --------------------------------------------------------------

    def create(self, monitor: Monitor) -> Monitor:
        """Store a new monitor (its model must exist; its schedule must parse)."""
        monitor = keep_secrets(monitor, None)  # refuses a redacted credential
        return self._store.create_monitor(self._checked(monitor, created_at=None))

    def update(self, monitor: Monitor) -> Monitor:
        """Replace monitor ``monitor.name``'s configuration (it keeps its creation time).

        A credential sent back as shown (a channel's placeholder from
        :func:`monitor_from_shown`, a SQL source's password ``***``) keeps the
        stored value, so a configuration read, edited and written back loses
        no secret.
        """
        stored = self.get(monitor.name)
        merged = keep_secrets(monitor, stored)
        return self._store.update_monitor(self._checked(merged, created_at=stored.created_at))

    def _checked(self, monitor: Monitor, *, created_at: int | None) -> Monitor:
        _check_baseline(monitor)
        if self._model_exists is not None:
            self._model_exists(monitor.model)
        now = self._clock()
        return replace(
            monitor,
            schedule=validate_schedule(monitor.schedule),
            created_at=now if created_at is None else created_at,
            updated_at=now,
        )

    def get(self, name: str) -> Monitor:
        return self._store.get_monitor(validate_monitor_name(name))

    def list_monitors(self) -> list[Monitor]:
        return self._store.list_monitors()

    def delete(self, name: str) -> None:
        self._store.delete_monitor(validate_monitor_name(name))

    def results(
        self, name: str, *, max_results: int | None = None, page_token: str | None = None
    ) -> Page[MonitorResult]:
        """Results of ``name``, newest first."""
        size = RESULTS_DEFAULT if max_results is None else max_results
        if not 1 <= size <= RESULTS_LIMIT:
            raise InvalidArgument(f"max_results must be between 1 and {RESULTS_LIMIT}")
        self.get(name)
        return self._store.list_results(name, max_results=size, page_token=page_token)

    def result(self, result_id: int, *, monitor: str | None = None) -> MonitorResult:
        """Result ``result_id``; with ``monitor``, NotFound unless that monitor ran it."""
        if monitor is not None:
            validate_monitor_name(monitor)
        found = self._store.get_result(result_id)
        if monitor is not None and found.monitor != monitor:
            raise NotFound(f"Monitor {monitor!r} has no result {result_id}")
        return found

    def alert_states(self, name: str) -> dict[str, AlertState]:
        """The alert states of monitor ``name``, by deduplication key."""
        self.get(name)
        return self._store.get_alert_states(name)

    # -- scheduling -----------------------------------------------------------------

    def due(self, now: int | None = None) -> list[Monitor]:
        """Scheduled monitors whose latest cron time up to ``now`` has not been run yet."""
        now = self._clock() if now is None else now
        out = []
        for monitor in self._store.list_monitors():
            if monitor.schedule is None:
                continue
            try:
                fire = previous_fire(monitor.schedule, now)
            except (ValueError, KeyError) as exc:  # pragma: no cover - validated on create
                log.warning("monitor %s: bad schedule %r: %s", monitor.name, monitor.schedule, exc)
                continue
            last = self._store.last_run_at(monitor.name)
            # A monitor created after its last fire time waits for the next one.
            if fire >= monitor.created_at and (last is None or last < fire):
                out.append(monitor)
        return out

    # -- running --------------------------------------------------------------------

    def run(self, name: str, *, now: int | None = None) -> MonitorResult:
        """Run monitor ``name`` once and record the result (never raises for a
        failing check or source; a missing monitor raises NotFound)."""
        monitor = self.get(name)
        run_at = self._clock() if now is None else now
        started = time.monotonic()
        errors: list[str] = []
        window_info: dict[str, Any] = {"source": monitor.current.describe()}
        drift = quality = perf = None
        try:
            reference = self._reference(monitor)
            window = self._windows.read(monitor.current)
            window_info = {
                "source": window.source,
                "rows": int(window.table.num_rows),
                "digest": window.digest,
            }
        except Exception as exc:
            errors.append(_message("reading data", exc))
        else:
            drift = self._check("drift", errors, lambda: self._drift(monitor, reference, window))
            quality = self._check(
                "quality", errors, lambda: self._quality(monitor, reference, window)
            )
            perf = self._check("performance", errors, lambda: self._performance(monitor, window))
        result = MonitorResult(
            monitor=monitor.name,
            run_at=run_at,
            status=MonitorStatus.ERROR if errors else MonitorStatus.OK,
            window=window_info,
            drift=drift,
            quality=quality,
            performance=perf,
            error="; ".join(errors) or None,
        )
        result = self._alert(monitor, result, errors)
        result = replace(result, duration_ms=round((time.monotonic() - started) * 1000))
        return self._store.append_result(result)

    def _check(
        self, what: str, errors: list[str], compute: Callable[[], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        try:
            return compute()
        except Exception as exc:
            errors.append(_message(f"{what} check", exc))
            return None

    def _alert(self, monitor: Monitor, result: MonitorResult, errors: list[str]) -> MonitorResult:
        previous = self._store.get_alert_states(monitor.name)
        states: dict[str, AlertState] = dict(previous)
        notes: list[Notification] = []
        document = result.document()
        for rule in monitor.rules:
            try:
                new, fired = evaluate(rule, previous, document, result.run_at)
            except MoorlineError as exc:
                errors.append(_message(f"alert rule {rule.name!r}", exc))
                continue
            states.update(new)
            notes.extend(fired)
        holding = tuple(
            sorted(
                key
                for key, state in states.items()
                if state.evaluated_at == result.run_at
                and state.status in (AlertStatus.FIRING, AlertStatus.PENDING)
            )
        )
        records: list[dict[str, Any]] = []
        if notes and self._sender is not None and monitor.channels:
            try:
                deliveries = self._sender.deliver(notes, monitor.channels)
            except Exception as exc:
                errors.append(_message("delivering alerts", exc))
                deliveries = []
            by_id = {note.id: note for note in notes}
            records = [delivery_record(by_id[d.notification_id], d) for d in deliveries]
        else:
            records = [delivery_record(note, None) for note in notes]
        self._store.put_alert_states(monitor.name, states)
        if errors:
            status = MonitorStatus.ERROR
        elif holding:
            status = MonitorStatus.ALERTING
        else:
            status = MonitorStatus.OK
        return replace(
            result,
            status=status,
            alerts=holding,
            notifications=tuple(records),
            error="; ".join(errors) or None,
        )

    # -- the reference --------------------------------------------------------------

    def _reference(self, monitor: Monitor) -> _Loaded:
        ref = monitor.reference
        digest = ref.digest if isinstance(ref, DatasetSource) else None
        window: Window | None = None
        if digest is None:
            window = self._windows.read(ref)
            digest = window.digest
        if digest is None:  # pragma: no cover - readers give files and datasets a digest
            raise InvalidArgument(f"The reference {ref.describe()} has no digest")
        profile = self._cached_profile(digest)
        contract = self._cached_contract(digest)
        if profile is not None and contract is not None:
            return _Loaded(profile, contract)
        if window is None:
            window = self._windows.read(ref)
        return self._build_reference(digest, window)

    def _cached_profile(self, digest: str) -> ReferenceProfile | None:
        from moorline.monitoring.profile import ReferenceProfile

        data = self._read_blob(profile_key(digest))
        return None if data is None else ReferenceProfile.from_bytes(data)

    def _cached_contract(self, digest: str) -> dict[str, Any] | None:
        data = self._read_blob(contract_key(digest))
        return None if data is None else dict(json.loads(data))

    def _read_blob(self, key: str) -> bytes | None:
        if self._artifacts.size(key) is None:
            return None
        try:
            return b"".join(self._artifacts.open(key))
        except NotFound:
            return None

    def _build_reference(self, digest: str, window: Window) -> _Loaded:
        from moorline.monitoring.profile import ReferenceProfile
        from moorline.monitoring.quality import duplicate_share
        from moorline.tracking.datasets import (
            canonical_table,
            dataset_schema,
            profile_json,
            profile_table,
            schema_json,
        )

        table = canonical_table(window.table)
        profile = ReferenceProfile.from_frame(table)
        contract = {
            "schema": schema_json(dataset_schema(table)),
            "profile": profile_json(profile_table(table)),
            # Duplicate rows are judged against the reference's own share.
            "duplicate_share": duplicate_share(table),
        }
        self._artifacts.put(profile_key(digest), iter([profile.to_bytes()]))
        self._artifacts.put(contract_key(digest), iter([json.dumps(contract).encode()]))
        self.profiles_built += 1
        return _Loaded(profile, contract)

    # -- the checks -----------------------------------------------------------------

    def _drift(self, monitor: Monitor, ref: _Loaded, window: Window) -> dict[str, Any] | None:
        check = monitor.drift
        if check is None:
            return None
        from moorline.monitoring.drift import compute_drift

        present = set(window.table.column_names)
        wanted = check.columns or tuple(ref.profile.columns)
        columns = [c for c in wanted if c in present]
        if not columns:
            raise InvalidArgument("no column of the reference is in the current window")
        frame = window.table.select(columns).to_pandas()
        report = compute_drift(
            ref.profile,
            frame,
            preset=check.preset,  # type: ignore[arg-type]
            columns=None if check.column_mapping else columns,
            column_mapping=check.column_mapping,
            threshold=check.threshold,
            per_column_threshold=dict(check.per_column_threshold) or None,
            drift_share=check.drift_share,
        )
        document = dict(report.to_dict())
        # Compact histograms of both sides, so the stored report can draw them.
        from moorline.monitoring.html import stored_distributions

        try:
            document["distributions"] = stored_distributions(document, ref.profile, frame)
        except Exception:  # the report stands without its pictures
            log.warning("monitor %s: distributions not kept", monitor.name, exc_info=True)
        return document

    def _quality(self, monitor: Monitor, ref: _Loaded, window: Window) -> dict[str, Any] | None:
        config = monitor.quality
        if config is None:
            return None
        from moorline.monitoring.quality import as_contract, check_quality

        contract = as_contract(dict(ref.contract))
        perf = monitor.performance
        if perf is not None and contract.column(perf.prediction) is None:
            # The model's output is in the window, not in the training data: not news.
            config = replace(config, ignore_columns=config.ignore_columns | {perf.prediction})
        current = monitor.current
        if isinstance(current, PredictionsSource):
            # A window of logged predictions carries where each row came from and the
            # model's answer and label: columns the training data never had, by design.
            added = {
                current.label,
                current.prediction,
                *PREDICTION_METADATA_COLUMNS,
            }
            extra = {c for c in added if contract.column(c) is None}
            config = replace(config, ignore_columns=config.ignore_columns | extra)
        return dict(check_quality(contract, window.table, config).to_dict())

    def _performance(self, monitor: Monitor, window: Window) -> dict[str, Any] | None:
        check = monitor.performance
        if check is None:
            return None
        from moorline.monitoring.performance import compare_with_baseline, performance

        table = window.table
        for column in (check.label, check.prediction):
            if column not in table.column_names:
                raise InvalidArgument(f"the current window has no column {column!r}")
        result = performance(
            table.column(check.label).to_numpy(zero_copy_only=False),
            table.column(check.prediction).to_numpy(zero_copy_only=False),
            task=check.task,  # type: ignore[arg-type]
        )
        out: dict[str, Any] = {**result.to_dict()["metrics"], "n_labelled": result.n_labelled}
        if check.baseline:
            comparison = compare_with_baseline(result, dict(check.baseline), check.tolerance)
            out["baseline"] = comparison.to_dict()
            out["degraded"] = bool(comparison.degraded)
        return out


#: What stands for a hidden credential in a monitor read back in its shown form
#: (:func:`monitor_from_shown`): each passes its field's validation, and goes back
#: as :data:`REDACTED` ("keep the stored value") when the monitor is sent again.
PLACEHOLDERS: Final = {
    "secret": "***redacted-secret***",
    "webhook_url": "https://redacted.invalid/***",
    "routing_key": "REDACTED" + "0" * 24,
    "password": REDACTED,
}


def monitor_from_shown(data: Mapping[str, Any]) -> Monitor:
    """A monitor from its shown form (``Monitor.to_dict(redact=True)``, as a server
    answers, or a request sends back), each channel credential shown as
    :data:`REDACTED` replaced by its placeholder (:data:`PLACEHOLDERS`).

    >>> hook = {"type": "webhook", "name": "w", "url": "http://h/", "secret": "***"}
    >>> monitor = monitor_from_shown({
    ...     "name": "m", "model": "x", "reference": {"kind": "file", "path": "r.csv"},
    ...     "current": {"kind": "file", "path": "c.csv"}, "drift": {}, "channels": [hook]})
    >>> monitor.channels[0].secret == PLACEHOLDERS["secret"]
    True
    >>> sendable(monitor)["channels"][0]["secret"]
    '***'
    """
    channels = [
        {k: PLACEHOLDERS[k] if k in PLACEHOLDERS and v == REDACTED else v for k, v in c.items()}
        for c in data.get("channels") or ()
    ]
    return Monitor.from_dict({**data, "channels": channels})


def sendable(monitor: Monitor) -> dict[str, Any]:
    """``monitor.to_dict()`` with every placeholder back to :data:`REDACTED`, so that
    a monitor read from a server, changed and sent back keeps its stored credentials."""
    out = monitor.to_dict()
    out["channels"] = [
        {k: REDACTED if k in PLACEHOLDERS and v == PLACEHOLDERS[k] else v for k, v in c.items()}
        for c in out["channels"]
    ]
    return out


def keep_secrets(monitor: Monitor, stored: Monitor | None) -> Monitor:
    """``monitor`` with every credential that stands for a stored one (a channel's
    placeholder, a SQL source's password :data:`REDACTED`) taken from ``stored``.

    A channel is matched by type and name; a SQL source's password when the
    rest of its URL is unchanged. A placeholder with nothing stored to take
    it from (``stored`` is None for a new monitor) is refused: the monitor
    would send it.
    """
    kept = {} if stored is None else {(c.channel_type, c.name): c for c in stored.channels}
    channels = tuple(_kept_channel(c, kept, monitor.name) for c in monitor.channels)
    current = monitor.current
    if isinstance(current, SqlSource) and _hides_password(current.uri):
        previous = None if stored is None else stored.current
        if not isinstance(previous, SqlSource) or _hide_password(previous.uri) != current.uri:
            raise InvalidArgument(
                f"Monitor {monitor.name!r}: the SQL source's URL has the password "
                f"{REDACTED!r}, which stands for a stored value, but no stored source has "
                "this URL: send the real password"
            )
        current = replace(current, uri=previous.uri)
    return replace(monitor, channels=channels, current=current)


def _hides_password(uri: str) -> bool:
    return f":{REDACTED}@" in uri


def _kept_channel(
    channel: Channel, stored: Mapping[tuple[str, str], Channel], monitor: str
) -> Channel:
    sent = channel_to_dict(channel)
    hidden = [k for k, v in sent.items() if k in PLACEHOLDERS and v == PLACEHOLDERS[k]]
    if not hidden:
        return channel
    old = stored.get((channel.channel_type, channel.name))
    if old is None:
        raise InvalidArgument(
            f"Monitor {monitor!r}: {channel.channel_type} channel {channel.name!r} has "
            f"{', '.join(hidden)} {REDACTED!r}, which stands for a stored value, but the "
            "monitor has no such channel yet: send the real value"
        )
    previous = channel_to_dict(old)
    return channel_from_dict({**sent, **{k: previous[k] for k in hidden}})


def _check_baseline(monitor: Monitor) -> None:
    """A baseline names metrics its task computes (a typo would never be compared)."""
    check = monitor.performance
    if check is None:
        return
    from moorline.monitoring.performance import CLASSIFICATION_METRICS, REGRESSION_METRICS

    known = CLASSIFICATION_METRICS if check.task == "classification" else REGRESSION_METRICS
    unknown = sorted(set(check.baseline) - set(known))
    if unknown:
        raise InvalidArgument(
            f"Monitor {monitor.name!r}: the {check.task} baseline names unknown metric(s) "
            f"{', '.join(unknown)}; use {', '.join(known)}"
        )
    if not math.isfinite(check.tolerance) or check.tolerance < 0:
        raise InvalidArgument(
            f"Monitor {monitor.name!r}: the performance tolerance must be a number >= 0, "
            f"got {check.tolerance!r}"
        )
    bad = sorted(k for k, v in check.baseline.items() if not math.isfinite(v))
    if bad:
        raise InvalidArgument(
            f"Monitor {monitor.name!r}: baseline value(s) of {', '.join(bad)} must be finite"
        )


def _message(what: str, exc: BaseException) -> str:
    text = exc.message if isinstance(exc, MoorlineError) else str(exc)
    return f"{what} failed: {type(exc).__name__}: {text}".strip()


__all__ = [
    "PLACEHOLDERS",
    "REDACTED",
    "MonitorService",
    "Monitors",
    "contract_key",
    "keep_secrets",
    "monitor_from_shown",
    "previous_fire",
    "profile_key",
    "sendable",
    "validate_schedule",
]
