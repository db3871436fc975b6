"""The wire protocols of the model server, without a web library.

Requests are decoded in two steps, because which version answers (and so
which signature applies) may depend on the body (an A/B ``key``):

1. :func:`decode_mlflow` / :func:`decode_oip` turn bytes and a content type
   into a :class:`Payload`: the rows, records or columns the caller sent,
   plus the A/B key or the OIP request id. Malformed bodies raise
   :class:`~moorline.errors.InvalidArgument`; unsupported content types
   raise :class:`UnsupportedMediaType` (415).
2. :func:`to_model_input` checks a payload against a version's
   :class:`InputSpec` (compiled once from its signature) and builds the
   model input: one ndarray (a tensor, or rows of columns sharing a dtype)
   or a dict of 1-D column arrays. Width, dtype kind and missing columns are
   checked here, cheaply, so a mistake is a 400 naming it and never a 500
   from inside a model.

:func:`InputSpec.prepare` turns a (batched) model input into what the
model takes (a DataFrame with the signature's columns when it wants one);
it runs in the predict thread. Responses are encoded with orjson:
:func:`encode_oip`, :func:`encode_mlflow`, :func:`encode_deployment`.

>>> from moorline.models.signature import Signature, TensorSchema
>>> spec = InputSpec.from_signature(Signature(inputs=TensorSchema(dtype="float64", shape=(-1, 2))))
>>> payload = decode_mlflow(b'{"inputs": [[1, 2], [3, 4]]}', "application/json")
>>> data, rows = to_model_input(payload, spec)
>>> data.dtype, data.shape, rows
(dtype('float64'), (2, 2), 2)
>>> encode_mlflow(data[:, 0])
b'{"predictions":[1.0,3.0]}'
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import numpy as np
import orjson

from moorline.errors import ErrorCode, InvalidArgument
from moorline.models.signature import ColumnSchema, Signature, TensorSchema

if TYPE_CHECKING:
    import pandas as pd

#: What a model input is between parsing and predicting: one array whose first
#: axis is the rows, or named 1-D column arrays of equal length.
ModelInput: TypeAlias = "np.ndarray[Any, Any] | dict[str, np.ndarray[Any, Any]]"

JSON_TYPES: Final = ("application/json",)
CSV_TYPES: Final = ("text/csv",)
PARQUET_TYPES: Final = ("application/vnd.apache.parquet", "application/x-parquet")
MLFLOW_KEYS: Final = ("dataframe_split", "dataframe_records", "instances", "inputs")
#: numpy dtype -> Open Inference Protocol datatype
_OIP_OF_NUMPY: Final = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
}
_NUMPY_OF_OIP: Final = {v: k for k, v in _OIP_OF_NUMPY.items()}
_NUMPY_OPTS: Final = orjson.OPT_SERIALIZE_NUMPY


class UnsupportedMediaType(InvalidArgument):
    """The body's content type is not one the endpoint reads (HTTP 415)."""

    code = ErrorCode.BAD_REQUEST
    status = 415


class Kind(StrEnum):
    """A coarse kind of values, for the compatibility check of the hot path."""

    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    STRING = "string"
    DATETIME = "datetime"
    OTHER = "other"


#: expected kind -> kinds of data accepted for it (as moorline.models.signature does)
_ACCEPTS: Final = {
    Kind.FLOAT: frozenset({Kind.FLOAT, Kind.INT, Kind.BOOL}),
    Kind.INT: frozenset({Kind.INT, Kind.BOOL}),
    Kind.BOOL: frozenset({Kind.BOOL}),
    Kind.STRING: frozenset({Kind.STRING}),
    Kind.DATETIME: frozenset({Kind.DATETIME, Kind.STRING}),
}
_NUMPY_KIND: Final = {
    "f": Kind.FLOAT,
    "i": Kind.INT,
    "u": Kind.INT,
    "b": Kind.BOOL,
    "U": Kind.STRING,
    "S": Kind.STRING,
    "M": Kind.DATETIME,
}


def _kind_of_array(arr: np.ndarray[Any, Any]) -> Kind:
    kind = _NUMPY_KIND.get(arr.dtype.kind)
    if kind is not None:
        return kind
    if arr.dtype == object and arr.size and all(isinstance(v, str) for v in arr.flat):
        return Kind.STRING
    return Kind.OTHER


