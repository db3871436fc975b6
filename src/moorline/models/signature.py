"""Model signatures: what a model takes and returns, and the check at predict time.

Two shapes of schema, like MLflow's: named columns with dtypes (a pandas
DataFrame) or one tensor with a dtype and a shape whose first axis (the
batch) is ``-1``. A signature is inferred from an input example and the
model's output on it, stored in the manifest, and enforced by
:func:`prepare_input` before every prediction: missing columns, a wrong
width or an incompatible dtype are refused with :class:`InvalidArgument`
naming what is wrong, instead of a confusing error from deep inside a model.

>>> sig = Signature(inputs=ColumnSchema(columns=(ColumnSpec(name="age", dtype="int64"),)))
>>> Signature.from_dict(sig.to_dict()) == sig
True
>>> prepare_input(sig, [{"height": 1.8}])
Traceback (most recent call last):
...
moorline.errors.InvalidArgument: Input is missing column(s) 'age' required by the model's ...
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from moorline.errors import InvalidArgument

#: Bound on a stored schema, so a manifest stays small (and a wide input is still fine).
MAX_COLUMNS = 100_000


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnSpec:
    name: str
    dtype: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnSchema:
    """Named columns, in order; ``dtype`` is pandas' name for the column's dtype."""

    columns: tuple[ColumnSpec, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True, slots=True, kw_only=True)
class TensorSchema:
    """One array: numpy ``dtype`` name and ``shape`` with ``-1`` for free axes."""

    dtype: str
    shape: tuple[int, ...]


Schema = ColumnSchema | TensorSchema


@dataclass(frozen=True, slots=True, kw_only=True)
class Signature:
    inputs: Schema
    outputs: Schema | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": _schema_to_dict(self.inputs),
            "outputs": None if self.outputs is None else _schema_to_dict(self.outputs),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        """Parse the stored form; raises ValueError on anything malformed."""
        if not isinstance(data, Mapping) or "inputs" not in data:
            raise ValueError("a signature is an object with 'inputs'")
        outputs = data.get("outputs")
        return cls(
            inputs=_schema_from_dict(data["inputs"]),
            outputs=None if outputs is None else _schema_from_dict(outputs),
        )


def _schema_to_dict(schema: Schema) -> dict[str, Any]:
    if isinstance(schema, ColumnSchema):
        return {
            "type": "columns",
            "columns": [{"name": c.name, "dtype": c.dtype} for c in schema.columns],
        }
    return {"type": "tensor", "dtype": schema.dtype, "shape": list(schema.shape)}


def _schema_from_dict(data: object) -> Schema:
    if not isinstance(data, Mapping):
        raise ValueError("a schema is an object")
    kind = data.get("type")
    if kind == "columns":
        cols = data.get("columns")
        if not isinstance(cols, list) or len(cols) > MAX_COLUMNS:
            raise ValueError("schema.columns must be a list")
        specs: list[ColumnSpec] = []
        for col in cols:
            if not isinstance(col, Mapping):
                raise ValueError("each column is an object with name and dtype")
            name, dtype = col.get("name"), col.get("dtype")
            if not isinstance(name, str) or not isinstance(dtype, str):
                raise ValueError("each column needs a string name and dtype")
            specs.append(ColumnSpec(name=name, dtype=dtype))
        return ColumnSchema(columns=tuple(specs))
    if kind == "tensor":
        dtype, shape = data.get("dtype"), data.get("shape")
        if not isinstance(dtype, str) or not isinstance(shape, list):
            raise ValueError("a tensor schema needs a dtype and a shape")
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= -1 for n in shape):
            raise ValueError("a tensor shape holds integers >= -1")
        return TensorSchema(dtype=dtype, shape=tuple(shape))
    raise ValueError(f"unknown schema type {kind!r}")


# -- inference ----------------------------------------------------------------


def as_model_input(data: object) -> Any:
    """Lists become arrays and records (list of dicts, dict of lists) DataFrames;
    DataFrames and arrays pass through."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame | np.ndarray):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame() if data.name is not None else data.to_numpy()
    if isinstance(data, Mapping):
        return pd.DataFrame(dict(data))
    if isinstance(data, list | tuple):
        if data and all(isinstance(row, Mapping) for row in data):
            return pd.DataFrame(list(data))
        try:
            return np.asarray(data)
        except ValueError as exc:
            raise InvalidArgument(
                f"Model input is a list of mixed or ragged rows ({exc}); pass rows of one "
                "length, a numpy array or a DataFrame"
            ) from exc
    raise InvalidArgument(
        f"Model input must be a pandas DataFrame, a numpy array or a list, "
        f"got {type(data).__name__}"
    )


def infer_schema(data: object) -> Schema:
    """The schema of ``data`` (see :func:`as_model_input` for what is accepted)."""
    import numpy as np
    import pandas as pd

    value = as_model_input(data)
    if isinstance(value, pd.DataFrame):
        if value.columns.size > MAX_COLUMNS:
            raise InvalidArgument(f"Input example has more than {MAX_COLUMNS} columns")
        return ColumnSchema(
            columns=tuple(
                ColumnSpec(name=str(name), dtype=str(dtype)) for name, dtype in value.dtypes.items()
            )
        )
    arr = np.asarray(value)
    if arr.dtype == object:
        raise InvalidArgument(
            "Cannot infer a signature from an example of mixed or ragged values; "
            "pass a DataFrame (one dtype per column) or a regular numeric array"
        )
    return TensorSchema(dtype=str(arr.dtype), shape=(-1, *arr.shape[1:]) if arr.ndim else ())


