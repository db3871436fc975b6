"""Setting the demo up the way a user would: the SDK to train, log, register and
deploy; the services to create the monitor, register the pipeline and plug in
the canary rollout. And the demo's objects found, or removed with ``--reset``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from moorline.demo import elec
from moorline.demo.display import Display
from moorline.demo.records import (
    ACTOR,
    CONSUMER,
    DEPLOYMENT,
    EXPERIMENT,
    MODEL,
    MONITOR,
    PIPELINE,
    TRAIN_DATASET,
    VALIDATION_DATASET,
    DemoOptions,
)
from moorline.errors import NotFound

if TYPE_CHECKING:
    from moorline.bootstrap import Services, Settings
    from moorline.pipelines.models import Pipeline
    from moorline.serving.rollout import CanaryController


#: Latency differences of the canary below this never count (see :func:`plug_rollout`).
LATENCY_SLACK_MS: Final = 20.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Baseline:
    """The champion the demo starts from: its version, run, training data and error."""

    version: int
    run_id: str
    train_digest: str
    validation_mae: float


def existing_objects(services: Services) -> list[str]:
    """The demo's objects already in the store, described."""
    found = []
    with contextlib.suppress(NotFound):
        services.registry.get_registered_model(MODEL)
        found.append(f"registered model {MODEL!r}")
    with contextlib.suppress(NotFound):
        services.deployments.get(DEPLOYMENT)
        found.append(f"deployment {DEPLOYMENT!r}")
    with contextlib.suppress(NotFound):
        services.local_monitors.get(MONITOR)
        found.append(f"monitor {MONITOR!r}")
    with contextlib.suppress(NotFound):
        services.pipelines.get(PIPELINE)
        found.append(f"pipeline {PIPELINE!r}")
    return found


def reset(services: Services) -> list[str]:
    """Delete the demo's objects (pipeline, monitor, deployment, consumer, model);
    what was deleted. Remediation records, runs, datasets and the prediction log
    stay: they are history."""
    done = []
    why = "moorline demo --reset"
    with contextlib.suppress(NotFound):
        services.pipelines.delete(PIPELINE)
        done.append(f"pipeline {PIPELINE}")
    with contextlib.suppress(NotFound):
        services.local_monitors.delete(MONITOR)
        done.append(f"monitor {MONITOR}")
    with contextlib.suppress(NotFound):
        services.deployments.delete(DEPLOYMENT, actor=ACTOR, reason=why)
        done.append(f"deployment {DEPLOYMENT}")
    for consumer in services.deployments.list_consumers(model=MODEL):
        with contextlib.suppress(NotFound):
            services.deployments.revoke_consumer(MODEL, consumer.name, actor=ACTOR, reason=why)
            done.append(f"consumer {consumer.name}")
    with contextlib.suppress(NotFound):
        services.registry.delete_registered_model(MODEL, actor=ACTOR, reason=why)
        done.append(f"registered model {MODEL}")
    return done