def _kind_of_dtype(name: str) -> tuple[Kind, np.dtype[Any] | None]:
    """The kind of a signature dtype name and the numpy dtype to cast to (None: leave)."""
    try:
        dt = np.dtype(name)
    except TypeError:
        dt = None
    if dt is not None and dt.kind in "fiub":
        return _NUMPY_KIND[dt.kind], dt
    if dt is not None and dt.kind == "M":
        return Kind.DATETIME, dt
    lowered = name.lower()
    if lowered in ("str", "string", "object") or lowered.startswith("string"):
        return Kind.STRING, None
    if lowered.startswith("datetime64"):
        return Kind.DATETIME, np.dtype("datetime64[ns]")
    if lowered == "boolean":
        return Kind.BOOL, np.dtype(bool)
    if lowered.startswith(("int", "uint")) and lowered[0] in "iu":  # pandas' Int64, UInt8
        return Kind.INT, np.dtype("int64")
    if lowered.startswith("float"):
        return Kind.FLOAT, np.dtype("float64")
    return Kind.OTHER, None


# -- what a version takes ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InputSpec:
    """A version's input signature, compiled for the hot path.

    ``kind`` is ``tensor``, ``columns`` or ``any`` (no signature). For column
    signatures whose columns share one numeric dtype, ``uniform`` is True and
    inputs travel as one 2-D array until the predict thread names them.
    """

    kind: str
    dtype: np.dtype[Any] | None = None
    shape: tuple[int, ...] = ()
    names: tuple[str, ...] = ()
    kinds: tuple[Kind, ...] = ()
    dtypes: tuple[np.dtype[Any] | None, ...] = ()
    uniform: bool = False

    @classmethod
    def from_signature(cls, signature: Signature | None) -> InputSpec:
        """Compile ``signature.inputs`` (None: accept any regular input).

        >>> from moorline.models.signature import ColumnSpec
        >>> cols = ColumnSchema(columns=(ColumnSpec(name="a", dtype="float64"),
        ...                              ColumnSpec(name="b", dtype="int64")))
        >>> spec = InputSpec.from_signature(Signature(inputs=cols))
        >>> spec.kind, spec.names, spec.uniform
        ('columns', ('a', 'b'), False)
        """
        if signature is None:
            return cls(kind="any")
        schema = signature.inputs
        if isinstance(schema, TensorSchema):
            kind, dt = _kind_of_dtype(schema.dtype)
            return cls(kind="tensor", dtype=dt, shape=schema.shape, kinds=(kind,))
        assert isinstance(schema, ColumnSchema)
        compiled = [_kind_of_dtype(c.dtype) for c in schema.columns]
        kinds = tuple(k for k, _ in compiled)
        dtypes = tuple(d for _, d in compiled)
        first = dtypes[0] if dtypes else None
        uniform = (
            first is not None
            and first.kind in "fiub"
            and all(d is not None and d == first for d in dtypes)
        )
        return cls(
            kind="columns",
            dtype=first if uniform else None,
            names=tuple(schema.names),
            kinds=kinds,
            dtypes=dtypes,
            uniform=uniform,
        )

    @property
    def width(self) -> int:
        return len(self.names)

    def zeros(self, rows: int = 1) -> ModelInput:
        """A neutral input of ``rows`` rows (for warming a model up).

        >>> InputSpec(kind="tensor", dtype=np.dtype("float32"), shape=(-1, 3)).zeros().shape
        (1, 3)
        """
        if self.kind == "tensor":
            shape = tuple(
                rows if i == 0 and n == -1 else max(n, 1) for i, n in enumerate(self.shape)
            )
            return np.zeros(shape or (rows,), dtype=self.dtype or np.float64)
        if self.kind == "columns":
            if self.uniform:
                return np.zeros((rows, self.width), dtype=self.dtype)
            cols: dict[str, np.ndarray[Any, Any]] = {}
            for name, kind, dt in zip(self.names, self.kinds, self.dtypes, strict=True):
                if kind is Kind.STRING or kind is Kind.OTHER:
                    cols[name] = np.array([""] * rows, dtype=object)
                else:
                    cols[name] = np.zeros(rows, dtype=dt or np.float64)
            return cols
        return np.zeros((rows, 1))

    def prepare(self, data: ModelInput) -> Any:
        """What the model takes: a DataFrame for named columns, else the array.

        Runs in the predict thread, once per batch (pandas stays off the event loop).
        """
        if self.kind == "columns":
            import pandas as pd

            if isinstance(data, np.ndarray):
                return pd.DataFrame(data, columns=list(self.names), copy=False)
            return pd.DataFrame(data, copy=False)
        if isinstance(data, dict):
            import pandas as pd

            return pd.DataFrame(data, copy=False)
        return data


# -- decoded requests -------------------------------------------------------------------


