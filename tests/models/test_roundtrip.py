"""log_model then load_model, for every flavor: identical predictions, honest manifests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import moorline
from moorline.errors import PermissionDenied
from moorline.models.digest import digest_file
from moorline.models.manifest import MANIFEST_FILE
from moorline.sdk.models import TAG_FLAVOR, TAG_MANIFEST_SHA256
from tests.models.conftest import Store, ThresholdModel, run_artifact_folder, services

Data = tuple[pd.DataFrame, pd.Series]


def _logistic(x: pd.DataFrame, y: pd.Series) -> Any:
    return LogisticRegression(max_iter=200).fit(x, y)


def _pipeline(x: pd.DataFrame, y: pd.Series) -> Any:
    steps = [("scale", StandardScaler()), ("forest", RandomForestClassifier(8, random_state=0))]
    return Pipeline(steps).fit(x, y)


def _xgb_classifier(x: pd.DataFrame, y: pd.Series) -> Any:
    return xgb.XGBClassifier(n_estimators=6, max_depth=3, n_jobs=1).fit(x, y)


def _xgb_booster(x: pd.DataFrame, y: pd.Series) -> Any:
    params = {"objective": "binary:logistic", "max_depth": 3, "nthread": 1}
    return xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=6)


def _lgbm_classifier(x: pd.DataFrame, y: pd.Series) -> Any:
    return lgb.LGBMClassifier(n_estimators=6, num_leaves=7, n_jobs=1, verbose=-1).fit(x, y)


def _lgbm_booster(x: pd.DataFrame, y: pd.Series) -> Any:
    params = {"objective": "regression", "num_leaves": 7, "num_threads": 1, "verbose": -1}
    return lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=6)


def _custom(x: pd.DataFrame, y: pd.Series) -> Any:
    return ThresholdModel("tenure", float(x["tenure"].median()))


def _native_predict(model: Any, x: pd.DataFrame) -> Any:
    if isinstance(model, xgb.Booster):
        return model.predict(xgb.DMatrix(x))
    return model.predict(x)


# (train, flavor, format, data file, executes code on load)
CASES: dict[str, tuple[Callable[[pd.DataFrame, pd.Series], Any], str, str, str, bool]] = {
    "sklearn-logistic": (_logistic, "sklearn", "skops", "model.skops", False),
    "sklearn-pipeline": (_pipeline, "sklearn", "skops", "model.skops", False),
    "xgboost-classifier": (_xgb_classifier, "xgboost", "ubj", "model.ubj", False),
    "xgboost-booster": (_xgb_booster, "xgboost", "ubj", "model.ubj", False),
    "lightgbm-classifier": (_lgbm_classifier, "lightgbm", "text", "model.txt", False),
    "lightgbm-booster": (_lgbm_booster, "lightgbm", "text", "model.txt", False),
    "custom-class": (_custom, "python_function", "cloudpickle", "model.pkl", True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_log_and_load_give_identical_predictions(store: Store, frame: Data, case: str) -> None:
    train, flavor, fmt, data_file, executes = CASES[case]
    x, y = frame
    model = train(x, y)
    with moorline.start_run() as run:
        info = moorline.log_model(model, "model", input_example=x.head(5))
    assert info.model_uri == f"runs:/{run.run_id}/model"
    assert (info.flavor, info.executes_code_on_load) == (flavor, executes)

    loaded = moorline.load_model(info.model_uri)
    assert (loaded.flavor, loaded.format, loaded.verified) == (flavor, fmt, True)
    np.testing.assert_array_equal(loaded.predict(x), _native_predict(model, x))

    manifest = loaded.manifest
    assert manifest is not None
    assert manifest.executes_code_on_load is executes
    assert manifest.data_files == (data_file,)
    assert manifest.signature is not None
    assert manifest.signature.to_dict()["inputs"]["columns"][0] == {
        "name": "tenure",
        "dtype": "float64",
    }

    # Every file in the store is in the manifest with its true digest, and nothing else is.
    folder = run_artifact_folder(store, run.run_id, "model")
    on_disk = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}
    assert set(on_disk) == {f.path for f in manifest.files} | {MANIFEST_FILE}
    for entry in manifest.files:
        assert digest_file(on_disk[entry.path], entry.path) == entry
    assert digest_file(on_disk[MANIFEST_FILE], MANIFEST_FILE).sha256 == info.manifest_sha256
    example = json.loads(on_disk["input_example.json"].read_text())
    pd.testing.assert_frame_equal(
        pd.DataFrame(example["data"], columns=example["columns"]), x.head(5)
    )

    # The logged model record is READY, tagged, and linked to the run.
    logged = services().tracking.get_logged_model(info.model_id)
    assert logged.status.value == "LOGGED_MODEL_READY"
    assert logged.source_run_id == run.run_id
    assert logged.tags[TAG_FLAVOR] == flavor
    assert logged.tags[TAG_MANIFEST_SHA256] == info.manifest_sha256
    assert [o.model_id for o in services().tracking.get_run(run.run_id).model_outputs] == [
        info.model_id
    ]


def test_manifest_records_environment_trusted_types_and_library_versions(
    store: Store, frame: Data
) -> None:
    import sklearn
    import skops

    x, y = frame
    with moorline.start_run():
        info = moorline.log_model(_pipeline(x, y), "forest", pip_requirements=["pyarrow>=15"])
    manifest = moorline.load_model(info.model_uri).manifest
    assert manifest is not None
    # RandomForest's tree type is not in skops' default allow-list: it was computed at
    # save time and is the exact list load passes (nothing is trusted blindly).
    assert manifest.flavor_config == {"trusted_types": ["sklearn.tree._tree.Tree"]}
    assert manifest.executes_code_on_load is False
    assert manifest.library_versions == {
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
    }
    env = manifest.environment
    assert env.requirements["scikit-learn"] == sklearn.__version__
    assert {"numpy", "scipy", "skops", "moorline"} <= set(env.requirements)
    assert env.pip_requirements == ("pyarrow>=15",)
    assert manifest.signature is None  # no input example, no signature


def test_pickle_based_flavor_says_it_executes_code_and_can_be_refused(
    store: Store, frame: Data
) -> None:
    x, _ = frame
    with moorline.start_run():
        info = moorline.log_model(ThresholdModel("spend", 0.0), "rule")
    stored = json.loads(
        b"".join(services().artifacts.open_run_artifact(info.run_id, f"rule/{MANIFEST_FILE}"))
    )
    assert stored["executes_code_on_load"] is True
    assert (stored["flavor"], stored["format"]) == ("python_function", "cloudpickle")
    with pytest.raises(PermissionDenied, match=r"executes code"):
        moorline.load_model(info.model_uri, allow_code_execution=False)
    loaded = moorline.load_model(info.model_uri)
    assert isinstance(loaded.raw, ThresholdModel)
    np.testing.assert_array_equal(loaded.predict(x), (x["spend"] > 0).astype(int).to_numpy())


def test_explicit_flavor_and_run_id(store: Store, frame: Data) -> None:
    x, y = frame
    model = _logistic(x, y)
    with moorline.start_run() as run:
        pass
    info = moorline.log_model(model, "as-pickle", flavor="python_function", run_id=run.run_id)
    loaded = moorline.load_model(f"runs:/{run.run_id}/as-pickle")
    assert (loaded.flavor, loaded.executes_code_on_load) == ("python_function", True)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert info.signature is None


def test_logging_needs_a_run_and_a_model_with_predict(store: Store) -> None:
    with pytest.raises(moorline.InvalidArgument, match=r"No active run"):
        moorline.log_model(ThresholdModel("a", 0.0), "model")
    with moorline.start_run(), pytest.raises(moorline.InvalidArgument, match=r"no flavor handles"):
        moorline.log_model({"weights": [1, 2]}, "model")
    with moorline.start_run(), pytest.raises(moorline.InvalidArgument, match=r"Unknown flavor"):
        moorline.log_model(ThresholdModel("a", 0.0), "model", flavor="onnx")


def test_a_model_that_cannot_be_saved_marks_the_logged_model_failed(
    store: Store, frame: Data
) -> None:
    x, y = frame

    estimator = _logistic(x, y)
    estimator.custom_hook = lambda v: v  # a lambda inside an estimator: not skops-able
    with moorline.start_run() as run:
        with pytest.raises(moorline.InvalidArgument, match=r"flavor='python_function'"):
            moorline.log_model(estimator, "model")
    svc = services()
    page = svc.tracking.search_logged_models([run.info.experiment_id])
    assert [m.status.value for m in page.items] == ["LOGGED_MODEL_UPLOAD_FAILED"]
    assert "skops" in (page.items[0].status_message or "")
