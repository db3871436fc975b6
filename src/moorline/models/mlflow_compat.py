"""MLflow's model format, both ways, without needing ``mlflow`` installed.

Writing: every model moorline logs also gets an ``MLmodel`` file (plus
``requirements.txt`` and ``python_env.yaml``) so the unmodified ``mlflow``
client loads it. Its ``python_function`` flavor points at
:mod:`moorline.models.mlflow_loader`, which checks the digests before
loading; for scikit-learn and XGBoost the native MLflow flavor is written
too, as MLflow 3 writes it, so ``mlflow.sklearn.load_model`` works as well.

Reading: a folder with an ``MLmodel`` file and no moorline manifest (a model
logged by ``mlflow``) loads here. The ``sklearn`` flavor is read natively
(skops with the trusted types the MLmodel lists, or pickle/cloudpickle,
which execute code); any other ``python_function`` model is handed to
``mlflow.pyfunc`` when ``mlflow`` is importable. Such a model has no
digests to check, and the result says so: ``verified`` is False.

>>> sig = signature_from_mlflow({"inputs": '[{"type": "double", "name": "x", "required": true}]'})
>>> sig.inputs.columns[0]
ColumnSpec(name='x', dtype='float64')
>>> signature_to_mlflow(sig)["inputs"]
'[{"type": "double", "name": "x", "required": true}]'
"""

from __future__ import annotations

import json
import pickle
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moorline.errors import IntegrityError, InvalidArgument, NotImplementedFeature, PermissionDenied
from moorline.models.environment import Environment
from moorline.models.flavors.base import FlavorInfo, NativePredictor, call_user_code, qualified_name
from moorline.models.flavors.sklearn import load_skops
from moorline.models.lean_imports import before_loading
from moorline.models.loaded import LoadedModel
from moorline.models.signature import ColumnSchema, ColumnSpec, Signature, TensorSchema

MLMODEL_FILE = "MLmodel"
REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
LOADER_MODULE = "moorline.models.mlflow_loader"
MAX_MLMODEL_BYTES = 16 * 1024 * 1024

#: numpy dtype name -> MLflow column type (only the ones MLflow converts losslessly).
_TO_MLFLOW = {
    "float64": "double",
    "float32": "float",
    "int64": "long",
    "uint32": "long",
    "int32": "integer",
    "int16": "integer",
    "int8": "integer",
    "uint16": "integer",
    "uint8": "integer",
    "bool": "boolean",
    "object": "string",
    "str": "string",
    "string": "string",
    "datetime64[ns]": "datetime",
}
_FROM_MLFLOW = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "object",
    "binary": "object",
    "datetime": "datetime64[ns]",
}


# -- signatures ---------------------------------------------------------------


def _schema_to_mlflow(schema: ColumnSchema | TensorSchema) -> str | None:
    if isinstance(schema, TensorSchema):
        spec = {"dtype": schema.dtype, "shape": list(schema.shape)}
        return json.dumps([{"type": "tensor", "tensor-spec": spec}])
    cols: list[dict[str, Any]] = []
    for c in schema.columns:
        kind = _TO_MLFLOW.get(c.dtype)
        if kind is None:
            return None
        cols.append({"type": kind, "name": c.name, "required": True})
    return json.dumps(cols)


def signature_to_mlflow(signature: Signature | None) -> dict[str, Any] | None:
    """MLflow's ``signature`` entry, or None when a dtype has no MLflow equivalent."""
    if signature is None:
        return None
    inputs = _schema_to_mlflow(signature.inputs)
    if inputs is None:
        return None
    outputs = None if signature.outputs is None else _schema_to_mlflow(signature.outputs)
    return {"inputs": inputs, "outputs": outputs, "params": None}


def _schema_from_mlflow(text: object) -> ColumnSchema | TensorSchema | None:
    if not isinstance(text, str):
        return None
    try:
        specs = json.loads(text)
    except ValueError:
        return None
    if not isinstance(specs, list) or not specs or not all(isinstance(s, dict) for s in specs):
        return None
    if len(specs) == 1 and specs[0].get("type") == "tensor":
        tensor = specs[0].get("tensor-spec") or {}
        dtype, shape = tensor.get("dtype"), tensor.get("shape")
        if (
            isinstance(dtype, str)
            and isinstance(shape, list)
            and all(isinstance(n, int) for n in shape)
        ):
            return TensorSchema(dtype=dtype, shape=tuple(shape))
        return None
    cols: list[ColumnSpec] = []
    for s in specs:
        name, kind = s.get("name"), _FROM_MLFLOW.get(str(s.get("type")))
        # Unnamed or optional columns, and nested types, cannot be checked by name.
        if not isinstance(name, str) or kind is None or s.get("required", True) is not True:
            return None
        cols.append(ColumnSpec(name=name, dtype=kind))
    return ColumnSchema(columns=tuple(cols))