class Form(StrEnum):
    ROWS = "rows"  # list of positional rows (or a tensor)
    RECORDS = "records"  # list of {column: value}
    COLUMNS = "columns"  # {column: [values]}
    SPLIT = "split"  # rows with column names
    FRAME = "frame"  # a DataFrame (CSV, parquet)
    OIP = "oip"  # Open Inference Protocol inputs


@dataclass(slots=True)
class Payload:
    """A request body decoded, before any model's signature is applied.

    ``key``: the A/B key from a deployment request's body. ``request_id``:
    the OIP request ``id`` (echoed in the response).
    """

    form: Form
    value: Any
    columns: list[str] | None = None
    key: str | None = None
    request_id: str | None = None


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _loads(body: bytes) -> Any:
    if not body:
        raise InvalidArgument("The request body is empty: send a JSON document")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"Malformed JSON in the request body: {exc}") from None


def decode_mlflow(body: bytes, content_type: str | None, *, allow_key: bool = False) -> Payload:
    """Decode an MLflow scoring request (``/invocations``), or moorline's deployment
    request when ``allow_key`` (the MLflow forms plus an optional ``"key"``).

    >>> decode_mlflow(b'{"dataframe_records": [{"a": 1}]}', "application/json").form
    <Form.RECORDS: 'records'>
    >>> decode_mlflow(b'{"inputs": [[1]], "extra": 1}', "application/json")
    Traceback (most recent call last):
    ...
    moorline.errors.InvalidArgument: Unknown field(s) 'extra' in the request: ...
    """
    media = _media_type(content_type)
    if media in CSV_TYPES:
        return Payload(form=Form.FRAME, value=_read_csv(body))
    if media in PARQUET_TYPES:
        return Payload(form=Form.FRAME, value=_read_parquet(body))
    if media not in JSON_TYPES and not media.endswith("+json"):
        accepted = ", ".join((*JSON_TYPES, *CSV_TYPES, PARQUET_TYPES[0]))
        raise UnsupportedMediaType(
            f"Unsupported content type {content_type or '(none)'!r}: send one of {accepted}"
        )
    doc = _loads(body)
    if not isinstance(doc, dict):
        raise InvalidArgument(
            "The request must be a JSON object with exactly one of "
            + ", ".join(repr(k) for k in MLFLOW_KEYS)
        )
    allowed = {*MLFLOW_KEYS, "params", *(("key",) if allow_key else ())}
    unknown = [k for k in doc if k not in allowed]
    if unknown:
        raise InvalidArgument(
            f"Unknown field(s) {', '.join(repr(k) for k in unknown)} in the request: use one of "
            + ", ".join(repr(k) for k in MLFLOW_KEYS)
            + (", with optional 'params'" + (" and 'key'" if allow_key else ""))
        )
    present = [k for k in MLFLOW_KEYS if k in doc]
    if len(present) != 1:
        raise InvalidArgument(
            "The request must have exactly one of "
            + ", ".join(repr(k) for k in MLFLOW_KEYS)
            + (f", it has {', '.join(repr(k) for k in present)}" if present else "")
        )
    key = None
    if allow_key and doc.get("key") is not None:
        raw = doc["key"]
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise InvalidArgument("'key' (the A/B routing key) must be a string or an integer")
        key = str(raw)
    params = doc.get("params")
    if params is not None and not isinstance(params, dict):
        raise InvalidArgument("'params' must be an object")
    field = present[0]
    value = doc[field]
    if field == "dataframe_split":
        if not isinstance(value, dict) or "data" not in value:
            raise InvalidArgument("'dataframe_split' is an object with 'data' (and 'columns')")
        data, columns = value["data"], value.get("columns")
        if not isinstance(data, list):
            raise InvalidArgument("'dataframe_split.data' must be a list of rows")
        if columns is None:
            return Payload(form=Form.ROWS, value=data, key=key)
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise InvalidArgument("'dataframe_split.columns' must be a list of column names")
        return Payload(form=Form.SPLIT, value=data, columns=columns, key=key)
    if field == "dataframe_records":
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise InvalidArgument("'dataframe_records' must be a list of objects (one per row)")
        return Payload(form=Form.RECORDS, value=value, key=key)
    # instances and inputs: rows, records or columns
    if isinstance(value, dict):
        return Payload(form=Form.COLUMNS, value=value, key=key)
    if not isinstance(value, list):
        raise InvalidArgument(f"{field!r} must be a list of rows or an object of columns")
    if value and isinstance(value[0], dict):
        if not all(isinstance(r, dict) for r in value):
            raise InvalidArgument(f"{field!r} mixes objects and rows")
        return Payload(form=Form.RECORDS, value=value, key=key)
    return Payload(form=Form.ROWS, value=value, key=key)


