"""The closed loop, run once on Victoria's electricity demand (``moorline demo``).

:func:`run_demo` sets everything up the way a user would
(:mod:`moorline.demo.setup`: the SDK to train, log, register and deploy; the
services for the monitor, the pipeline and the canary rollout), starts the
model server as a child process (:mod:`moorline.demo.server`), streams May
onwards through it (:mod:`moorline.demo.stream`: the monitor after each week,
the retraining when its error alert fires, the canary judged every day), then
concludes from the store and the answers: the remediation record, and what
the stale and the retrained model score on the same rows after the
promotion. Every number comes from the run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from moorline.demo import elec
from moorline.demo.display import Display, clip
from moorline.demo.records import (
    DEPLOYMENT,
    MODEL,
    MONITOR,
    Answer,
    DemoOptions,
    Summary,
)
from moorline.errors import AlreadyExists, InvalidArgument, NotFound

if TYPE_CHECKING:
    from moorline.bootstrap import Services, Settings
    from moorline.pipelines.models import Remediation

#: Where ``make run`` / ``moorline server`` listen by default (the URLs printed).
UI_BASE = "http://127.0.0.1:5000"


def run_demo(settings: Settings, options: DemoOptions, display: Display) -> Summary:
    """Run the whole loop against the store of ``settings``; the measured summary.

    Raises AlreadyExists when the demo's objects exist and ``options.reset`` is
    False (nothing is changed then).
    """
    from moorline.bootstrap import build_services
    from moorline.demo.setup import existing_objects, reset

    started = time.monotonic()
    if settings.is_remote:
        raise InvalidArgument(
            "The demo runs the monitor, the pipeline and the canary analysis next to the "
            "database: point --store at it (sqlite:/// or postgresql+psycopg://) or use --home"
        )
    summary = Summary(
        store_uri=settings.store_uri,
        artifacts_uri=settings.artifacts_uri,
        options={
            "row_step": options.row_step,
            "rows_per_request": options.rows_per_request,
            "week_seconds": options.week_seconds,
            "stream_from": options.stream_from,
            "stream_until": options.stream_until,
            "canary_weight": options.canary_weight,
        },
    )
    services = build_services(settings)
    try:
        found = existing_objects(services)
        if found and not options.reset:
            raise AlreadyExists(
                f"The demo's objects already exist in {settings.store_uri}: {', '.join(found)}. "
                "Run 'moorline demo --reset' to replace them (their history stays), or "
                "'moorline demo --home DIR' to use a fresh folder"
            )
        if found:
            display.step("reset", "deleted " + ", ".join(reset(services)))
        answers = _run(services, settings, options, display, summary)
        record = conclude(services, summary, answers)
        summary.elapsed_s = time.monotonic() - started
        render(display, summary, record, settings)
    finally:
        services.close()
    return summary


def _run(
    services: Services,
    settings: Settings,
    options: DemoOptions,
    display: Display,
    summary: Summary,
) -> list[Answer]:
    from moorline.demo import setup
    from moorline.demo.server import start_model_server
    from moorline.demo.stream import Stream

    t0 = time.monotonic()
    data = elec.load(options.row_step)
    display.step(
        "data",
        f"Victoria (AU) electricity demand 2014: {len(data):,} rows "
        f"({'hourly' if options.row_step == 2 else 'half-hourly'}), features "
        f"{', '.join(elec.FEATURES)}, target {elec.LABEL} (GW)",
    )
    history = data[data["ts"] < options.stream_from]
    rows = data[(data["ts"] >= options.stream_from) & (data["ts"] < options.stream_until)]
    if history.empty or rows.empty:
        raise InvalidArgument("The training period or the streamed period holds no rows")
    with setup.sdk_pointed_at(settings):
        baseline = setup.train_and_register(history, options, display)
        api_key = setup.deploy(display)
    summary.validation_mae = round(baseline.validation_mae, 4)
    summary.champion_before = baseline.version
    summary.timings_s["setup"] = time.monotonic() - t0

    t1 = time.monotonic()
    server = start_model_server(
        deployment=DEPLOYMENT, store_uri=settings.store_uri, artifacts_uri=settings.artifacts_uri
    )
    summary.timings_s["model_server_start"] = time.monotonic() - t1
    display.step(
        "serve",
        f"moorline serve {DEPLOYMENT} listening on {server.url} "
        f"(ready in {server.started_s:.1f} s: v{baseline.version} loaded, digests verified)",
    )
    try:
        summary.alert_threshold = setup.create_monitor(services, options, display, baseline)
        stream = Stream(
            services=services,
            options=options,
            display=display,
            summary=summary,
            url=server.url,
            api_key=api_key,
            pipeline=setup.register_pipeline(services, settings, options, display),
            canaries=setup.plug_rollout(services, options),
        )
        t2 = time.monotonic()
        stream.run(rows)
        summary.timings_s["stream"] = time.monotonic() - t2
    finally:
        code = server.stop()
        if code not in (0, None):
            summary.problems.append(
                f"the model server exited with code {code}: {clip(server.log_tail(), 400)}"
            )
    return stream.answers


def conclude(services: Services, summary: Summary, answers: Sequence[Answer]) -> Remediation | None:
    """Fill in what the store says now (the deployment, the alias, the remediation
    record) and the before/after comparison; the remediation record, if any."""
    from moorline.sdk.models import load_model_from

    deployment = services.deployments.get(DEPLOYMENT)
    summary.deployment_policy = deployment.policy.describe()
    with contextlib.suppress(NotFound):
        summary.champion_after = services.registry.get_version_by_alias(MODEL, "champion").version
    record = None
    if summary.remediation_id is not None:
        record = services.pipelines.get_remediation(summary.remediation_id)
        summary.remediation_status = record.status.value
        summary.remediation_steps = [
            {"step": s.step, "status": s.status.value, "reason": s.reason} for s in record.steps
        ]
    if summary.pipeline_run_id is not None:
        summary.retraining_run_id = services.pipelines.get_run(
            summary.pipeline_run_id
        ).tracked_run_id
    # The same rows, two models: what the retrained version served after its
    # promotion, and what the stale champion would have answered instead.
    after = [a for a in answers if a.after_promotion and a.version == summary.challenger_version]
    if after and summary.champion_before is not None:
        import pandas as pd

        stale = load_model_from(lambda: services, f"models:/{MODEL}/{summary.champion_before}")
        inputs = pd.concat([a.inputs for a in after], ignore_index=True)
        labels = [y for a in after for y in a.labels]
        first, last = after[0].week, after[-1].week
        summary.comparison = {
            "rows": len(labels),
            "weeks": f"{summary.weeks[first].label} .. {summary.weeks[last].label}",
            "stale_version": summary.champion_before,
            "retrained_version": summary.challenger_version,
            "stale_mae": round(elec.mae(stale.predict(inputs), labels), 4),
            "retrained_mae": _mae(after),
        }
    before = [
        a
        for a in answers
        if a.version == summary.champion_before
        and summary.weeks[a.week].label == summary.alert_week
    ]
    if before:
        summary.comparison["alert_week_served_mae"] = _mae(before)
    summary.ok = (
        summary.remediation_status == "promoted"
        and summary.champion_after == summary.challenger_version
        and summary.failed_requests == 0
        and bool(summary.comparison.get("rows"))
    )
    if record is None:
        summary.problems.append("the error alert never fired, so nothing was retrained")
    elif summary.remediation_status != "promoted":
        summary.problems.append(f"the remediation ended {summary.remediation_status}, not promoted")
    summary.ui = ui_pages(summary)
    return record


def _mae(answers: Sequence[Answer]) -> float:
    return round(
        elec.mae(
            [p for a in answers for p in a.predictions], [y for a in answers for y in a.labels]
        ),
        4,
    )


def ui_pages(summary: Summary) -> dict[str, str]:
    """The pages of ``moorline server``'s UI that show this run's story.

    >>> sorted(ui_pages(Summary(remediation_id="ab", retraining_run_id="cd")))
    ['deployment', 'fleet', 'model', 'monitor', 'remediation', 'retraining run']
    """
    pages = {
        "fleet": f"{UI_BASE}/ui/fleet",
        "remediation": f"{UI_BASE}/ui/remediations/{summary.remediation_id}",
        "deployment": f"{UI_BASE}/ui/deployments/{DEPLOYMENT}",
        "model": f"{UI_BASE}/ui/models/{MODEL}",
        "monitor": f"{UI_BASE}/ui/monitors/{MONITOR}",
        "retraining run": f"{UI_BASE}/ui/runs/{summary.retraining_run_id}",
    }
    if summary.remediation_id is None:
        del pages["remediation"]
    if summary.retraining_run_id is None:
        del pages["retraining run"]
    return pages


def render(
    display: Display, summary: Summary, record: Remediation | None, settings: Settings
) -> None:
    """The closing part: the remediation record's timeline, the error before and
    after, where to look in the UI, and how long it all took."""
    out = display
    out.line()
    if record is not None:
        out.title(f"The remediation record {record.id} ({record.status.value})")
        out.timeline(record)
        out.line(f"  moorline remediation show {record.id}", style="dim")
        out.line()
    comparison = summary.comparison
    out.title("Before and after")
    out.line(
        f"  validation MAE of v{summary.champion_before} on held-out Jan-Apr days: "
        f"{summary.validation_mae:.3f}"
    )
    if "alert_week_served_mae" in comparison:
        out.line(
            f"  v{summary.champion_before} served {summary.alert_week} (the alert's week): "
            f"MAE {comparison['alert_week_served_mae']:.3f}"
        )
    if comparison.get("rows"):
        out.line(f"  {comparison['weeks']} ({comparison['rows']:,} rows, after the promotion):")
        out.line(
            f"    stale v{comparison['stale_version']} would have scored "
            f"MAE {comparison['stale_mae']:.3f}"
        )
        out.markup(
            f"    retrained v{comparison['retrained_version']} served "
            f"[bold green]MAE {comparison['retrained_mae']:.3f}[/] "
            f"({comparison['retrained_mae'] / comparison['stale_mae']:.0%} of the stale error)"
        )
    out.line(
        f"  deployment {DEPLOYMENT} now serves {summary.deployment_policy}; alias champion -> "
        f"v{summary.champion_after}; {summary.requests:,} requests, "
        f"{summary.failed_requests} failed"
    )
    out.line()
    out.title("See it in the UI")
    out.line(f"  {_server_command(settings)}", style="bold")
    for name, url in summary.ui.items():
        out.line(f"  {name:<15}{url}")
    out.line()
    for problem in summary.problems:
        out.markup(f"[bold red]problem[/] {Display.escape(problem)}")
    verdict = (
        "[bold green]the loop closed[/]" if summary.ok else "[bold red]the loop did not close[/]"
    )
    out.markup(
        f"{verdict} in {summary.elapsed_s:.1f} s "
        f"(stream {summary.timings_s.get('stream', 0):.1f} s, retraining "
        f"{summary.timings_s.get('pipeline_run', 0):.1f} s)"
    )


def _server_command(settings: Settings) -> str:
    from moorline.bootstrap import DEFAULT_HOME

    if settings.store_uri == f"sqlite:///{DEFAULT_HOME}/moorline.db":
        return "make run    # or: moorline server"
    return f"moorline server --store {settings.store_uri} --artifacts {settings.artifacts_uri}"


__all__ = ["UI_BASE", "conclude", "render", "run_demo", "ui_pages"]
