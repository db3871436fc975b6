"""Models logged and loaded through the SDK on a real SQLite store in a temporary folder.

Models are small (tens of rows, a handful of trees) so the whole suite
trains in well under a second per model; what is tested is the storage,
not the learning.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import moorline
from moorline.bootstrap import Services
from moorline.sdk._session import SESSION


@dataclass(frozen=True)
class Store:
    tracking_uri: str
    artifacts: Path


def _reset_sdk() -> None:
    while moorline.active_run() is not None:
        moorline.end_run()
    moorline.set_tracking_uri(None)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """The SDK pointed at a fresh SQLite store and artifact folder."""
    uri = f"sqlite:///{tmp_path / 'store' / 'moorline.db'}"
    artifacts = tmp_path / "store" / "artifacts"
    monkeypatch.setenv("MOORLINE_TRACKING_URI", uri)
    monkeypatch.setenv("MOORLINE_ARTIFACTS_URI", str(artifacts))
    monkeypatch.setenv("MOORLINE_USER", "ana")
    monkeypatch.delenv("MOORLINE_HOME", raising=False)
    _reset_sdk()
    moorline.set_experiment(f"models-{uuid.uuid4().hex[:8]}")
    yield Store(tracking_uri=uri, artifacts=artifacts)
    _reset_sdk()


@pytest.fixture(scope="session")
def frame() -> tuple[pd.DataFrame, pd.Series]:
    """A small binary classification problem with named float columns."""
    rng = np.random.default_rng(7)
    features = pd.DataFrame(
        rng.normal(size=(120, 4)), columns=["tenure", "spend", "visits", "tickets"]
    )
    labels = pd.Series(
        (features["tenure"] + 0.5 * features["spend"] - features["tickets"] > 0).astype(int),
        name="churned",
    )
    return features, labels


class ThresholdModel:
    """A user's own model: no library flavor handles it, so it is cloudpickled."""

    def __init__(self, column: str, threshold: float) -> None:
        self.column = column
        self.threshold = threshold

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        return (data[self.column].to_numpy() > self.threshold).astype(np.int64)


def services() -> Services:
    """The services the SDK is using (to look at records the public API does not return)."""
    return SESSION.services()


def run_artifact_folder(store: Store, run_id: str, name: str) -> Path:
    """Where the local artifact store keeps ``runs:/<run_id>/<name>``."""
    found = [p for p in store.artifacts.glob(f"*/{run_id}/artifacts/{name}") if p.is_dir()]
    assert len(found) == 1, found
    return found[0]