def signature_from_mlflow(data: object) -> Signature | None:
    """Our signature for MLflow's ``signature`` entry; None if it cannot be enforced."""
    if not isinstance(data, Mapping):
        return None
    inputs = _schema_from_mlflow(data.get("inputs"))
    if inputs is None:
        return None
    return Signature(inputs=inputs, outputs=_schema_from_mlflow(data.get("outputs")))


# -- writing ------------------------------------------------------------------


def write_mlflow_files(
    path: Path,
    *,
    info: FlavorInfo,
    signature: Signature | None,
    environment: Environment,
    example: Mapping[str, Any] | None,
    run_id: str | None,
    model_id: str | None,
    artifact_path: str | None,
) -> None:
    """Write ``MLmodel``, ``requirements.txt`` and ``python_env.yaml`` into ``path``."""
    import yaml

    flavors: dict[str, Any] = {
        "python_function": {
            "env": {"virtualenv": PYTHON_ENV_FILE},
            "loader_module": LOADER_MODULE,
            "predict_fn": "predict",
            "python_version": environment.python,
        },
        **info.mlflow_flavors,
    }
    doc: dict[str, Any] = {
        "artifact_path": artifact_path,
        "flavors": flavors,
        "model_id": model_id,
        "model_uuid": uuid.uuid4().hex,
        "run_id": run_id,
        "utc_time_created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
    }
    mlflow_signature = signature_to_mlflow(signature)
    if mlflow_signature is not None:
        doc["signature"] = mlflow_signature
    if example is not None:
        doc["saved_input_example_info"] = dict(example)
    (path / MLMODEL_FILE).write_text(yaml.safe_dump(doc, default_flow_style=False))
    (path / REQUIREMENTS_FILE).write_text("\n".join(environment.requirement_lines()) + "\n")
    python_env = {
        "python": environment.python,
        "build_dependencies": ["pip", "setuptools", "wheel"],
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    (path / PYTHON_ENV_FILE).write_text(yaml.safe_dump(python_env, default_flow_style=False))


# -- reading ------------------------------------------------------------------


def read_mlmodel(path: Path) -> dict[str, Any]:
    """The parsed ``MLmodel`` file of the model folder ``path``."""
    file = path / MLMODEL_FILE
    if file.stat().st_size > MAX_MLMODEL_BYTES:
        raise InvalidArgument(f"{MLMODEL_FILE} of {path} is larger than {MAX_MLMODEL_BYTES} bytes")
    return parse_mlmodel(file.read_bytes(), where=str(path))


def parse_mlmodel(data: bytes, *, where: str) -> dict[str, Any]:
    """An ``MLmodel`` file's content, parsed (``where`` names the model in errors).

    >>> parse_mlmodel(b"flavors: {python_function: {}}", where="m")["flavors"]
    {'python_function': {}}
    """
    import yaml

    if len(data) > MAX_MLMODEL_BYTES:
        raise InvalidArgument(f"{MLMODEL_FILE} of {where} is larger than {MAX_MLMODEL_BYTES} bytes")
    try:
        doc = yaml.safe_load(data.decode())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"{MLMODEL_FILE} of {where} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("flavors"), dict):
        raise InvalidArgument(f"{MLMODEL_FILE} of {where} has no flavors")
    return doc


def load_mlflow_dir(path: Path, *, where: str, allow_code_execution: bool) -> LoadedModel:
    """Load an MLflow model folder (no moorline manifest): see the module docstring."""
    doc = read_mlmodel(path)
    flavors: dict[str, Any] = doc["flavors"]
    signature = signature_from_mlflow(doc.get("signature"))
    pyfunc = flavors.get("python_function")
    sk = flavors.get("sklearn")
    if isinstance(pyfunc, dict) and pyfunc.get("loader_module") == LOADER_MODULE:
        raise IntegrityError(
            f"Model at {where} was logged by moorline (its MLmodel names {LOADER_MODULE}) but "
            "its MOORLINE_MODEL.json manifest is missing"
        )
    if isinstance(sk, dict) or (
        isinstance(pyfunc, dict) and pyfunc.get("loader_module") == "mlflow.sklearn"
    ):
        return _load_sklearn(
            path,
            sk or {},
            pyfunc or {},
            signature=signature,
            where=where,
            allow_code_execution=allow_code_execution,
        )
    if isinstance(pyfunc, dict):
        before_loading("python_function", executes_code=True, where=where)
        return _load_with_mlflow(
            path,
            pyfunc,
            signature=signature,
            where=where,
            allow_code_execution=allow_code_execution,
        )
    raise NotImplementedFeature(
        f"Model at {where} has MLflow flavor(s) {', '.join(sorted(flavors))} and no "
        "python_function flavor; moorline loads sklearn and python_function models"
    )


def _inside(path: Path, name: object, where: str) -> Path:
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"Model at {where}: MLmodel names no model file")
    target = (path / name).resolve()
    if not target.is_relative_to(path.resolve()) or not target.is_file():
        raise InvalidArgument(
            f"Model at {where}: MLmodel names {name!r}, which is not a file in it"
        )
    return target