def _read_csv(body: bytes) -> pd.DataFrame:
    import pandas as pd

    if not body.strip():
        raise InvalidArgument("The CSV body is empty: send a header row and data rows")
    try:
        return pd.read_csv(io.BytesIO(body))
    except (ValueError, pd.errors.ParserError) as exc:
        raise InvalidArgument(f"Malformed CSV in the request body: {exc}") from None


def _read_parquet(body: bytes) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_parquet(io.BytesIO(body))
    except Exception as exc:
        raise InvalidArgument(f"Unreadable parquet body: {type(exc).__name__}: {exc}") from None


@dataclass(frozen=True, slots=True)
class OipTensor:
    name: str
    array: np.ndarray[Any, Any]


def decode_oip(body: bytes, content_type: str | None) -> Payload:
    """Decode an Open Inference Protocol v2 infer request.

    Each input's ``data`` (flat or nested, row-major) is read into an array of
    its ``datatype`` and reshaped to its ``shape``.

    >>> p = decode_oip(b'{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", '
    ...                b'"data": [1, 2]}]}', "application/json")
    >>> p.value[0].array
    array([[1., 2.]], dtype=float32)
    """
    media = _media_type(content_type)
    if media and media not in JSON_TYPES and not media.endswith("+json"):
        raise UnsupportedMediaType(
            f"Unsupported content type {content_type!r}: an inference request is application/json"
        )
    doc = _loads(body)
    if not isinstance(doc, dict):
        raise InvalidArgument("An inference request is a JSON object with 'inputs'")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidArgument("An inference request needs 'inputs': a non-empty list of tensors")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidArgument("The request 'id' must be a string")
    tensors: list[OipTensor] = []
    seen: set[str] = set()
    for i, spec in enumerate(inputs):
        if not isinstance(spec, dict):
            raise InvalidArgument(f"inputs[{i}] must be an object with name, shape, datatype, data")
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"inputs[{i}] needs a 'name'")
        if name in seen:
            raise InvalidArgument(f"Input {name!r} appears twice")
        seen.add(name)
        tensors.append(_oip_tensor(name, spec))
    return Payload(form=Form.OIP, value=tensors, request_id=request_id)


def _oip_tensor(name: str, spec: Mapping[str, Any]) -> OipTensor:
    shape, datatype, data = spec.get("shape"), spec.get("datatype"), spec.get("data")
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise InvalidArgument(f"Input {name!r}: 'shape' must be a list of sizes (integers >= 0)")
    if not isinstance(datatype, str) or (datatype not in _NUMPY_OF_OIP and datatype != "BYTES"):
        raise InvalidArgument(
            f"Input {name!r}: unknown datatype {datatype!r}: use one of "
            f"{', '.join([*_NUMPY_OF_OIP, 'BYTES'])}"
        )
    if not isinstance(data, list):
        raise InvalidArgument(f"Input {name!r}: 'data' must be a list (flat or nested)")
    raw = _asarray(data, f"Input {name!r}")
    if datatype == "BYTES":
        arr = raw.astype(object) if raw.dtype.kind in "US" else raw
        if _kind_of_array(arr) not in (Kind.STRING,) and arr.size:
            raise InvalidArgument(f"Input {name!r} is BYTES but its data are not strings")
    else:
        target = np.dtype(_NUMPY_OF_OIP[datatype])
        have = _kind_of_array(raw) if raw.size else _NUMPY_KIND[target.kind]
        want = _NUMPY_KIND[target.kind]
        if have not in _ACCEPTS.get(want, frozenset({want})):
            raise InvalidArgument(
                f"Input {name!r} is {datatype} but its data are {have.value} values"
            )
        arr = raw.astype(target, copy=False)
    expected = math.prod(shape)
    if arr.size != expected:
        raise InvalidArgument(
            f"Input {name!r} has shape {shape} ({expected} values) but its data has {arr.size}"
        )
    return OipTensor(name=name, array=arr.reshape(shape))


def _asarray(value: Any, what: str) -> np.ndarray[Any, Any]:
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"{what} has ragged or mixed rows: {exc}") from None
    if arr.dtype == object and arr.ndim > 1:
        raise InvalidArgument(f"{what} has values that are not scalars")
    return arr


# -- applying a signature ---------------------------------------------------------------