def infer_signature(input_example: object, output: object | None = None) -> Signature:
    """Signature of a model that returned ``output`` for ``input_example``.

    >>> import numpy as np
    >>> infer_signature(np.zeros((2, 3)), np.zeros(2)).to_dict()["inputs"]
    {'type': 'tensor', 'dtype': 'float64', 'shape': [-1, 3]}
    """
    return Signature(
        inputs=infer_schema(input_example),
        outputs=None if output is None else infer_schema(output),
    )


# -- enforcement ----------------------------------------------------------------


def _kind(dtype: object) -> str:
    """A coarse kind for compatibility checks: float, int, bool, string, datetime or other."""
    import pandas as pd
    from pandas.api import types as pt

    try:
        dt = pd.api.types.pandas_dtype(dtype)
    except (TypeError, ValueError):
        return "other"
    if pt.is_bool_dtype(dt):
        return "bool"
    if pt.is_integer_dtype(dt):
        return "int"
    if pt.is_float_dtype(dt):
        return "float"
    if pt.is_datetime64_any_dtype(dt):
        return "datetime"
    if isinstance(dt, pd.CategoricalDtype):
        return "other"
    if pt.is_string_dtype(dt):
        return "string"
    return "other"


#: expected kind -> kinds of data accepted for it
_ACCEPTS = {
    "float": {"float", "int", "bool"},
    "int": {"int", "bool"},
    "bool": {"bool"},
    "string": {"string"},
    "datetime": {"datetime"},
}


def prepare_input(signature: Signature | None, data: object) -> Any:
    """``data`` checked against ``signature.inputs`` and shaped as the model expects.

    Column signatures get a DataFrame with exactly the signature's columns, in
    its order (extra columns are dropped); a 2-D array or list of rows of the
    right width gets the signature's column names. Tensor signatures get a
    numpy array cast to the signature's dtype.
    """
    if signature is not None and isinstance(signature.inputs, ColumnSchema):
        rows = _rows_as_frame(signature.inputs, data)
        return _prepare_columns(signature.inputs, as_model_input(data) if rows is None else rows)
    value = as_model_input(data)
    if signature is None or not isinstance(signature.inputs, TensorSchema):
        return value
    return _prepare_tensor(signature.inputs, value)


def _rows_as_frame(schema: ColumnSchema, data: object) -> Any:
    """A list of rows (not records) as a DataFrame with the signature's names, so each
    column gets its own dtype; None for any other input."""
    import pandas as pd

    if not isinstance(data, list | tuple) or not data:
        return None
    if any(isinstance(row, Mapping) or not isinstance(row, list | tuple) for row in data):
        return None
    width = len(schema.columns)
    for i, row in enumerate(data):
        if len(row) != width:
            raise InvalidArgument(
                f"Input row {i} has {len(row)} values, but the model's signature expects "
                f"{width} columns ({', '.join(repr(n) for n in schema.names[:20])})"
            )
    return pd.DataFrame([list(row) for row in data], columns=schema.names)


def _prepare_columns(schema: ColumnSchema, value: Any) -> Any:
    import numpy as np
    import pandas as pd

    names = schema.names
    if isinstance(value, np.ndarray):
        if value.ndim != 2 or value.shape[1] != len(names):
            shown = ", ".join(repr(n) for n in names[:20])
            raise InvalidArgument(
                f"Input array has shape {value.shape}, but the model's signature expects "
                f"{len(names)} columns ({shown}{', ...' if len(names) > 20 else ''}): pass a "
                "DataFrame with those columns or rows of that width"
            )
        value = pd.DataFrame(value, columns=names)
    frame: pd.DataFrame = value
    present = {str(c) for c in frame.columns}
    missing = [n for n in names if n not in present]
    if missing:
        raise InvalidArgument(
            "Input is missing column(s) "
            + ", ".join(repr(n) for n in missing)
            + " required by the model's signature (expected "
            + ", ".join(repr(n) for n in names)
            + ")"
        )
    if any(not isinstance(c, str) for c in frame.columns):
        frame = frame.rename(columns=str)
    for spec in schema.columns:
        want = _kind(spec.dtype)
        have = _kind(frame[spec.name].dtype)
        if want in _ACCEPTS and have not in _ACCEPTS[want]:
            raise InvalidArgument(
                f"Column {spec.name!r} has dtype {frame[spec.name].dtype}, but the model's "
                f"signature expects {spec.dtype}"
            )
    return frame[names] if list(frame.columns) != names else frame


def _prepare_tensor(schema: TensorSchema, value: Any) -> Any:
    import numpy as np
    import pandas as pd

    arr = value.to_numpy() if isinstance(value, pd.DataFrame) else np.asarray(value)
    want_shape = schema.shape
    if arr.ndim != len(want_shape) or any(
        w not in (-1, h) for w, h in zip(want_shape, arr.shape, strict=True)
    ):
        shown = tuple("*" if n == -1 else n for n in want_shape)
        raise InvalidArgument(
            f"Input has shape {arr.shape}, but the model's signature expects {shown} "
            "(* is any size)"
        )
    try:
        want = np.dtype(schema.dtype)
    except TypeError:
        return arr
    if arr.dtype != want:
        if not np.can_cast(arr.dtype, want, casting="same_kind"):
            raise InvalidArgument(
                f"Input has dtype {arr.dtype}, but the model's signature expects {want}"
            )
        arr = arr.astype(want)
    return arr
