"""MLflow 3 logged models and scikit-learn autologging through the unmodified mlflow client."""

from __future__ import annotations

from collections.abc import Iterator

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException

pytestmark = pytest.mark.compat


@pytest.fixture
def sklearn_autolog() -> Iterator[None]:
    mlflow.sklearn.autolog(log_models=True, log_datasets=True, silent=True)
    yield
    mlflow.sklearn.autolog(disable=True)


def test_sklearn_autolog_and_pyfunc_load(experiment_id: str, sklearn_autolog: None) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, labels = load_iris(return_X_y=True, as_frame=True)
    with mlflow.start_run() as run:
        model = LogisticRegression(max_iter=300, C=0.5).fit(features, labels)
    run_id = run.info.run_id
    client = MlflowClient()

    logged = client.get_run(run_id)
    assert logged.info.status == "FINISHED"
    assert logged.data.params["C"] == "0.5"
    assert logged.data.params["max_iter"] == "300"
    assert (
        logged.data.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    )
    accuracy = logged.data.metrics["training_accuracy_score"]
    assert accuracy == pytest.approx(model.score(features, labels))
    assert [d.tags[0].value for d in logged.inputs.dataset_inputs] == ["train"]

    outputs = logged.outputs.model_outputs
    assert len(outputs) == 1
    logged_model = client.get_logged_model(outputs[0].model_id)
    assert logged_model.status == LoggedModelStatus.READY
    assert logged_model.source_run_id == run_id
    assert logged_model.name == "model"
    assert logged_model.params["C"] == "0.5"
    history = client.get_metric_history(run_id, "training_accuracy_score")
    assert [m.model_id for m in history] == [logged_model.model_id]

    loaded = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    by_id = mlflow.sklearn.load_model(f"models:/{logged_model.model_id}")
    np.testing.assert_allclose(
        by_id.predict_proba(features), model.predict_proba(features), rtol=0, atol=0
    )


def test_logged_model_lifecycle(experiment_id: str) -> None:
    client = MlflowClient()
    with mlflow.start_run() as run:
        pass
    params = {f"p{i:03d}": str(i) for i in range(130)}  # beyond the client's first batch of 100
    model = client.create_logged_model(
        experiment_id,
        name="ranker",
        source_run_id=run.info.run_id,
        params=params,
        tags={"owner": "ana"},
        model_type="gbm",
    )
    assert model.model_id.startswith("m-")
    assert model.status == LoggedModelStatus.PENDING
    assert (
        model.artifact_location
        == f"mlflow-artifacts:/{experiment_id}/models/{model.model_id}/artifacts"
    )
    assert model.params == params
    assert model.model_type == "gbm"

    finalized = client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    assert finalized.status == LoggedModelStatus.READY

    client.set_logged_model_tags(model.model_id, {"stage": "candidate", "owner": "bo"})
    client.delete_logged_model_tag(model.model_id, "stage")
    fetched = client.get_logged_model(model.model_id)
    assert fetched.tags == {"owner": "bo"}
    assert fetched.source_run_id == run.info.run_id

    other = client.create_logged_model(experiment_id, name="baseline")
    found = client.search_logged_models([experiment_id], filter_string="name = 'ranker'")
    assert [m.model_id for m in found] == [model.model_id]
    by_param = client.search_logged_models([experiment_id], filter_string="params.p007 = '7'")
    assert [m.model_id for m in by_param] == [model.model_id]
    ordered = client.search_logged_models(
        [experiment_id], order_by=[{"field_name": "name", "ascending": True}]
    )
    assert [m.name for m in ordered] == ["baseline", "ranker"]

    client.delete_logged_model(other.model_id)
    remaining = client.search_logged_models([experiment_id])
    assert [m.model_id for m in remaining] == [model.model_id]
    with pytest.raises(MlflowException) as info:
        client.get_logged_model(other.model_id)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_log_model_then_load_by_model_uri(experiment_id: str) -> None:
    from sklearn.linear_model import Ridge

    features = np.arange(40, dtype=float).reshape(20, 2) ** 1.5
    target = features[:, 0] * 2 - features[:, 1]
    model = Ridge(alpha=0.3).fit(features, target)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="ridge", input_example=features[:2], pip_requirements=["scikit-learn"]
        )
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    assert MlflowClient().get_logged_model(info.model_id).status == LoggedModelStatus.READY