def to_model_input(payload: Payload, spec: InputSpec) -> tuple[ModelInput, int]:
    """Check ``payload`` against ``spec``; the model input and its number of rows.

    >>> from moorline.models.signature import ColumnSpec
    >>> cols = (ColumnSpec(name="a", dtype="float64"), ColumnSpec(name="b", dtype="float64"))
    >>> spec = InputSpec.from_signature(Signature(inputs=ColumnSchema(columns=cols)))
    >>> payload = decode_mlflow(b'{"dataframe_records": [{"a": 1}]}', "application/json")
    >>> to_model_input(payload, spec)
    Traceback (most recent call last):
    ...
    moorline.errors.InvalidArgument: Input row 0 is missing column(s) 'b' required by the ...
    """
    form = payload.form
    value = payload.value
    if form is Form.ROWS:
        data = _from_rows(value, spec)
    elif form is Form.RECORDS:
        data = _from_records(value, spec)
    elif form is Form.COLUMNS:
        data = _from_columns(value, spec)
    elif form is Form.SPLIT:
        assert payload.columns is not None
        data = _from_split(value, payload.columns, spec)
    elif form is Form.FRAME:
        data = _from_frame(value, spec)
    else:
        data = _from_oip(value, spec)
    rows = _rows(data)
    if rows == 0:
        raise InvalidArgument("The request has no rows to predict")
    return data, rows


def _rows(data: ModelInput) -> int:
    if isinstance(data, np.ndarray):
        return int(data.shape[0]) if data.ndim else 1
    return len(next(iter(data.values()))) if data else 0


def _from_rows(rows: Any, spec: InputSpec) -> ModelInput:
    if not isinstance(rows, list):
        raise InvalidArgument("Rows must be a list")
    if spec.kind == "columns":
        width = spec.width
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != width:
                got = f"{len(row)} values" if isinstance(row, list) else "not a list"
                raise InvalidArgument(
                    f"Input row {i} has {got}, but the model's signature expects {width} "
                    f"columns ({_shown(spec.names)})"
                )
        if spec.uniform:
            return _cast_tensor(_asarray(rows, "Input"), spec, "Input", named=True)
        columns = list(zip(*rows, strict=True)) if rows else [()] * width
        return {
            name: _column(list(col), name, kind, dt)
            for name, col, kind, dt in zip(
                spec.names, columns, spec.kinds, spec.dtypes, strict=True
            )
        }
    arr = _asarray(rows, "Input")
    if spec.kind == "tensor":
        return _cast_tensor(arr, spec, "Input")
    if arr.dtype == object:
        raise InvalidArgument("Input values must be numbers, booleans or strings")
    return arr


def _cast_tensor(
    arr: np.ndarray[Any, Any], spec: InputSpec, what: str, *, named: bool = False
) -> np.ndarray[Any, Any]:
    if named:
        want_shape: tuple[int, ...] = (-1, spec.width)
    else:
        want_shape = spec.shape
    if arr.ndim != len(want_shape) or any(
        w not in (-1, h) for w, h in zip(want_shape, arr.shape, strict=True)
    ):
        if named:
            raise InvalidArgument(
                f"{what} has shape {arr.shape}, but the model's signature expects rows of "
                f"{spec.width} columns ({_shown(spec.names)})"
            )
        shown = ", ".join("*" if n == -1 else str(n) for n in want_shape)
        raise InvalidArgument(
            f"{what} has shape {arr.shape}, but the model's signature expects ({shown}) "
            "(* is any size)"
        )
    if spec.dtype is None:
        return arr
    if arr.dtype == spec.dtype:
        return arr
    want = spec.kinds[0] if not named else _NUMPY_KIND[spec.dtype.kind]
    have = _kind_of_array(arr)
    if arr.dtype == object and want in (Kind.FLOAT,):
        # nulls among numbers: NaN for a float input
        try:
            return arr.astype(spec.dtype)
        except (TypeError, ValueError):
            pass
    if have not in _ACCEPTS.get(want, frozenset({want})):
        raise InvalidArgument(
            f"{what} has {have.value} values, but the model's signature expects {spec.dtype}"
        )
    return arr.astype(spec.dtype)


