"""Models as artifacts: flavors, signatures, environments and per-file digests.

A saved model is a folder: the flavor's files (``model.skops``,
``model.ubj``, ``model.txt``, ``model.pkl``), MLflow's ``MLmodel`` with
``requirements.txt`` and ``python_env.yaml`` (so the ``mlflow`` client loads
it too), an optional ``input_example.json``, and ``MOORLINE_MODEL.json``,
the manifest with the SHA-256 of every other file. Loading checks every
digest before anything is deserialised.

- :mod:`.flavors`: one module per library behind one contract
- :mod:`.signature`, :mod:`.environment`, :mod:`.digest`, :mod:`.manifest`
- :mod:`.packaging` (save), :mod:`.loading` (load), :mod:`.mlflow_compat`

``moorline.log_model`` and ``moorline.load_model`` (``moorline.sdk.models``)
add the tracking store, the registry and ``runs:/`` / ``models:/`` URIs.
Nothing here imports NumPy, pandas or a model library until it is used.
"""

from __future__ import annotations

from moorline.models.loaded import LoadedModel
from moorline.models.loading import load_model_dir
from moorline.models.manifest import MANIFEST_FILE, Manifest
from moorline.models.packaging import SavedModel, save_model
from moorline.models.signature import Signature, infer_signature

__all__ = [
    "MANIFEST_FILE",
    "LoadedModel",
    "Manifest",
    "SavedModel",
    "Signature",
    "infer_signature",
    "load_model_dir",
    "save_model",
]
