"""The models of the serving benchmark: trained once per run, then saved for each server.

Runs in the project's virtualenv (scikit-learn, MLflow 3.17.2 and moorline are all there),
started by ``serving.py`` once per step:

    python _serving_models.py train OUT_DIR          # train, pickle, write bodies, floor
    python _serving_models.py mlflow OUT_DIR         # mlflow.sklearn.save_model per model
    python _serving_models.py moorline OUT_DIR       # log + register + deploy (MOORLINE_HOME)

``train`` fits the two models of issue #5 on scikit-learn's breast cancer data (30
features) with a fixed seed and ``OMP_NUM_THREADS=1``: a scaled logistic regression
(``StandardScaler`` + ``LogisticRegression`` pipeline) and a 100-tree random forest. It
pickles them to ``models.pkl`` (BentoML's save step loads that file in its own virtualenv,
which pins the same scikit-learn and NumPy), writes the request body every server gets
(``{"inputs": [[30 floats]]}``, one held-out row) and the rows and labels the benchmark
checks each server's answers against, and measures the in-process floor: ``predict`` on one
row at a time and on batches of 64 rows, in this process, with nothing around it.

Each step prints one JSON object on its last line of stdout; ``serving.py`` reads it.
"""

from __future__ import annotations

import json
import os
import pickle
import platform
import sys
import time
from pathlib import Path
from typing import Any

SEED = 20261129
MODELS = ("lr", "forest")
#: Registered model and deployment names on the moorline side (also the names of the
#: BentoML models and of the MLflow model folders).
NAMES = {"lr": "bench-lr", "forest": "bench-forest"}
CHECK_ROWS = 8
FLOOR_SECONDS = 1.0
FLOOR_BATCH = 64


def train(out: Path) -> dict[str, Any]:
    import numpy as np
    import sklearn
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.25, random_state=SEED)
    models = {
        "lr": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
            x_train, y_train
        ),
        "forest": RandomForestClassifier(n_estimators=100, random_state=SEED, n_jobs=1).fit(
            x_train, y_train
        ),
    }
    out.mkdir(parents=True, exist_ok=True)
    with (out / "models.pkl").open("wb") as fh:
        pickle.dump({"models": models, "x_test": x_test}, fh)
    # The benchmark row and the rows each server's answers are checked on: held-out rows,
    # chosen so both classes appear.
    rows = x_test[:CHECK_ROWS]
    body = {"inputs": [rows[0].tolist()]}
    (out / "body.json").write_text(json.dumps(body))
    expected = {name: [int(v) for v in model.predict(rows)] for name, model in models.items()}
    batch = np.ascontiguousarray(np.resize(x_test, (FLOOR_BATCH, x_test.shape[1])))
    floor = {name: _floor(model, rows[:1], batch) for name, model in models.items()}
    return {
        "ok": True,
        "seed": SEED,
        "rows": rows.tolist(),
        "expected": expected,
        "floor": floor,
        "versions": {
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }


def _floor(model: Any, row: Any, batch: Any) -> dict[str, float]:
    """Rows per second of ``predict`` on one row at a time, and on batches of 64 rows."""

    def rate(x: Any) -> float:
        model.predict(x)  # warm caches and lazy imports
        calls, started = 0, time.perf_counter()
        while True:
            model.predict(x)
            calls += 1
            elapsed = time.perf_counter() - started
            if elapsed >= FLOOR_SECONDS and calls >= 20:
                return calls * len(x) / elapsed

    return {"single_rows_per_s": rate(row), f"batch{FLOOR_BATCH}_rows_per_s": rate(batch)}


def _load(out: Path) -> dict[str, Any]:
    with (out / "models.pkl").open("rb") as fh:
        loaded: dict[str, Any] = pickle.load(fh)
    return loaded


def save_mlflow(out: Path) -> dict[str, Any]:
    """``mlflow.sklearn.save_model`` per model, with a tensor signature (float64, (-1, 30)),
    so ``{"inputs": [[...]]}`` is accepted; the forest's tree type is a skops trusted type
    (MLflow 3 refuses tree models otherwise: specs/anchors-setup.md)."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    loaded = _load(out)
    x = loaded["x_test"][:5]
    paths = {}
    for name, model in loaded["models"].items():
        path = out / "mlflow" / NAMES[name]
        mlflow.sklearn.save_model(
            model,
            str(path),
            signature=infer_signature(x, model.predict(x)),
            skops_trusted_types=["sklearn.tree._tree.Tree"],
        )
        paths[name] = str(path)
    return {"ok": True, "paths": paths, "mlflow": mlflow.__version__}


def save_moorline(out: Path) -> dict[str, Any]:
    """Log and register both models with the moorline SDK into ``MOORLINE_HOME``'s SQLite
    store, and deploy each as its own deployment with prediction logging on
    (``log_sample=1.0``)."""
    import moorline

    loaded = _load(out)
    x = loaded["x_test"][:5]
    moorline.set_experiment("serving-benchmark")
    registered = {}
    for name, model in loaded["models"].items():
        with moorline.start_run(run_name=NAMES[name]):
            info = moorline.log_model(
                model, "model", input_example=x, registered_model_name=NAMES[name]
            )
        registered[name] = {
            "model": info.registered_model_name,
            "version": info.registered_model_version,
            "uri": info.model_uri,
        }
        # One deployment per model, named like it: that version alone, every request logged.
        deployment = moorline.deploy(
            NAMES[name],
            NAMES[name],
            version=info.registered_model_version,
            settings={"log_sample": 1.0},
            reason="serving benchmark",
        )
        registered[name]["deployment"] = deployment.to_dict()
    return {"ok": True, "registered": registered}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("train", "mlflow", "moorline"):
        print(__doc__, file=sys.stderr)
        return 2
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = Path(argv[2])
    step = {"train": train, "mlflow": save_mlflow, "moorline": save_moorline}[argv[1]]
    print(json.dumps(step(out)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
