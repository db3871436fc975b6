"""Finding triggers: cron times, monitor alerts that fired, new dataset versions.

:class:`TriggerCollector` looks at what a pipeline follows and records one
trigger row per event (the store keeps one row per key whatever the
number of replicas that see it). Alerts are read from the monitors' stored
results, after a cursor per (pipeline, monitor): every ``alert.firing``
notification recorded after the pipeline was registered is a trigger, so
an alert that fired while no scheduler was up is found by the next one.
Dataset versions are compared with the last digest seen.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from moorline.errors import NotFound
from moorline.monitoring.service import previous_fire
from moorline.pipelines.models import (
    Pipeline,
    PipelineRun,
    Step,
    StepStatus,
    Trigger,
    TriggerKind,
)
from moorline.pipelines.ports import PipelineStore
from moorline.tracking.datasets import DatasetService

if TYPE_CHECKING:
    from moorline.monitoring.monitors import MonitorResult
    from moorline.monitoring.service import MonitorService

log = logging.getLogger("moorline.pipelines.triggers")

#: Monitor results read per page while looking for new alerts.
RESULTS_PAGE: Final = 200


class TriggerCollector:
    """Records the triggers due for a pipeline (``monitors`` None: no alert triggers)."""

    def __init__(
        self,
        store: PipelineStore,
        *,
        datasets: DatasetService,
        monitors: MonitorService | None = None,
    ) -> None:
        self._store = store
        self._datasets = datasets
        self._monitors = monitors

    def mark_seen(self, pipeline: Pipeline) -> None:
        """Remember the datasets' current versions as seen: only newer ones trigger."""
        for name in pipeline.on_datasets:
            self._see_dataset(pipeline.name, name)

    def collect(self, pipeline: Pipeline, now: int) -> list[Trigger]:
        """Record the triggers due for ``pipeline`` at ``now``: its cron time, alerts
        fired since the last look, new versions of the datasets it follows. The new ones."""
        found: list[Trigger] = []
        if pipeline.schedule:
            fire = previous_fire(pipeline.schedule, now)
            if fire >= pipeline.created_at:
                found += self._record(
                    Trigger(
                        pipeline=pipeline.name,
                        kind=TriggerKind.SCHEDULE,
                        key=f"schedule:{fire}",
                        group="schedule",
                        created_at=now,
                        details={"schedule": pipeline.schedule, "fire_time": fire},
                    )
                )
        if pipeline.on_alerts and self._monitors is not None:
            found += self._collect_alerts(pipeline, now)
        for name in pipeline.on_datasets:
            found += self._collect_dataset(pipeline, name, now)
        return found

    def _record(self, trigger: Trigger) -> list[Trigger]:
        stored, created = self._store.record_trigger(trigger)
        return [stored] if created else []

    def _collect_alerts(self, pipeline: Pipeline, now: int) -> list[Trigger]:
        assert self._monitors is not None
        found: list[Trigger] = []
        for monitor in sorted({a.monitor for a in pipeline.on_alerts}):
            source = f"alerts:{monitor}"
            cursor = self._store.get_cursor(pipeline.name, source)
            after = cursor[0] if cursor is not None else 0
            try:
                results = self._new_results(monitor, after, pipeline.created_at)
            except NotFound:
                log.warning("pipeline %s: monitor %s is gone", pipeline.name, monitor)
                continue
            for result in results:
                found += self._alert_triggers(pipeline, result, now)
            if results:
                last = max(r.id or 0 for r in results)
                self._store.advance_cursor(pipeline.name, source, last, str(last))
        return found

    def _new_results(self, monitor: str, after_id: int, since: int) -> list[MonitorResult]:
        """Results of ``monitor`` with id > ``after_id`` run at or after ``since``, oldest first."""
        assert self._monitors is not None
        out: list[MonitorResult] = []
        token: str | None = None
        while True:
            page = self._monitors.results(monitor, max_results=RESULTS_PAGE, page_token=token)
            stop = False
            for result in page.items:
                if (result.id or 0) <= after_id or result.run_at < since:
                    stop = True
                    break
                out.append(result)
            token = page.next_page_token
            if stop or token is None:
                break
        return sorted(out, key=lambda r: r.id or 0)

    def _alert_triggers(self, pipeline: Pipeline, result: MonitorResult, now: int) -> list[Trigger]:
        found: list[Trigger] = []
        seen: set[str] = set()
        for note in result.notifications:
            if note.get("event") != "alert.firing" or note.get("id") in seen:
                continue
            seen.add(str(note.get("id")))
            key = str(note.get("dedup_key") or "")
            rule = key.split("/", 1)[0]
            if not any(a.matches(result.monitor, rule) for a in pipeline.on_alerts):
                continue
            details = {
                "monitor": result.monitor,
                "rule": rule,
                "dedup_key": key,
                "notification_id": note.get("id"),
                "monitor_result_id": result.id,
                "fired_at": result.run_at,
                "window": dict(result.window),
                "alerts": list(result.alerts),
            }
            found += self._record(
                Trigger(
                    pipeline=pipeline.name,
                    kind=TriggerKind.ALERT,
                    key=f"alert:{note.get('id')}",
                    group=f"alert:{key}",
                    created_at=now,
                    details=details,
                )
            )
        return found

    def _see_dataset(self, pipeline: str, name: str) -> str | None:
        """Remember the latest version of dataset ``name`` as seen (no trigger for it)."""
        try:
            digest = self._datasets.get_version(name).dataset.digest
        except NotFound:
            return None
        if self._store.get_cursor(pipeline, f"dataset:{name}") is None:
            self._store.advance_cursor(pipeline, f"dataset:{name}", 0, digest)
        return digest

    def _collect_dataset(self, pipeline: Pipeline, name: str, now: int) -> list[Trigger]:
        source = f"dataset:{name}"
        try:
            version = self._datasets.get_version(name)
        except NotFound:
            return []
        digest = version.dataset.digest
        cursor = self._store.get_cursor(pipeline.name, source)
        if cursor is not None and cursor[1] == digest:
            return []
        found = self._record(
            Trigger(
                pipeline=pipeline.name,
                kind=TriggerKind.DATASET,
                key=f"dataset:{name}@{digest}",
                group=source,
                created_at=now,
                details={"dataset": name, "digest": digest},
            )
        )
        position = (cursor[0] if cursor is not None else 0) + 1
        self._store.advance_cursor(pipeline.name, source, position, digest)
        return found