def _load_sklearn(
    path: Path,
    sk: Mapping[str, Any],
    pyfunc: Mapping[str, Any],
    *,
    signature: Signature | None,
    where: str,
    allow_code_execution: bool,
) -> LoadedModel:
    fmt = sk.get("serialization_format", "pickle")
    file = _inside(path, sk.get("pickled_model") or pyfunc.get("model_path"), where)
    if fmt == "skops":
        trusted = sk.get("skops_trusted_types") or []
        if not isinstance(trusted, list) or not all(isinstance(t, str) for t in trusted):
            raise InvalidArgument(f"Model at {where}: skops_trusted_types is not a list of names")
        foreign = [t for t in trusted if t.split(".", 1)[0] not in ("sklearn", "numpy", "scipy")]
        executes = bool(foreign)
        _check_code_execution(executes, allow_code_execution, where, f"skops types {foreign}")
        before_loading("sklearn", executes_code=executes, where=where)
        model = load_skops(file, trusted)
    elif fmt in ("pickle", "cloudpickle"):
        executes = True
        _check_code_execution(True, allow_code_execution, where, f"{fmt} serialization")
        before_loading("sklearn", executes_code=True, where=where)
        with file.open("rb") as fh:
            if fmt == "pickle":
                model = pickle.load(fh)  # noqa: S301 - allowed by the caller, see _check_code_execution
            else:
                import cloudpickle

                model = cloudpickle.load(fh)
    else:
        raise InvalidArgument(f"Model at {where}: unknown sklearn serialization_format {fmt!r}")
    return LoadedModel(
        predictor=NativePredictor(model),
        flavor="sklearn",
        format=str(fmt),
        model_class=qualified_name(model),
        signature=signature,
        manifest=None,
        verified=False,
        executes_code_on_load=executes,
        source=where,
    )


def _check_code_execution(executes: bool, allowed: bool, where: str, why: str) -> None:
    if executes and not allowed:
        raise PermissionDenied(
            f"Loading the model at {where} would execute code it carries ({why}); "
            "pass allow_code_execution=True to load it anyway"
        )


class _MlflowPredictor:
    def __init__(self, model: Any) -> None:
        self._model = model

    @property
    def raw(self) -> Any:
        try:
            return self._model.get_raw_model()
        except Exception:  # a flavor without a raw model: the pyfunc is the model
            return self._model

    def predict(self, data: Any) -> Any:
        return call_user_code(self._model.predict, data, what="mlflow.pyfunc model")


def _load_with_mlflow(
    path: Path,
    pyfunc: Mapping[str, Any],
    *,
    signature: Signature | None,
    where: str,
    allow_code_execution: bool,
) -> LoadedModel:
    loader = str(pyfunc.get("loader_module"))
    _check_code_execution(True, allow_code_execution, where, f"MLflow loader {loader}")
    try:
        import mlflow.pyfunc
    except ImportError as exc:
        raise NotImplementedFeature(
            f"Model at {where} is an MLflow python_function model loaded by {loader!r}; "
            "install mlflow to load it (moorline reads MLflow's sklearn flavor natively)"
        ) from exc
    model = mlflow.pyfunc.load_model(str(path))
    return LoadedModel(
        predictor=_MlflowPredictor(model),
        flavor="python_function",
        format=f"mlflow:{loader}",
        model_class=qualified_name(model),
        signature=signature,
        manifest=None,
        verified=False,
        executes_code_on_load=True,
        source=where,
        keeps_files=True,
    )
