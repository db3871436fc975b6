"""Streaming the months after training through the model server, week by week.

Each day's rows go out in a few predict requests (the consumer's key on each),
the day's true demand goes back as feedback in the evening. After each week
the monitor runs on the logged predictions (its window is the last
``week_seconds``: exactly that week); an alert the pipeline follows records a
trigger, whose run executes here while the stream waits (in real life traffic
would go on for the hours training takes); a canary started by the rollout
is judged every day on the live answers and their labels, and the stream
waits for the model server to follow each traffic change.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from moorline.demo import elec
from moorline.demo.display import Display, clip
from moorline.demo.records import DEPLOYMENT, MONITOR, Answer, DemoOptions, Summary, Week
from moorline.errors import MoorlineError, NotFound

if TYPE_CHECKING:
    from moorline.bootstrap import Services
    from moorline.monitoring.monitors import MonitorResult
    from moorline.pipelines.models import Pipeline, PipelineRun, Remediation
    from moorline.serving.models import Deployment
    from moorline.serving.rollout import CanaryController

#: Seconds after its last request a week's predictions are looked for in the log
#: (the model server writes its log every 0.25 s, off the request path).
LOG_FLUSH_WAIT_S: Final = 10.0
#: Seconds the model server gets to follow a traffic change.
SWITCH_WAIT_S: Final = 30.0


class Stream:
    """The stream and the loop closing on it; ``answers`` holds every request as
    sent and answered, ``promoted`` whether the challenger took over."""

    def __init__(
        self,
        *,
        services: Services,
        options: DemoOptions,
        display: Display,
        summary: Summary,
        url: str,
        api_key: str,
        pipeline: Pipeline,
        canaries: CanaryController,
    ) -> None:
        self.services = services
        self.options = options
        self.out = display
        self.summary = summary
        self.url = url
        self.api_key = api_key
        self.pipeline = pipeline
        self.canaries = canaries
        self.answers: list[Answer] = []
        self.promoted = False
        self.canary_running = False
        self.remediation: str | None = None
        self.shown_steps = 0
        self.client: Any = None

    def run(self, stream: Any) -> None:
        """Stream ``stream`` (the rows after the training period) week by week."""
        import httpx

        options, out = self.options, self.out
        url, pipeline, canaries = self.url, self.pipeline, self.canaries
        day_keys = stream["ts"].dt.normalize()
        days = [(day, frame) for day, frame in stream.groupby(day_keys, sort=True)]
        # Whole weeks only: the monitor compares a week's window with the training data.
        weeks = [days[i : i + 7] for i in range(0, len(days) - 6, 7)]
        days = [day for week in weeks for day in week]
        out.line()
        out.title(
            f"Streaming {days[0][0]:%b %d} - {days[-1][0]:%b %d} through the model server: "
            f"{options.rows_per_day} rows a day in requests of {options.rows_per_request}, "
            "the day's true demand sent back as feedback each evening"
        )
        out.line(
            f"  {'week':<15}{'rows':>5}  {'answered by':<16}{'MAE':>6}  monitor (drift, alerts)",
            style="dim",
        )
        headers = {"X-Moorline-Consumer-Key": self.api_key}
        with (
            httpx.Client(base_url=url, headers=headers, timeout=60.0) as client,
            out.streaming(len(days)),
        ):
            self.client = client
            previous_end = -math.inf
            for index, week_days in enumerate(weeks):
                week = Week(index=index, label=_week_label(week_days))
                self.summary.weeks.append(week)
                # The monitor reads the last week_seconds of the log: the previous
                # week must have left that window before this one starts.
                _sleep_until(previous_end + options.week_seconds + 0.1)
                start_wall, start_ms = time.monotonic(), time.time_ns() // 1_000_000
                requests = 0
                for day, frame in week_days:
                    requests += self._day(client, week, frame)
                    out.advance(f"{day:%b %d}")
                    if self.canary_running:
                        self._judge(canaries)
                previous_end = time.monotonic()
                week.stream_s = previous_end - start_wall
                served = [a for a in self.answers if a.week == index]
                week.served_mae = _served_mae(served)
                self._wait_logged(start_ms, requests)
                result = self.services.local_monitors.run(MONITOR)
                self._week_line(week, result)
                self._triggers(pipeline, week)
        if self.canary_running:
            self._judge(canaries)

    def _day(self, client: Any, week: Week, frame: Any) -> int:
        features = list(elec.FEATURES)
        size = self.options.rows_per_request
        feedback = []
        sent = 0
        for start in range(0, len(frame), size):
            chunk = frame.iloc[start : start + size]
            rows = [list(r) for r in zip(*(chunk[c].tolist() for c in features), strict=True)]
            body = {"dataframe_split": {"columns": features, "data": rows}}
            response = client.post(f"/v1/deployments/{DEPLOYMENT}/predict", json=body)
            self.summary.requests += 1
            sent += 1
            if response.status_code != 200:
                self.summary.failed_requests += 1
                self.summary.problems.append(
                    f"a predict request failed with {response.status_code}: "
                    f"{clip(response.text, 300)}"
                )
                continue
            answer = response.json()
            labels = [float(v) for v in chunk[elec.LABEL].tolist()]
            version = int(answer["model_version"])
            self.answers.append(
                Answer(
                    week=week.index,
                    version=version,
                    inputs=chunk[features],
                    labels=labels,
                    predictions=[float(p) for p in answer["predictions"]],
                    after_promotion=self.promoted,
                )
            )
            week.rows += len(chunk)
            week.versions[version] += len(chunk)
            feedback.append({"prediction_id": answer["prediction_id"], "labels": labels})
        if feedback:
            reply = client.post(f"/v1/deployments/{DEPLOYMENT}/feedback", json=feedback)
            if reply.status_code != 200:
                self.summary.problems.append(
                    f"feedback was refused with {reply.status_code}: {clip(reply.text, 300)}"
                )
        return sent

    def _wait_logged(self, since_ms: int, requests: int) -> None:
        """Wait until the model server has written this week's requests to the log."""
        store = self.services.deployments.predictions
        deadline = time.monotonic() + LOG_FLUSH_WAIT_S
        while time.monotonic() < deadline:
            logged = store.read_predictions(DEPLOYMENT, since=since_ms, limit=requests + 1000)
            if len(logged) >= requests:
                return
            time.sleep(0.05)
        self.summary.problems.append(
            f"the prediction log did not show all {requests} requests of a week within "
            f"{LOG_FLUSH_WAIT_S:g} s"
        )

    def _week_line(self, week: Week, result: MonitorResult) -> None:
        from rich.markup import escape

        week.monitor_status = result.status.value
        week.window_rows = result.window.get("rows")
        perf = dict(result.performance or {})
        mae = perf.get("mae")
        week.monitor_mae = None if mae is None else round(float(mae), 4)
        for column in (result.drift or {}).get("columns") or ():
            if column.get("drift_detected"):
                week.drifted.append(
                    f"{column.get('column')} ({column.get('stattest')} "
                    f"{float(column.get('score') or 0):.2f})"
                )
        for note in result.notifications:
            rule = str(note.get("dedup_key", "")).split("/", 1)[0]
            if note.get("event") == "alert.firing" and rule not in week.fired:
                week.fired.append(rule)
            elif note.get("event") == "alert.resolved" and rule not in week.resolved:
                week.resolved.append(rule)
        week.monitor_error = result.error
        versions = " ".join(
            f"v{v} {100 * n / max(week.rows, 1):.0f}%" for v, n in sorted(week.versions.items())
        )
        if len(week.versions) == 1:
            versions = f"v{next(iter(week.versions))}"
        # The monitor's MAE (what the alert reads), red above the alert's threshold.
        mae_text = f"{'-':>6}" if week.monitor_mae is None else f"{week.monitor_mae:>6.3f}"
        if (week.monitor_mae or 0.0) > (self.summary.alert_threshold or math.inf):
            mae_text = f"[bold red]{mae_text}[/]"
        notes = []
        if week.drifted:
            notes.append("drift " + ", ".join(week.drifted))
        for rule in week.fired:
            style = "bold red" if rule == "mae" else "yellow"
            notes.append(f"[{style}]alert {rule} FIRED[/]")
        for rule in week.resolved:
            notes.append(f"[green]alert {rule} resolved[/]")
        if result.error:
            notes.append(f"[red]error: {escape(clip(result.error, 120))}[/]")
        self.out.markup(
            f"  {week.label:<15}{week.rows:>5}  {versions:<16}{mae_text}  " + "; ".join(notes)
        )

    # -- the loop closing --------------------------------------------------------------

    def _triggers(self, pipeline: Pipeline, week: Week) -> None:
        service = self.services.pipelines
        service.collect(pipeline)
        for decision in service.start_pending(pipeline):
            if decision.run is None:
                into = decision.deduplicated_into
                self.out.event(
                    "deduplicated",
                    "trigger",
                    decision.reason or f"absorbed by run {into.id if into else '?'}",
                )
                continue
            self._retrain(decision.run, week)

    def _retrain(self, run: PipelineRun, week: Week) -> None:
        from moorline.pipelines.scheduler import run_inline

        service = self.services.pipelines
        week.pipeline_run = run.id
        if self.summary.pipeline_run_id is None:
            self.summary.pipeline_run_id = run.id
            self.summary.remediation_id = run.remediation_id
            self.summary.alert_week = week.label
        self.remediation = run.remediation_id
        self.shown_steps = 0
        self._show_steps()
        t0 = time.monotonic()
        with self.out.waiting("retraining (the stream waits, as traffic would for hours)"):
            done = run_inline(service, run)
        self.summary.timings_s["pipeline_run"] = time.monotonic() - t0
        if done is None:
            self.summary.problems.append(
                f"pipeline run {run.id} stayed queued (its concurrency limit was reached)"
            )
            return
        record = self._show_steps()
        if record is not None and record.status.value == "canary":
            self.canary_running = True
            self.summary.challenger_version = record.challenger_version
            self._await_server(self.services.deployments.get(DEPLOYMENT))

    def _judge(self, canaries: CanaryController) -> None:
        from moorline.serving.rollout import CanaryAction

        try:
            outcome = canaries.evaluate(DEPLOYMENT)
        except NotFound:
            self.canary_running = False
            self.summary.problems.append("the canary ended without a verdict of its own")
            return
        except MoorlineError as exc:
            self.summary.problems.append(f"judging the canary failed: {exc.message}")
            return
        self._show_steps()
        if outcome.action is CanaryAction.PROMOTED:
            self.canary_running = False
            self.summary.promoted_week = self.summary.weeks[-1].label
            self._await_server(outcome.deployment or self.services.deployments.get(DEPLOYMENT))
            self.promoted = True
        elif outcome.action is CanaryAction.ROLLED_BACK:
            self.canary_running = False
            self._await_server(outcome.deployment or self.services.deployments.get(DEPLOYMENT))

    def _await_server(self, deployment: Deployment) -> None:
        """Wait until the model server serves ``deployment``'s revision (it polls the
        store, loads and warms new versions up, then switches)."""
        t0 = time.monotonic()
        deadline = t0 + SWITCH_WAIT_S
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                served = self.client.get("/ready").json().get("deployments", {})
                if int(served.get(DEPLOYMENT, 0)) >= deployment.revision:
                    self.out.event(
                        "ok",
                        "model server",
                        f"serves revision {deployment.revision} "
                        f"({deployment.policy.describe()}) {time.monotonic() - t0:.1f} s later, "
                        "without a restart",
                    )
                    return
            time.sleep(0.05)
        self.summary.problems.append(
            f"the model server did not switch to revision {deployment.revision} within "
            f"{SWITCH_WAIT_S:g} s"
        )

    def _show_steps(self) -> Remediation | None:
        if self.remediation is None:
            return None
        record = self.services.pipelines.get_remediation(self.remediation)
        new = record.steps[self.shown_steps :]
        self.shown_steps = len(record.steps)
        self.out.remediation_steps(new)
        return record


def _week_label(days: Sequence[tuple[Any, Any]]) -> str:
    first, last = days[0][0], days[-1][0]
    if first.month == last.month:
        return f"{first:%b %d}-{last:%d}"
    return f"{first:%b %d}-{last:%b %d}"


def _served_mae(answers: Sequence[Answer]) -> float | None:
    if not answers:
        return None
    return round(
        elec.mae(
            [p for a in answers for p in a.predictions], [y for a in answers for y in a.labels]
        ),
        4,
    )


def _sleep_until(deadline: float) -> None:
    left = deadline - time.monotonic()
    if left > 0:
        time.sleep(left)


__all__ = ["LOG_FLUSH_WAIT_S", "SWITCH_WAIT_S", "Stream"]
