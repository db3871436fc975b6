"""The URIs load_model accepts, on a local SQLite store, and the error each mistake gets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.linear_model import LogisticRegression

import moorline
from moorline.cli.errors import EXIT_CODES
from moorline.errors import ErrorCode, IntegrityError, InvalidArgument, NotFound
from moorline.models.digest import sha256_bytes
from moorline.models.manifest import MANIFEST_FILE
from moorline.sdk.models import TAG_FLAVOR, TAG_MANIFEST_SHA256
from moorline.server.errors import HTTP_STATUS
from moorline.store.rest.client import make_error
from tests.models.conftest import Store, run_artifact_folder, services

Data = tuple[pd.DataFrame, pd.Series]


def test_registered_model_versions_by_number_alias_and_latest(store: Store, frame: Data) -> None:
    x, y = frame
    first = xgb.XGBClassifier(n_estimators=3, n_jobs=1).fit(x, y)
    second = LogisticRegression().fit(x, y)
    with moorline.start_run() as run:
        one = moorline.log_model(first, "model", registered_model_name="churn")
        two = moorline.log_model(second, "other", registered_model_name="churn")
    assert (one.registered_model_version, two.registered_model_version) == (1, 2)

    version = moorline.get_model_version("churn", 1)
    assert version.source == f"runs:/{run.run_id}/model"
    assert (version.run_id, version.model_id) == (run.run_id, one.model_id)
    assert version.tags == {TAG_MANIFEST_SHA256: one.manifest_sha256, TAG_FLAVOR: "xgboost"}
    assert version.user_id == "ana"

    moorline.set_alias("churn", "champion", 1)
    assert moorline.load_model("models:/churn/1").flavor == "xgboost"
    champion = moorline.load_model("models:/churn@champion")
    np.testing.assert_array_equal(champion.predict(x), first.predict(x))
    latest = moorline.load_model("models:/churn/latest")
    np.testing.assert_array_equal(latest.predict(x), second.predict(x))
    by_id = moorline.load_model(f"models:/{one.model_id}")
    np.testing.assert_array_equal(by_id.predict(x), first.predict(x))


def test_an_artifact_proxy_uri_loads_the_folder(store: Store, frame: Data) -> None:
    x, y = frame
    model = LogisticRegression().fit(x, y)
    with moorline.start_run() as run:
        moorline.log_model(model, "model")
    uri = f"{run.info.artifact_uri}/model"
    assert uri.startswith("mlflow-artifacts:/")
    loaded = moorline.load_model(uri)
    assert loaded.verified is True
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_a_version_refuses_a_consistently_rewritten_model(store: Store, frame: Data) -> None:
    """The attacker edits a file and the manifest to match: the digest on the registered
    version (and on the logged model) no longer matches the manifest."""
    x, y = frame
    with moorline.start_run() as run:
        moorline.log_model(LogisticRegression().fit(x, y), "model", registered_model_name="fraud")
    folder = run_artifact_folder(store, run.run_id, "model")
    (folder / "requirements.txt").write_text("evil-package==6.6.6\n")
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    for entry in manifest["files"]:
        if entry["path"] == "requirements.txt":
            data = (folder / "requirements.txt").read_bytes()
            entry.update(sha256=sha256_bytes(data), size=len(data))
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    for uri in ("models:/fraud/1", f"runs:/{run.run_id}/model"):
        with pytest.raises(IntegrityError, match=f"'{MANIFEST_FILE}' fails its integrity check"):
            moorline.load_model(uri)


def test_a_version_registered_from_a_local_folder_loads_from_it(
    store: Store, frame: Data, tmp_path: Path
) -> None:
    from moorline.models import save_model

    x, y = frame
    model = LogisticRegression().fit(x, y)
    save_model(model, tmp_path / "exported")
    moorline.register_model(str(tmp_path / "exported"), "exported")
    np.testing.assert_array_equal(
        moorline.load_model("models:/exported/1").predict(x), model.predict(x)
    )


def test_mistakes_get_errors_that_say_what_is_wrong(store: Store, frame: Data) -> None:
    x, y = frame
    with moorline.start_run() as run:
        moorline.log_model(LogisticRegression().fit(x, y), "model")
    with pytest.raises(NotFound, match=r"No model at runs:/.*/nothing"):
        moorline.load_model(f"runs:/{run.run_id}/nothing")
    with pytest.raises(NotFound):
        moorline.load_model("runs:/0123456789abcdef0123456789abcdef/model")
    with pytest.raises(NotFound):
        moorline.load_model("models:/never-registered/1")
    with pytest.raises(NotFound, match=r"No model folder"):
        moorline.load_model("/nonexistent/model/folder")
    with pytest.raises(InvalidArgument, match=r"Unsupported model URI"):
        moorline.load_model("https://example.com/model")
    with pytest.raises(InvalidArgument, match=r"non-empty"):
        moorline.load_model("  ")
    with pytest.raises(InvalidArgument, match=r"'\.\.' is not allowed"):
        moorline.load_model(f"runs:/{run.run_id}/../../etc")
    with moorline.start_run(), pytest.raises(InvalidArgument, match=r"may not contain"):
        moorline.log_model(LogisticRegression().fit(x, y), "m", registered_model_name="a/b")
    with moorline.start_run(), pytest.raises(InvalidArgument, match=r"pip options"):
        moorline.log_model(LogisticRegression().fit(x, y), "m", pip_requirements=["-r x.txt"])
    # Refused before anything was recorded.
    assert [
        m.name for m in services().tracking.search_logged_models([run.info.experiment_id]).items
    ] == ["model"]


def test_integrity_error_has_its_own_code_status_and_exit_code() -> None:
    error = IntegrityError("file 'model.skops' fails its integrity check")
    assert error.code is ErrorCode.INTEGRITY_ERROR
    assert HTTP_STATUS[ErrorCode.INTEGRITY_ERROR] == 409
    assert EXIT_CODES[ErrorCode.INTEGRITY_ERROR] == 6
    assert set(EXIT_CODES.values()) - {6} == {2, 3, 4, 5}  # 6 means only this
    back = make_error("INTEGRITY_ERROR", error.message)
    assert isinstance(back, IntegrityError)
    assert back.message == error.message
