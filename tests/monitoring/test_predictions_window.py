"""Logged predictions as a monitor's current window (issue #4, item 6).

A real classifier is registered and deployed twice. Each deployment logs
what the model answered through the real prediction logger into a real
SQLite store: ``stable`` for customers like the training data, ``drifted``
for customers whose features moved. Feedback labels arrive for most
requests. A monitor per deployment reads the last hour of its log: the drift
check sees (or does not see) the shift, and the performance check measures
the model against the labels that came back.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score

from moorline.bootstrap import Services, Settings, build_services
from moorline.core.clock import now_ms
from moorline.errors import InvalidArgument, NotImplementedFeature
from moorline.monitoring.monitors import (
    DriftCheck,
    FileSource,
    Monitor,
    MonitorStatus,
    PerformanceCheck,
    PredictionsSource,
    source_from_dict,
)
from moorline.monitoring.quality import QualityConfig
from moorline.serving.models import LoggedPrediction, PredictionRecord, TrafficPolicy
from moorline.serving.prediction_log import PredictionLogger
from moorline.store.sql import upgrade
from moorline.store.windows import DataWindowSource, predictions_table
from tests.serving.registered_models import FEATURES, churn_data, fit_churn, register_folder

ROWS_PER_REQUEST = 6
REQUESTS = 100


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("predictions-window") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    return fit_churn()


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory, model: LogisticRegression) -> Path:
    from moorline.models import save_model

    folder = tmp_path_factory.mktemp("saved") / "model"
    save_model(model, folder, input_example=churn_data(5, seed=1)[0])
    return folder


@pytest.fixture
def services(template: Path, tmp_path: Path, model_folder: Path) -> Iterator[Services]:
    path = tmp_path / "moorline.db"
    shutil.copyfile(template, path)
    built = build_services(
        Settings(store_uri=f"sqlite:///{path}", artifacts_uri=str(tmp_path / "artifacts")),
        migrate=False,
    )
    register_folder(built.tracking, built.artifacts, built.registry, "churn", model_folder)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    x, _ = churn_data(1000, seed=11)
    path = tmp_path / "reference.parquet"
    x.to_parquet(path, index=False)
    return path


def log_traffic(
    services: Services,
    model: LogisticRegression,
    deployment: str,
    *,
    seed: int,
    shift: float,
    label_share: float = 0.8,
) -> dict[str, Any]:
    """Log REQUESTS requests of ROWS_PER_REQUEST rows answered by ``model`` over the
    last half hour, plus records the window must leave out (older than the window,
    shadow copies, failed requests); send feedback for ``label_share`` of requests.
    Returns the labelled truth and predictions, as the test expects them."""
    x, y = churn_data(REQUESTS * ROWS_PER_REQUEST, seed=seed, shift=shift)
    predicted = model.predict(x)
    now = now_ms()
    rng = np.random.default_rng(seed)
    logger = PredictionLogger(services.deployments.predictions, flush_interval_s=0.02)
    logger.start()
    feedback: list[dict[str, Any]] = []
    truth: list[int] = []
    answers: list[int] = []
    for k in range(REQUESTS):
        rows = slice(k * ROWS_PER_REQUEST, (k + 1) * ROWS_PER_REQUEST)
        pid = f"{deployment}-{k}"
        logger.submit(
            PredictionRecord(
                prediction_id=pid,
                deployment=deployment,
                model="churn",
                version=1,
                at=now - 1_800_000 + k * 1000,
                inputs=x.iloc[rows].to_numpy().tolist(),
                outputs=predicted[rows].tolist(),
                latency_ms=2.0,
                columns=FEATURES,
            )
        )
        if rng.uniform() < label_share:
            feedback.append({"prediction_id": pid, "labels": y[rows].tolist()})
            truth.extend(y[rows].tolist())
            answers.extend(predicted[rows].tolist())
    far = [[1e6] * len(FEATURES)] * ROWS_PER_REQUEST
    left_out = [
        # two hours ago: outside a one-hour window
        PredictionRecord(
            prediction_id=f"{deployment}-old",
            deployment=deployment,
            model="churn",
            version=1,
            at=now - 7_200_000,
            inputs=far,
            outputs=[1] * ROWS_PER_REQUEST,
            latency_ms=2.0,
            columns=FEATURES,
        ),
        # a shadow version's answer to a copy of request 0
        PredictionRecord(
            prediction_id=f"{deployment}-0",
            deployment=deployment,
            model="churn",
            version=2,
            at=now - 1_800_000,
            inputs=far,
            outputs=[1] * ROWS_PER_REQUEST,
            latency_ms=2.0,
            columns=FEATURES,
            shadow=True,
        ),
        # a request the model failed on
        PredictionRecord(
            prediction_id=f"{deployment}-failed",
            deployment=deployment,
            model="churn",
            version=1,
            at=now - 60_000,
            inputs=far,
            outputs=[],
            latency_ms=2.0,
            columns=FEATURES,
            error_id="err-1",
        ),
    ]
    for record in left_out:
        logger.submit(record)
    logger.close()
    assert logger.written == REQUESTS + len(left_out)
    matched = services.deployments.add_feedback(deployment, feedback)
    assert matched == len(feedback)
    return {"truth": truth, "predicted": answers}


def monitor_for(deployment: str, reference: Path) -> Monitor:
    return Monitor(
        name=f"{deployment}-watch",
        model="churn",
        reference=FileSource(path=str(reference)),
        current=PredictionsSource(deployment=deployment, window_seconds=3600),
        drift=DriftCheck(columns=FEATURES),
        quality=QualityConfig(),
        performance=PerformanceCheck(label="label", prediction="prediction", task="classification"),
    )


def test_logged_predictions_feed_drift_and_realized_performance(
    services: Services, model: LogisticRegression, reference: Path
) -> None:
    for name in ("stable", "drifted"):
        services.deployments.create(
            name, model="churn", policy=TrafficPolicy.single(1), actor="ada"
        )
    expected = {
        "stable": log_traffic(services, model, "stable", seed=21, shift=0.0),
        "drifted": log_traffic(services, model, "drifted", seed=22, shift=1.5),
    }
    results = {}
    for name in ("stable", "drifted"):
        created = services.monitors.create(monitor_for(name, reference))
        assert services.monitors.get(created.name).current == PredictionsSource(
            deployment=name, window_seconds=3600
        )
        results[name] = services.monitors.run(created.name)

    for name, result in results.items():
        assert result.status is not MonitorStatus.ERROR, result.error
        # Only the answered requests of the last hour: no old, shadow or failed rows.
        assert result.window["rows"] == REQUESTS * ROWS_PER_REQUEST
        assert result.window["source"] == f"predictions:{name} (last 3600 s)"
        assert result.performance is not None
        truth, predicted = expected[name]["truth"], expected[name]["predicted"]
        assert result.performance["n_labelled"] == len(truth)
        assert result.performance["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
        # The answer, the label and where each row came from are not schema news.
        assert result.quality is not None
        flagged = {
            i["column"] for i in result.quality["issues"] if i["check"] == "unexpected_column"
        }
        assert flagged == set(), result.quality["issues"]
    assert results["stable"].drift is not None and results["drifted"].drift is not None
    stable, drifted = results["stable"].drift["dataset"], results["drifted"].drift["dataset"]
    assert stable["dataset_drift"] is False and stable["number_of_drifted_columns"] == 0
    assert drifted["dataset_drift"] is True
    assert drifted["number_of_drifted_columns"] == len(FEATURES)
    # The model does worse on customers unlike its training data: realized, not estimated.
    assert results["drifted"].performance is not None and results["stable"].performance
    assert results["drifted"].performance["accuracy"] < results["stable"].performance["accuracy"]


def test_an_empty_window_is_an_error_result_that_says_so(
    services: Services, reference: Path
) -> None:
    services.deployments.create("quiet", model="churn", policy=TrafficPolicy.single(1), actor="a")
    services.monitors.create(monitor_for("quiet", reference))
    result = services.monitors.run("quiet-watch")
    assert result.status is MonitorStatus.ERROR
    assert result.error is not None
    assert "No answered requests of deployment 'quiet' in the last 3600 s" in result.error


def test_a_reader_without_a_prediction_log_refuses(services: Services) -> None:
    reader = DataWindowSource(services.datasets)
    with pytest.raises(NotImplementedFeature, match="prediction log"):
        reader.read(PredictionsSource(deployment="stable"))


def test_predictions_are_never_the_reference(reference: Path) -> None:
    with pytest.raises(InvalidArgument, match="reference"):
        Monitor(
            name="m",
            model="churn",
            reference=PredictionsSource(deployment="stable"),  # type: ignore[arg-type]
            current=FileSource(path=str(reference)),
        )
    data = monitor_for("stable", reference).to_dict()
    data["reference"] = PredictionsSource(deployment="stable").to_dict()
    with pytest.raises(InvalidArgument, match="reference"):
        Monitor.from_dict(data)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_seconds": 0}, "window_seconds"),
        ({"window_seconds": 10**9}, "window_seconds"),
        ({"version": 0}, "version"),
        ({"label": "x", "prediction": "x"}, "different"),
        ({"columns": ("a", "")}, "columns"),
        ({"deployment": ""}, "deployment"),
    ],
)
def test_predictions_source_checks_itself(kwargs: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {"deployment": "stable", **kwargs}
    with pytest.raises(InvalidArgument, match=message):
        PredictionsSource(**values)


def test_source_round_trips_through_its_json() -> None:
    source = PredictionsSource(
        deployment="churn-prod",
        window_seconds=600,
        version=3,
        columns=("a", "b"),
        label="churned",
        prediction="score",
    )
    assert source_from_dict(source.to_dict()) == source
    assert source.describe() == "predictions:churn-prod v3 (last 600 s)"


# -- how requests become rows ---------------------------------------------------------------


def logged(
    pid: str,
    inputs: list[Any],
    outputs: list[Any],
    *,
    columns: tuple[str, ...] | None = None,
    labels: list[Any] | None = None,
    version: int = 1,
    at: int = 1_700_000_000_000,
) -> LoggedPrediction:
    return LoggedPrediction(
        record=PredictionRecord(
            prediction_id=pid,
            deployment="d",
            model="m",
            version=version,
            at=at,
            inputs=inputs,
            outputs=outputs,
            latency_ms=1.0,
            columns=columns,
        ),
        labels=labels,
    )


def test_column_names_come_from_the_request_then_the_source_then_positions() -> None:
    rows = [
        logged("a", [[1.0, 2.0]], [0], columns=("x", "y"), labels=[1]),
        logged("b", [[3.0, 4.0]], [1], version=2),
    ]
    table, truncated = predictions_table(rows, PredictionsSource(deployment="d"))
    assert not truncated
    data = table.to_pydict()
    # "a" named its columns; "b" did not, and the source names none: positions.
    assert data["x"] == [1.0, None] and data["y"] == [2.0, None]
    assert data["input_0"] == [None, 3.0] and data["input_1"] == [None, 4.0]
    assert data["prediction"] == [0, 1] and data["label"] == [1, None]
    assert data["model_version"] == [1, 2] and data["prediction_id"] == ["a", "b"]
    assert str(table.schema.field("timestamp").type) == "timestamp[ms, tz=UTC]"

    named = PredictionsSource(deployment="d", columns=("p", "q"), label="y", prediction="yhat")
    table, _ = predictions_table([rows[1]], named)
    assert table.column_names == [
        "p",
        "q",
        "yhat",
        "y",
        "model_version",
        "prediction_id",
        "timestamp",
    ]


def test_records_and_multi_field_answers_become_columns() -> None:
    rows = [
        logged(
            "r",
            [{"age": 30, "city": "Oslo"}, {"age": 41, "city": "Bergen"}],
            [{"label": "yes", "score": 0.9}, {"label": "no", "score": 0.2}],
            labels=["yes"],
        ),
        logged("s", [[1.0], [2.0]], [[0.1, 0.9], [0.7, 0.3]], columns=("age",)),
    ]
    table, _ = predictions_table(rows, PredictionsSource(deployment="d"))
    data = table.to_pydict()
    assert data["age"] == [30, 41, 1.0, 2.0]
    assert data["city"] == ["Oslo", "Bergen", None, None]
    assert data["score"] == [0.9, 0.2, None, None]
    assert data["prediction_0"] == [None, None, 0.1, 0.7]
    # fewer labels than rows: the rest are unlabelled
    assert data["label"] == ["yes", None, None, None]
    # "label" of the answers is the answer's field, the feedback label wins the name
    assert table.num_rows == 4


def test_values_of_mixed_types_become_text() -> None:
    rows = [logged("a", [[1]], [0]), logged("b", [["n/a"]], [1])]
    table, _ = predictions_table(rows, PredictionsSource(deployment="d"))
    assert table.column("input_0").to_pylist() == ["1", "n/a"]