@contextlib.contextmanager
def sdk_pointed_at(settings: Settings) -> Iterator[None]:
    """Point the SDK (``import moorline``) at the demo's store and artifact root for
    the block, then give the process its own settings back."""
    import moorline
    from moorline.pipelines.service import absolute_artifacts_uri, absolute_store_uri

    wanted = {
        "MOORLINE_TRACKING_URI": absolute_store_uri(settings.store_uri),
        "MOORLINE_ARTIFACTS_URI": absolute_artifacts_uri(settings.artifacts_uri),
    }
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    moorline.set_tracking_uri(None)
    try:
        yield
    finally:
        moorline.set_tracking_uri(None)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def train_and_register(history: Any, options: DemoOptions, display: Display) -> Baseline:
    """Train on ``history`` (a share of its days held out for the baseline error), log
    the run with its datasets, register the model and point ``champion`` at it."""
    import moorline

    days = history["ts"].dt.normalize()
    unique = sorted(days.unique())
    import numpy as np

    rng = np.random.default_rng(options.seed)
    held = set(
        rng.choice(
            unique, size=max(1, round(len(unique) * options.validation_share)), replace=False
        )
    )
    is_val = days.isin(held)
    train, val = history[~is_val], history[is_val]
    columns = [*elec.FEATURES, elec.LABEL]
    moorline.set_experiment(EXPERIMENT)
    with moorline.start_run(run_name="jan-apr-baseline") as run:
        moorline.log_params(
            {
                "model": "HistGradientBoostingRegressor",
                "features": ",".join(elec.FEATURES),
                "trained_on": f"{history['ts'].min():%Y-%m-%d} to {history['ts'].max():%Y-%m-%d}",
                "validation": f"{len(held)} random days of {len(unique)}",
                "seed": options.seed,
            }
        )
        logged = moorline.log_dataset(train[columns], TRAIN_DATASET, context="train")
        moorline.log_dataset(val[columns], VALIDATION_DATASET, context="validation")
        model = elec.fit(train, seed=options.seed)
        features = list(elec.FEATURES)
        val_mae = elec.mae(model.predict(val[features]), val[elec.LABEL])
        train_mae = elec.mae(model.predict(train[features]), train[elec.LABEL])
        moorline.log_metrics({"validation_mae": val_mae, "train_mae": train_mae})
        info = moorline.log_model(
            model,
            "model",
            input_example=train[features].head(5),
            registered_model_name=MODEL,
        )
    version = info.registered_model_version
    assert version is not None
    moorline.set_alias(MODEL, "champion", version, reason="validated on held-out Jan-Apr days")
    display.step(
        "train",
        f"HistGradientBoostingRegressor on {len(train):,} rows of Jan-Apr "
        f"({len(held)} random days held out): validation MAE {val_mae:.3f} GW "
        f"(train {train_mae:.3f})",
    )
    display.step(
        "register",
        f"{MODEL} v{version} from run {run.run_id[:12]}, trained on dataset "
        f"{TRAIN_DATASET}@{logged.digest[:12]} (lineage); alias champion -> v{version}",
    )
    return Baseline(
        version=version, run_id=run.run_id, train_digest=logged.digest, validation_mae=val_mae
    )


def deploy(display: Display) -> str:
    """Deploy the champion and declare its consumer; the consumer's key."""
    import moorline

    deployment = moorline.deploy(
        DEPLOYMENT,
        MODEL,
        alias="champion",
        settings={"max_wait_ms": 0.0},
        description="Victoria's half-hourly electricity demand (moorline demo)",
        reason="first release: trained on Jan-Apr",
    )
    issued = moorline.declare_consumer(
        MODEL,
        CONSUMER,
        owner="team-grid",
        fields=["prediction"],
        reason="plans generation from the forecast",
    )
    display.step(
        "deploy",
        f"deployment {DEPLOYMENT} ({deployment.policy.describe()}); consumer {CONSUMER} "
        "declared (its key is sent with every request)",
    )
    return issued.api_key


def create_monitor(
    services: Services, options: DemoOptions, display: Display, baseline: Baseline
) -> float:
    """The monitor on the deployment's logged predictions; its MAE alert threshold."""
    from moorline.monitoring.alerts import AlertRule, AlertSeverity
    from moorline.monitoring.monitors import (
        DatasetSource,
        DriftCheck,
        Monitor,
        PerformanceCheck,
        PredictionsSource,
    )

    mae = round(baseline.validation_mae, 4)
    tolerance = round(mae * (options.alert_ratio - 1), 4)
    threshold = round(mae + tolerance, 4)
    monitor = Monitor(
        name=MONITOR,
        model=MODEL,
        description="what elec-demand answered lately, against its training data",
        reference=DatasetSource(name=TRAIN_DATASET, digest=baseline.train_digest),
        current=PredictionsSource(
            deployment=DEPLOYMENT, window_seconds=options.week_seconds, label=elec.LABEL
        ),
        drift=DriftCheck(columns=elec.FEATURES),
        performance=PerformanceCheck(
            label=elec.LABEL,
            prediction="prediction",
            baseline={"mae": mae},
            tolerance=tolerance,
        ),
        rules=(
            AlertRule(
                name="drift",
                monitor=MONITOR,
                condition="columns.*.drift_detected == true",
                severity=AlertSeverity.WARNING,
                description="an input's distribution moved away from the training data",
            ),
            AlertRule(
                name="mae",
                monitor=MONITOR,
                condition="performance.degraded == true",
                severity=AlertSeverity.CRITICAL,
                description=f"weekly MAE above {threshold:g} "
                f"({options.alert_ratio:g} x the validation MAE)",
            ),
        ),
    )
    services.local_monitors.create(monitor)
    display.step(
        "monitor",
        f"{MONITOR}: drift of {', '.join(elec.FEATURES)} against the training data; MAE "
        f"against the validation baseline {mae:.3f}, alert 'mae' above "
        f"{threshold:.3f}; on the last {options.week_seconds} s of "
        "logged predictions (one streamed week)",
    )
    return threshold


