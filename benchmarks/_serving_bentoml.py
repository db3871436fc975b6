"""The BentoML side of the serving benchmark: save both models, and the service that serves them.

Our own code, run only with BentoML 1.4.40's virtualenv (``benchmarks/.envs/bentoml``).
``serving.py`` copies this file into the run's temporary directory as ``bench_service.py``
and, with ``BENTOML_HOME`` pointing into that directory:

    python bench_service.py save MODELS.pkl      # bentoml.sklearn.save_model, both models
    bentoml serve bench_service:Classifier --host 127.0.0.1 --port PORT

The service is the new style (``@bentoml.service`` class) with one batchable
``@bentoml.api`` per model (adaptive batching with BentoML's default bounds:
``max_batch_size=100``, ``max_latency_ms=60000``), taking ``inputs``, so the body is
``{"inputs": [[30 floats]]}`` as for ``mlflow models serve``. ``BENCH_BENTOML_WORKERS`` sets
the service's ``workers``.

No ``from __future__ import annotations`` here: BentoML reads the API methods' annotations
at import to build its input and output schemas.
"""

import os
import pickle
import sys

import bentoml
import numpy as np

LR_TAG = "bench-lr:latest"
FOREST_TAG = "bench-forest:latest"


@bentoml.service(workers=int(os.environ.get("BENCH_BENTOML_WORKERS", "1")))
class Classifier:
    """Both benchmark models behind one service, one batchable endpoint each."""

    lr_model = bentoml.models.BentoModel(LR_TAG)
    forest_model = bentoml.models.BentoModel(FOREST_TAG)

    def __init__(self) -> None:
        self.lr = bentoml.sklearn.load_model(LR_TAG)
        self.forest = bentoml.sklearn.load_model(FOREST_TAG)

    @bentoml.api(route="/predict_lr", batchable=True)
    def predict_lr(self, inputs: np.ndarray) -> np.ndarray:
        return self.lr.predict(inputs)

    @bentoml.api(route="/predict_forest", batchable=True)
    def predict_forest(self, inputs: np.ndarray) -> np.ndarray:
        return self.forest.predict(inputs)


def save(models_path: str) -> None:
    """Store the benchmark's models in BentoML's model store (``BENTOML_HOME``)."""
    with open(models_path, "rb") as fh:
        models = pickle.load(fh)["models"]
    for tag, name in ((LR_TAG, "lr"), (FOREST_TAG, "forest")):
        saved = bentoml.sklearn.save_model(tag.split(":")[0], models[name])
        print(f"saved {saved.tag}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "save":
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    save(sys.argv[2])