def _column(
    values: list[Any], name: str, kind: Kind, dtype: np.dtype[Any] | None
) -> np.ndarray[Any, Any]:
    if kind is Kind.STRING or kind is Kind.OTHER:
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        if kind is Kind.STRING and not all(isinstance(v, str) or v is None for v in values):
            bad = next(v for v in values if not (isinstance(v, str) or v is None))
            raise InvalidArgument(
                f"Column {name!r} has a {type(bad).__name__} value ({bad!r}), but the model's "
                "signature expects strings"
            )
        return arr
    arr = _asarray(values, f"Column {name!r}")
    if arr.ndim != 1:
        raise InvalidArgument(f"Column {name!r} must hold one scalar per row")
    if dtype is None or arr.dtype == dtype:
        return arr
    if kind is Kind.DATETIME:
        try:
            return arr.astype(dtype)
        except (TypeError, ValueError):
            raise InvalidArgument(f"Column {name!r} holds values that are not dates") from None
    have = _kind_of_array(arr)
    if arr.dtype == object and kind is Kind.FLOAT:
        try:
            return arr.astype(dtype)
        except (TypeError, ValueError):
            pass
    if have not in _ACCEPTS.get(kind, frozenset({kind})):
        raise InvalidArgument(
            f"Column {name!r} has {have.value} values, but the model's signature expects {dtype}"
        )
    return arr.astype(dtype)


def _missing(names: Sequence[str], present: Any) -> None:
    missing = [n for n in names if n not in present]
    if missing:
        raise InvalidArgument(
            "Input is missing column(s) "
            + ", ".join(repr(n) for n in missing)
            + f" required by the model's signature (expected {_shown(names)})"
        )


def _shown(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:20])
    return shown + (", ..." if len(names) > 20 else "")


def _named(columns: Mapping[str, list[Any]], spec: InputSpec) -> ModelInput:
    """Named column value lists (all of the signature's present) -> model input."""
    if spec.kind == "columns":
        _missing(spec.names, columns)
        if spec.uniform:
            cols = [
                _column(columns[n], n, k, spec.dtype)
                for n, k in zip(spec.names, spec.kinds, strict=True)
            ]
            _same_length(cols, spec.names)
            return np.column_stack(cols) if cols else np.empty((0, 0))
        out = {
            n: _column(columns[n], n, k, dt)
            for n, k, dt in zip(spec.names, spec.kinds, spec.dtypes, strict=True)
        }
        _same_length(list(out.values()), spec.names)
        return out
    if spec.kind == "tensor":
        # a tensor model given named columns: the columns in the order sent
        cols = [_asarray(v, f"Column {n!r}") for n, v in columns.items()]
        _same_length(cols, list(columns))
        arr = np.column_stack(cols) if cols else np.empty((0, 0))
        return _cast_tensor(arr, spec, "Input")
    out = {
        str(n): _column(list(v), str(n), Kind.OTHER if _is_text(v) else Kind.FLOAT, None)
        for n, v in columns.items()
    }
    _same_length(list(out.values()), list(out))
    return out


def _is_text(values: Sequence[Any]) -> bool:
    return any(isinstance(v, str) for v in values)


def _same_length(cols: Sequence[np.ndarray[Any, Any]], names: Sequence[str]) -> None:
    if cols and any(len(c) != len(cols[0]) for c in cols):
        lengths = ", ".join(f"{n!r}: {len(c)}" for n, c in zip(names, cols, strict=True))
        raise InvalidArgument(f"Columns have different lengths ({lengths})")


def _from_records(records: list[dict[str, Any]], spec: InputSpec) -> ModelInput:
    names: Sequence[str]
    if spec.kind == "columns":
        names = spec.names
        for i, record in enumerate(records):
            absent = [n for n in names if n not in record]
            if absent:
                raise InvalidArgument(
                    f"Input row {i} is missing column(s) "
                    + ", ".join(repr(n) for n in absent)
                    + f" required by the model's signature (expected {_shown(names)})"
                )
    else:
        names = list(records[0]) if records else []
        for i, record in enumerate(records):
            if list(record) != list(names) and set(record) != set(names):
                raise InvalidArgument(f"Input row {i} has other columns than row 0")
    return _named({n: [r[n] for r in records] for n in names}, spec)


def _from_columns(columns: dict[str, Any], spec: InputSpec) -> ModelInput:
    if spec.kind == "tensor" and len(columns) == 1:
        ((name, value),) = columns.items()
        return _cast_tensor(_asarray(value, f"Input {name!r}"), spec, f"Input {name!r}")
    for name, values in columns.items():
        if not isinstance(values, list):
            raise InvalidArgument(f"Column {name!r} must be a list of values")
    return _named(columns, spec)