def register_pipeline(
    services: Services, settings: Settings, options: DemoOptions, display: Display
) -> Pipeline:
    """The retraining pipeline: trained on the latest labelled weeks of the log, run by
    the MAE alert, gated on the holdout, rolled out as a canary."""
    from moorline.pipelines.models import (
        AlertTrigger,
        Evaluation,
        FunctionSource,
        GateRules,
        Pipeline,
        RolloutPolicy,
    )

    pipeline = Pipeline(
        name=PIPELINE,
        description="retrain elec-demand on the latest labelled weeks of live traffic",
        entry_point="moorline.demo.elec:train",
        workdir=str(_workdir(settings)),
        model=MODEL,
        data=FunctionSource(entry_point="moorline.demo.elec:training_window"),
        evaluation=Evaluation(
            metric="mae",
            label=elec.LABEL,
            features=elec.FEATURES,
            holdout=FunctionSource(entry_point="moorline.demo.elec:holdout_window"),
        ),
        params={
            "deployment": DEPLOYMENT,
            "rows_per_week": options.rows_per_week,
            "train_weeks": options.train_weeks,
            "holdout_weeks": options.holdout_weeks,
            "seed": options.seed,
        },
        rollout=RolloutPolicy(
            gate=GateRules(margin=options.gate_margin), canary_weight=options.canary_weight
        ),
        on_alerts=(AlertTrigger(monitor=MONITOR, rule="mae"),),
        timeout_seconds=600,
    )
    saved = services.pipelines.register(pipeline)
    display.step(
        "pipeline",
        f"{PIPELINE}: moorline.demo.elec:train on the {options.train_weeks} labelled weeks "
        f"before the latest {options.holdout_weeks} (holdout), read from the prediction "
        f"log; runs when alert 'mae' fires; gate: beat the champion by "
        f"{options.gate_margin:g} MAE on the holdout; canary at {options.canary_weight:g}%",
    )
    return saved


def plug_rollout(services: Services, options: DemoOptions) -> CanaryController:
    """Accepted challengers go out as canaries of the demo's policy; the controller."""
    from moorline.serving.canary import CanaryPolicy
    from moorline.serving.rollout import PipelineRollout

    canaries = services.canaries
    # The live MAE on the labelled rows decides. The latency rule stays on, but the
    # p99 of a few dozen requests is their slowest one: on a shared laptop one
    # pause of the machine (100 ms and more) would decide, so only a regression of
    # more than a quarter of a second counts.
    policy = CanaryPolicy(
        min_requests=options.canary_min_requests,
        min_labelled=options.canary_min_labelled,
        max_duration_s=900.0,
        max_p99_latency_ratio=3.0,
        latency_slack_ms=LATENCY_SLACK_MS,
    )
    services.pipelines.set_rollout(
        PipelineRollout(canaries, pipelines=services.pipelines, policy=policy)
    )
    return canaries


def _workdir(settings: Settings) -> Path:
    """Where the pipeline's worker runs: the folder of a SQLite store (the demo's
    home), else the current directory. The entry points are moorline's own, so
    any folder imports them."""
    prefix = "sqlite:///"
    if settings.store_uri.startswith(prefix):
        folder = Path(settings.store_uri[len(prefix) :].partition("?")[0]).expanduser().parent
        if folder.is_dir():
            return folder.resolve()
    return Path.cwd()


__all__ = [
    "Baseline",
    "create_monitor",
    "deploy",
    "existing_objects",
    "plug_rollout",
    "register_pipeline",
    "reset",
    "sdk_pointed_at",
    "train_and_register",
]
