"""Training pipelines: the user's training code, run by triggers, validated by a gate.

A :class:`~moorline.pipelines.models.Pipeline` names the user's entry point
(``module:function`` in their repository), where fresh data comes from, how
a challenger is evaluated against the champion and the rollout policy. The
:class:`~moorline.pipelines.service.PipelineService` records triggers (manual,
cron, monitor alerts, new dataset versions) durably and turns them into
queued pipeline runs, deduplicated and under a per-pipeline concurrency
limit; the :class:`~moorline.pipelines.scheduler.PipelineScheduler` runs them
beside the server under a lease held in the database. Each run is a tracked
run with full lineage, its challenger goes through the validation gate
(:mod:`moorline.pipelines.gate`), and every step lands in one remediation
record (alert -> data -> training -> validation -> approval -> canary ->
promotion or rollback).
"""