def _from_split(rows: list[Any], columns: list[str], spec: InputSpec) -> ModelInput:
    width = len(columns)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise InvalidArgument(
                f"dataframe_split row {i} does not have {width} values (one per column)"
            )
    if spec.kind == "columns" and list(columns) == list(spec.names):
        return _from_rows(rows, spec)
    if len(set(columns)) != width:
        raise InvalidArgument("dataframe_split.columns has a name twice")
    transposed = list(zip(*rows, strict=True)) if rows else [()] * width
    return _named({c: list(v) for c, v in zip(columns, transposed, strict=True)}, spec)


def _from_frame(frame: pd.DataFrame, spec: InputSpec) -> ModelInput:
    if spec.kind == "columns":
        present = {str(c) for c in frame.columns}
        _missing(spec.names, present)
        frame = frame.rename(columns=str)
        return _named({n: frame[n].tolist() for n in spec.names}, spec)
    if spec.kind == "tensor":
        return _cast_tensor(frame.to_numpy(), spec, "Input")
    return _named({str(c): frame[c].tolist() for c in frame.columns}, spec)


def _from_oip(tensors: list[OipTensor], spec: InputSpec) -> ModelInput:
    if len(tensors) == 1:
        t = tensors[0]
        arr = t.array
        if spec.kind == "columns":
            if arr.ndim == 2 and arr.shape[1] == spec.width:
                if spec.uniform:
                    return _cast_tensor(arr, spec, f"Input {t.name!r}", named=True)
                return {
                    n: _column(arr[:, i].tolist(), n, k, dt)
                    for i, (n, k, dt) in enumerate(
                        zip(spec.names, spec.kinds, spec.dtypes, strict=True)
                    )
                }
            if spec.width == 1 and arr.ndim in (1, 2) and t.name == spec.names[0]:
                return _named({t.name: arr.reshape(-1).tolist()}, spec)
            raise InvalidArgument(
                f"Input {t.name!r} has shape {list(arr.shape)}, but the model's signature "
                f"expects rows of {spec.width} columns ({_shown(spec.names)}): send shape "
                f"[n, {spec.width}], or one 1-D input per column"
            )
        if spec.kind == "tensor":
            return _cast_tensor(arr, spec, f"Input {t.name!r}")
        return arr
    if spec.kind == "tensor":
        raise InvalidArgument(
            f"The model takes one tensor, the request has {len(tensors)} inputs "
            f"({', '.join(repr(t.name) for t in tensors)})"
        )
    columns: dict[str, list[Any]] = {}
    for t in tensors:
        if t.array.ndim == 2 and t.array.shape[1] == 1:
            flat = t.array[:, 0]
        elif t.array.ndim == 1:
            flat = t.array
        else:
            raise InvalidArgument(
                f"Input {t.name!r} has shape {list(t.array.shape)}: with several inputs, "
                "each is one column (shape [n] or [n, 1])"
            )
        columns[t.name] = flat.tolist()
    return _named(columns, spec)


# -- batching helpers -------------------------------------------------------------------


def compatible(a: ModelInput, b: ModelInput) -> bool:
    """Whether two inputs can be concatenated into one predict call."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape[1:] == b.shape[1:]
    if isinstance(b, np.ndarray) or a.keys() != b.keys():
        return False
    return all(a[k].dtype == b[k].dtype for k in a)


def concatenate(inputs: Sequence[ModelInput]) -> ModelInput:
    """One input holding ``inputs``' rows in order (they must be :func:`compatible`)."""
    if len(inputs) == 1:
        return inputs[0]
    first = inputs[0]
    if isinstance(first, np.ndarray):
        return np.concatenate(inputs)  # type: ignore[arg-type]
    return {k: np.concatenate([d[k] for d in inputs]) for k in first}


def count_rows(output: Any) -> int | None:
    """How many rows a model output holds (None: not row-shaped)."""
    if isinstance(output, np.ndarray):
        return int(output.shape[0]) if output.ndim else None
    if isinstance(output, list | tuple):
        return len(output)
    if isinstance(output, dict):
        lengths = {count_rows(v) for v in output.values()}
        return lengths.pop() if len(lengths) == 1 else None
    if hasattr(output, "iloc"):
        return len(output)
    return None


