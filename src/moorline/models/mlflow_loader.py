"""The ``loader_module`` that moorline's ``MLmodel`` files name for MLflow.

``mlflow.pyfunc.load_model("runs:/<id>/<name>")`` on a model moorline
logged downloads the folder and calls :func:`_load_pyfunc` with it, so the
unmodified ``mlflow`` client gets the same digest checks as
:func:`moorline.load_model`: a tampered file is refused before anything is
deserialised.
"""

from __future__ import annotations

from typing import Any

from moorline.models.loaded import LoadedModel
from moorline.models.loading import load_model_dir

#: What MLflow's client writes into a folder it downloaded by a ``models:/`` URI.
MLFLOW_DOWNLOAD_FILES = frozenset({"registered_model_meta"})


class MlflowPyfuncAdapter:
    """What MLflow's ``PyFuncModel`` wraps: ``predict(data, params=None)``."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.model.predict(data)

    def get_raw_model(self) -> Any:
        return self.model.raw


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> MlflowPyfuncAdapter:
    """MLflow's loader hook: ``path`` is the folder MLflow downloaded. The files
    MLflow itself adds to it are not the model's and are left out."""
    return MlflowPyfuncAdapter(load_model_dir(path, skip=MLFLOW_DOWNLOAD_FILES))
