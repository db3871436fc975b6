"""The "remediation failed" notice an alert's channels get.

When a pipeline run started by an alert fails, the monitor's own channels
(webhook, Slack, PagerDuty, email) are told, as a *firing* notice of the
same alert (same dedup key): PagerDuty attaches it to the alert's open
incident, chat channels show it as a new message titled
``REMEDIATION FAILED: <rule> on <monitor>``, and ``details.remediation``
carries the record's id, status, pipeline run and error for machines.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moorline.monitoring.alerts import AlertSeverity, Link, Notification, NotificationKind
from moorline.monitoring.monitors import Monitor
from moorline.pipelines.models import PipelineRun, Remediation


def failure_notice(
    record: Remediation,
    run: PipelineRun,
    error: str,
    monitor: Monitor,
    alert: Mapping[str, Any],
    *,
    now: int,
) -> Notification:
    """The notice for ``record`` (failed with ``error``); ``alert``: the details of
    the remediation's ``alert`` step (rule, dedup key, when it fired)."""
    rule_name = str(alert.get("rule", ""))
    rule = next((r for r in monitor.rules if r.name == rule_name), None)
    return Notification(
        kind=NotificationKind.FIRING,
        dedup_key=str(alert.get("dedup_key") or f"{rule_name}/{monitor.name}"),
        rule=rule_name,
        monitor=monitor.name,
        column=None,
        severity=rule.severity if rule is not None else AlertSeverity.ERROR,
        condition=rule.condition if rule is not None else "",
        value=None,
        at=now,
        fired_at=int(alert.get("fired_at") or now),
        title=f"REMEDIATION FAILED: {rule_name} on {monitor.name}",
        summary=f"pipeline {run.pipeline} run {run.id} failed: {error[:500]}. "
        "Production is unchanged; the alert still needs attention.",
        details={
            "remediation": {
                "id": record.id,
                "status": record.status.value,
                "pipeline": run.pipeline,
                "pipeline_run_id": run.id,
                "error": error[:2000],
            }
        },
        links=(Link(text="Remediation", url=f"/api/v1/remediations/{record.id}"),),
    )


__all__ = ["failure_notice"]