def trigger_step(trigger: Trigger, now: int) -> Step:
    details = {"trigger_id": trigger.id, "key": trigger.key, **dict(trigger.details)}
    if trigger.kind == TriggerKind.ALERT:
        window = trigger.details.get("window") or {}
        return Step(
            step="alert",
            status=StepStatus.OK,
            at=now,
            reason=f"alert {trigger.details.get('dedup_key')} fired on monitor "
            f"{trigger.details.get('monitor')} (result {trigger.details.get('monitor_result_id')}, "
            f"window {window.get('source')}, {window.get('rows', '?')} rows)",
            details=details,
        )
    if trigger.kind == TriggerKind.SCHEDULE:
        reason = f"cron schedule {trigger.details.get('schedule')!r}"
    elif trigger.kind == TriggerKind.DATASET:
        what = trigger.details
        reason = f"new version {what.get('digest')} of dataset {what.get('dataset')}"
    else:
        reason = f"run by {trigger.details.get('actor')}"
        if trigger.details.get("reason"):
            reason += f": {trigger.details.get('reason')}"
    return Step(step="trigger", status=StepStatus.OK, at=now, reason=reason, details=details)


def dedup_step(trigger: Trigger, into: PipelineRun, pipeline: Pipeline, now: int) -> Step:
    if into.status.is_terminal:
        why = (
            f"run {into.id} for the same {trigger.kind.value} finished at {into.finished_at}, "
            f"within the pipeline's cooldown of {pipeline.cooldown_seconds:g} s"
        )
    else:
        why = f"run {into.id} for the same {trigger.kind.value} is {into.status.value}"
    return Step(
        step="deduplicated",
        status=StepStatus.DEDUPLICATED,
        at=now,
        reason=f"{trigger.kind.value} {trigger.group} fired again; no new run: {why}",
        details={"trigger_id": trigger.id, "key": trigger.key, "into": into.id},
    )


__all__ = ["TriggerCollector", "dedup_step", "trigger_step"]
