"""Against a live ``moorline server`` with the real ``mlflow`` client, both directions.

- a model logged by ``mlflow.sklearn.log_model`` (MLflow 3 puts its files under
  the logged model, not the run) loads with ``moorline.load_model("runs:/...")``;
- a model logged by ``moorline.log_model`` over HTTP loads with
  ``mlflow.pyfunc.load_model("runs:/...")``, through moorline's loader, which
  still refuses a tampered file;
- registered versions load by ``models:/name/N``, ``@alias`` and ``/latest``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import moorline
from moorline.errors import IntegrityError
from moorline.sdk.models import TAG_MANIFEST_SHA256
from tests.support.live import LiveServer, start_server

pytestmark = pytest.mark.compat

Data = tuple[pd.DataFrame, pd.Series]
CLIENT_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
    "GIT_PYTHON_REFRESH": "quiet",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("models-server"))
    try:
        yield live
    finally:
        live.stop()
        assert "Traceback" not in live.log(), live.log()


@pytest.fixture
def clients(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Both the mlflow client and the moorline SDK pointed at the live server."""
    for name, value in CLIENT_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MOORLINE_TRACKING_URI", server.url)
    monkeypatch.delenv("MOORLINE_HOME", raising=False)
    mlflow.set_tracking_uri(server.url)
    moorline.set_tracking_uri(None)
    name = f"models-{uuid.uuid4().hex[:8]}"
    mlflow.set_experiment(name)
    moorline.set_experiment(name)
    yield server.url
    while mlflow.active_run() is not None:
        mlflow.end_run()
    while moorline.active_run() is not None:
        moorline.end_run()
    mlflow.set_tracking_uri(None)
    moorline.set_tracking_uri(None)


def _pipeline(x: pd.DataFrame, y: pd.Series) -> Pipeline:
    steps = [("scale", StandardScaler()), ("forest", RandomForestClassifier(5, random_state=0))]
    return Pipeline(steps).fit(x, y)


def test_mlflow_logged_sklearn_model_loads_with_moorline(clients: str, frame: Data) -> None:
    x, y = frame
    model = _pipeline(x, y)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            input_example=x.head(3),
            skops_trusted_types=["sklearn.tree._tree.Tree"],
            pip_requirements=["scikit-learn"],
        )
    for uri in (f"runs:/{run.info.run_id}/model", f"models:/{info.model_id}"):
        loaded = moorline.load_model(uri)
        assert (loaded.flavor, loaded.format, loaded.verified) == ("sklearn", "skops", False)
        np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_moorline_logged_model_loads_with_mlflow_pyfunc(
    clients: str, server: LiveServer, frame: Data
) -> None:
    x, y = frame
    model = _pipeline(x, y)
    with moorline.start_run() as run:
        info = moorline.log_model(model, "model", input_example=x.head(3))
    uri = f"runs:/{run.run_id}/model"
    assert info.model_uri == uri

    through_mlflow = mlflow.pyfunc.load_model(uri)
    np.testing.assert_array_equal(through_mlflow.predict(x), model.predict(x))
    np.testing.assert_array_equal(
        mlflow.sklearn.load_model(uri).predict_proba(x), model.predict_proba(x)
    )
    np.testing.assert_array_equal(moorline.load_model(uri).predict(x), model.predict(x))

    # A byte changed on the server's disk: both clients refuse, naming the file.
    [stored] = Path(server.artifacts).glob(f"*/{run.run_id}/artifacts/model/model.skops")
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"'model.skops' fails its integrity check"):
        moorline.load_model(uri)
    with pytest.raises(Exception, match=r"'model.skops' fails its integrity check"):
        mlflow.pyfunc.load_model(uri)


def test_registered_versions_load_by_number_alias_and_latest(clients: str, frame: Data) -> None:
    x, y = frame
    name = f"churn-{uuid.uuid4().hex[:6]}"
    first = LogisticRegression(C=0.1).fit(x, y)
    second = LogisticRegression(C=10.0).fit(x, y)
    with moorline.start_run():
        v1 = moorline.log_model(first, "model", registered_model_name=name)
    with moorline.start_run():
        v2 = moorline.log_model(second, "model", registered_model_name=name)
    assert (v1.registered_model_version, v2.registered_model_version) == (1, 2)
    version = moorline.get_model_version(name, 1)
    assert version.source == v1.model_uri
    assert version.model_id == v1.model_id
    assert version.tags[TAG_MANIFEST_SHA256] == v1.manifest_sha256

    moorline.set_alias(name, "champion", 1)
    for uri, model in [
        (f"models:/{name}/1", first),
        (f"models:/{name}@champion", first),
        (f"models:/{name}/latest", second),
    ]:
        np.testing.assert_array_equal(
            moorline.load_model(uri).predict_proba(x)
            if False
            else moorline.load_model(uri).raw.predict_proba(x),
            model.predict_proba(x),
        )
    np.testing.assert_array_equal(
        mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(x), first.predict(x)
    )