def take_rows(output: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of a model output."""
    if isinstance(output, dict):
        return {k: take_rows(v, start, stop) for k, v in output.items()}
    if hasattr(output, "iloc"):
        return output.iloc[start:stop]
    return output[start:stop]


# -- responses --------------------------------------------------------------------------


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "to_dict") and hasattr(obj, "columns"):
        return obj.to_dict(orient="records")
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def dumps(doc: Any) -> bytes:
    """orjson with numpy arrays and pandas objects."""
    return orjson.dumps(doc, default=_default, option=_NUMPY_OPTS)


def to_json_values(output: Any) -> Any:
    """A model output as plain JSON values (lists, records for frames)."""
    if isinstance(output, np.ndarray):
        return output.tolist()
    if isinstance(output, dict):
        return {str(k): to_json_values(v) for k, v in output.items()}
    if hasattr(output, "columns") and hasattr(output, "to_dict"):
        return output.to_dict(orient="records")
    if hasattr(output, "tolist"):
        return output.tolist()
    return output


def per_row(output: Any) -> list[Any]:
    """One JSON value per row (what the prediction log stores)."""
    if isinstance(output, np.ndarray):
        return output.tolist()  # type: ignore[no-any-return]
    if isinstance(output, dict):
        values = {str(k): to_json_values(v) for k, v in output.items()}
        n = count_rows(output) or 0
        return [{k: v[i] for k, v in values.items()} for i in range(n)]
    value = to_json_values(output)
    return list(value) if isinstance(value, list | tuple) else [value]


def input_rows(data: ModelInput) -> list[Any]:
    """A model input as a list of rows (what the prediction log stores)."""
    if isinstance(data, np.ndarray):
        return data.tolist()  # type: ignore[no-any-return]
    columns = [_plain(v) for v in data.values()]
    return [list(row) for row in zip(*columns, strict=True)]


def _plain(arr: np.ndarray[Any, Any]) -> list[Any]:
    if arr.dtype.kind == "M":
        return [str(v) for v in arr]
    return arr.tolist()  # type: ignore[no-any-return]


def encode_mlflow(output: Any) -> bytes:
    """MLflow's ``{"predictions": [...]}``."""
    if hasattr(output, "columns") and hasattr(output, "to_dict"):
        return dumps({"predictions": output.to_dict(orient="records")})
    return dumps({"predictions": output})


def encode_deployment(output: Any, *, deployment: str, version: int, prediction_id: str) -> bytes:
    """moorline's deployment answer: which version answered and the id for feedback."""
    predictions = (
        output.to_dict(orient="records")
        if hasattr(output, "columns") and hasattr(output, "to_dict")
        else output
    )
    return dumps(
        {
            "deployment": deployment,
            "model_version": version,
            "prediction_id": prediction_id,
            "predictions": predictions,
        }
    )


def oip_datatype(dtype: np.dtype[Any]) -> str:
    """The OIP datatype of a numpy dtype (strings and objects are BYTES).

    >>> oip_datatype(np.dtype("float64")), oip_datatype(np.dtype("<U3"))
    ('FP64', 'BYTES')
    """
    return _OIP_OF_NUMPY.get(dtype.name, "BYTES")


def _oip_output(name: str, value: Any) -> dict[str, Any]:
    if hasattr(value, "to_numpy"):
        value = value.to_numpy()
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    if arr.dtype == object and arr.size and all(isinstance(v, str) for v in arr.flat):
        datatype = "BYTES"
    else:
        datatype = oip_datatype(arr.dtype)
    shape = [int(arr.shape[0]), 1] if arr.ndim == 1 else [int(n) for n in arr.shape]
    data = np.ascontiguousarray(arr).reshape(-1)
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def encode_oip(
    output: Any, *, model_name: str, model_version: int, request_id: str | None = None
) -> bytes:
    """An OIP v2 infer response: one output per column of a frame or key of a dict,
    else one output named ``predict``."""
    if isinstance(output, dict):
        outputs = [_oip_output(str(k), v) for k, v in output.items()]
    elif hasattr(output, "columns") and hasattr(output, "to_dict"):
        outputs = [_oip_output(str(c), output[c]) for c in output.columns]
    else:
        outputs = [_oip_output("predict", output)]
    doc: dict[str, Any] = {
        "model_name": model_name,
        "model_version": str(model_version),
        "outputs": outputs,
    }
    if request_id is not None:
        doc["id"] = request_id
    return dumps(doc)


def oip_tensor_metadata(spec: InputSpec) -> list[dict[str, Any]]:
    """The ``inputs`` of an OIP model metadata answer."""
    if spec.kind == "tensor":
        return [
            {
                "name": "input",
                "datatype": oip_datatype(spec.dtype) if spec.dtype is not None else "BYTES",
                "shape": list(spec.shape),
            }
        ]
    if spec.kind == "columns":
        return [
            {
                "name": n,
                "datatype": oip_datatype(dt) if dt is not None else "BYTES",
                "shape": [-1],
            }
            for n, dt in zip(spec.names, spec.dtypes, strict=True)
        ]
    return []
