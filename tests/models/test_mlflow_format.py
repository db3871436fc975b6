"""MLflow's model format both ways, on local folders (no server).

Models saved by ``mlflow`` load through ``moorline.load_model`` (scikit-learn
ones even without ``mlflow`` installed), and models saved by moorline load
through ``mlflow.pyfunc`` / ``mlflow.sklearn`` / ``mlflow.xgboost``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import mlflow.xgboost
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from mlflow.exceptions import MlflowException
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import moorline
from moorline.errors import IntegrityError, InvalidArgument, PermissionDenied
from moorline.models import save_model

pytestmark = pytest.mark.compat

Data = tuple[pd.DataFrame, pd.Series]
TREE = "sklearn.tree._tree.Tree"
#: Naming the requirements spares MLflow a subprocess that infers them (seconds each).
NO_INFER: dict[str, Any] = {"pip_requirements": ["scikit-learn", "pandas"]}


def _pipeline(x: pd.DataFrame, y: pd.Series) -> Pipeline:
    steps = [("scale", StandardScaler()), ("forest", RandomForestClassifier(5, random_state=0))]
    return Pipeline(steps).fit(x, y)


class Scaled(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """An MLflow python_function model only MLflow's own loader understands."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return model_input["tenure"].to_numpy() * 10


def test_mlflow_skops_model_loads_unverified_with_identical_predictions(
    tmp_path: Path, frame: Data
) -> None:
    x, y = frame
    model = _pipeline(x, y)
    mlflow.sklearn.save_model(
        model, tmp_path / "m", input_example=x.head(3), skops_trusted_types=[TREE], **NO_INFER
    )
    loaded = moorline.load_model(tmp_path / "m")
    assert (loaded.flavor, loaded.format, loaded.verified) == ("sklearn", "skops", False)
    assert loaded.manifest is None
    assert loaded.executes_code_on_load is False
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    # MLflow's signature is read and enforced like ours.
    assert loaded.signature is not None
    assert [c.name for c in loaded.signature.inputs.columns] == list(x.columns)  # type: ignore[union-attr]
    with pytest.raises(InvalidArgument, match=r"missing column.*'visits'"):
        loaded.predict(x.drop(columns=["visits"]))


def test_mlflow_pickle_model_executes_code_and_can_be_refused(tmp_path: Path, frame: Data) -> None:
    x, y = frame
    model = LogisticRegression().fit(x, y)
    mlflow.sklearn.save_model(model, tmp_path / "m", serialization_format="cloudpickle", **NO_INFER)
    with pytest.raises(PermissionDenied, match=r"cloudpickle serialization"):
        moorline.load_model(tmp_path / "m", allow_code_execution=False)
    loaded = moorline.load_model(tmp_path / "m")
    assert (loaded.format, loaded.executes_code_on_load) == ("cloudpickle", True)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_mlflow_python_function_model_is_loaded_by_mlflow(tmp_path: Path, frame: Data) -> None:
    x, _ = frame
    mlflow.pyfunc.save_model(tmp_path / "m", python_model=Scaled(), **NO_INFER)
    loaded = moorline.load_model(tmp_path / "m")
    assert (loaded.flavor, loaded.verified) == ("python_function", False)
    np.testing.assert_allclose(loaded.predict(x), x["tenure"].to_numpy() * 10)


def test_mlflow_sklearn_model_loads_without_mlflow_installed(tmp_path: Path, frame: Data) -> None:
    x, y = frame
    model = _pipeline(x, y)
    mlflow.sklearn.save_model(model, tmp_path / "sk", skops_trusted_types=[TREE], **NO_INFER)
    mlflow.pyfunc.save_model(tmp_path / "py", python_model=Scaled(), **NO_INFER)
    x.to_csv(tmp_path / "x.csv", index=False)
    script = textwrap.dedent(
        """
        import json, sys
        import pandas as pd

        sys.modules["mlflow"] = None  # as if it were not installed: importing it fails
        import moorline
        from moorline.errors import NotImplementedFeature

        x = pd.read_csv(sys.argv[1] + "/x.csv")
        loaded = moorline.load_model(sys.argv[1] + "/sk")
        try:
            moorline.load_model(sys.argv[1] + "/py")
            refused = ""
        except NotImplementedFeature as exc:
            refused = str(exc)
        print(json.dumps({
            "predictions": loaded.predict(x).tolist(),
            "mlflow_imported": any(
                m.split(".")[0] == "mlflow" and mod is not None for m, mod in sys.modules.items()
            ),
            "refused": refused,
        }))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOORLINE_", "MLFLOW_"))}
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["predictions"] == model.predict(x).tolist()
    assert report["mlflow_imported"] is False
    assert "install mlflow" in report["refused"]


def test_moorline_model_loads_through_mlflow(tmp_path: Path, frame: Data) -> None:
    x, y = frame
    model = _pipeline(x, y)
    save_model(model, tmp_path / "sk", input_example=x.head(2))
    through_pyfunc = mlflow.pyfunc.load_model(str(tmp_path / "sk"))
    np.testing.assert_array_equal(through_pyfunc.predict(x), model.predict(x))
    assert through_pyfunc.metadata.get_input_schema().input_names() == list(x.columns)
    native = mlflow.sklearn.load_model(str(tmp_path / "sk"))
    np.testing.assert_array_equal(native.predict_proba(x), model.predict_proba(x))

    booster = xgb.XGBRegressor(n_estimators=4, n_jobs=1).fit(x, y)
    save_model(booster, tmp_path / "xgb")
    np.testing.assert_array_equal(
        mlflow.xgboost.load_model(str(tmp_path / "xgb")).predict(x), booster.predict(x)
    )
    np.testing.assert_array_equal(
        mlflow.pyfunc.load_model(str(tmp_path / "xgb")).predict(x), booster.predict(x)
    )


def test_mlflow_gets_the_digest_check_too(tmp_path: Path, frame: Data) -> None:
    x, y = frame
    save_model(LogisticRegression().fit(x, y), tmp_path / "m")
    target = tmp_path / "m" / "model.skops"
    data = bytearray(target.read_bytes())
    data[-10] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises((IntegrityError, MlflowException), match=r"'model.skops' fails"):
        mlflow.pyfunc.load_model(str(tmp_path / "m"))


def test_an_mlmodel_naming_moorline_without_its_manifest_is_refused(
    tmp_path: Path, frame: Data
) -> None:
    x, y = frame
    save_model(LogisticRegression().fit(x, y), tmp_path / "m")
    (tmp_path / "m" / "MOORLINE_MODEL.json").unlink()
    with pytest.raises(IntegrityError, match=r"manifest is missing"):
        moorline.load_model(tmp_path / "m")


def test_a_folder_that_is_no_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InvalidArgument, match=r"is not a model"):
        moorline.load_model(tmp_path)
    with pytest.raises(InvalidArgument, match=r"Unsupported model URI"):
        moorline.load_model("s3://bucket/model")
