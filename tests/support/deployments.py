"""Registered model versions whose output fields are known, for the deployment tests.

Each version's files are a folder holding a real MLflow ``MLmodel`` file
with a signature; serving's catalog reads the output fields from it, exactly
as it does for a model logged by the mlflow client. So the consumer-field
check runs on real files, not on a stand-in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from moorline.serving.models import PredictionRecord

if TYPE_CHECKING:
    from moorline.bootstrap import Services


def model_folder(root: Path, outputs: Sequence[str]) -> Path:
    """A folder with an ``MLmodel`` whose signature outputs the columns ``outputs``."""
    root.mkdir(parents=True, exist_ok=True)
    inputs = json.dumps([{"type": "double", "name": "x", "required": True}])
    outs = json.dumps([{"type": "double", "name": o, "required": True} for o in outputs])
    (root / "MLmodel").write_text(
        "flavors:\n  python_function:\n    loader_module: moorline.models.pyfunc\n"
        f"signature:\n  inputs: '{inputs}'\n  outputs: '{outs}'\n"
    )
    return root


def register_versions(
    services: Services,
    workdir: Path,
    model: str,
    outputs: Sequence[Sequence[str]],
    *,
    actor: str = "ana",
) -> list[int]:
    """Register ``model`` with one version per entry of ``outputs`` (its output columns)."""
    services.registry.create_registered_model(model, actor=actor)
    numbers = []
    for i, cols in enumerate(outputs):
        folder = model_folder(workdir / f"{model}-v{i + 1}", cols)
        mv = services.registry.create_model_version(model, str(folder), actor=actor)
        numbers.append(mv.version)
    return numbers


def prediction(
    deployment: str,
    model: str,
    version: int,
    at: int,
    *,
    latency_ms: float = 5.0,
    rows: int = 1,
    shadow: bool = False,
    error: bool = False,
    caller: str = "",
    consumer: str | None = None,
    pid: str | None = None,
    inputs: list[list[float]] | None = None,
) -> PredictionRecord:
    """One logged request, as the gateway writes it (``inputs``: its rows, else
    ``rows`` rows 0, 1, ...)."""
    rows_in = inputs if inputs is not None else [[float(i)] for i in range(rows)]
    return PredictionRecord(
        prediction_id=pid or f"{deployment}-{version}-{at}-{int(shadow)}",
        deployment=deployment,
        model=model,
        version=version,
        at=at,
        inputs=rows_in,
        outputs=[] if error else [row[0] * 2 for row in rows_in],
        latency_ms=latency_ms,
        consumer=consumer,
        caller=caller,
        shadow=shadow,
        error_id="err-1" if error else None,
    )
