"""Real scikit-learn models saved once, then registered as versions of a model.

Saving (skops or cloudpickle, plus the signature inferred from a real
prediction on the input example) is done once per module into a folder;
registering a version uploads that folder below a new run of the store at
hand and points the version's source at it (``runs:/<run>/model``), the way
``moorline.log_model`` lays models out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from moorline.errors import AlreadyExists
from moorline.models import save_model
from moorline.registry.models import ModelVersion
from moorline.registry.service import RegistryService
from moorline.tracking.artifacts import ArtifactService
from moorline.tracking.service import TrackingService

FEATURES = ("tenure", "spend", "visits", "tickets")


def churn_data(n: int, *, seed: int, shift: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` customers (four float features, ``shift`` added to every mean) and
    whether each churned (a noisy linear rule)."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(loc=shift, size=(n, len(FEATURES))), columns=list(FEATURES))
    noise = rng.normal(scale=0.5, size=n)
    y = (x["tenure"] - 0.8 * x["spend"] + 0.5 * x["tickets"] + noise > 0).astype(np.int64)
    return x, y.to_numpy()


def fit_churn(seed: int = 7) -> LogisticRegression:
    x, y = churn_data(400, seed=seed)
    return LogisticRegression().fit(x, y)


class ScoredChurn:
    """A user's wrapper around a fitted classifier that answers two fields per row:
    the class and its probability (saved with cloudpickle, python_function flavor)."""

    def __init__(self, model: LogisticRegression) -> None:
        self.model = model

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        frame = pd.DataFrame(data, columns=list(FEATURES))
        return pd.DataFrame(
            {
                "prediction": self.model.predict(frame),
                "probability": self.model.predict_proba(frame)[:, 1],
            }
        )


def save_folders(root: Path) -> dict[str, Path]:
    """``tensor``: a LogisticRegression (one output array); ``columns``: the same
    classifier wrapped to answer ``prediction`` and ``probability``."""
    model = fit_churn()
    example, _ = churn_data(5, seed=1)
    folders = {"tensor": root / "tensor", "columns": root / "columns"}
    save_model(model, folders["tensor"], input_example=example)
    save_model(ScoredChurn(model), folders["columns"], input_example=example)
    return folders


def register_folder(
    tracking: TrackingService,
    artifacts: ArtifactService,
    registry: RegistryService,
    name: str,
    folder: Path,
    *,
    leave_out: Collection[str] = (),
    actor: str = "ada",
) -> ModelVersion:
    """Upload ``folder`` (without the files named in ``leave_out``) into a new run and
    register it as the next version of ``name`` (created on first use)."""
    run = tracking.create_run("0", user_id=actor, run_name=f"train-{name}")
    run_id = run.info.run_id
    for file in sorted(folder.rglob("*")):
        if file.is_file() and file.name not in leave_out:
            with file.open("rb") as fh:
                artifacts.log_run_artifact(run_id, f"model/{file.relative_to(folder)}", fh)
    with contextlib.suppress(AlreadyExists):
        registry.create_registered_model(name, actor=actor)
    return registry.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id, actor=actor)
