"""MLflow's JSON wire format: reading requests and writing the tracking records.

MLflow's client speaks protobuf-JSON (``mlflow/protos``): snake_case field
names (lowerCamelCase accepted too), int64 as JSON numbers or decimal strings,
doubles with ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` as strings, enums
by name or number, unset optional fields omitted. This module holds that
format in one place, in both directions:

* :class:`Message` describes a request message (its fields, their kinds, the
  required ones) and :meth:`Message.read` turns a decoded JSON object (or a
  query string's values) into a plain dict of checked Python values, raising
  :class:`~moorline.errors.InvalidArgument` that names the offending field.
* ``*_json`` functions turn domain records into the dicts MLflow's client
  parses. They build dicts directly (no schema library) because they run for
  every row of every search and history read.

>>> LOG = Message("LogParam", string("run_id"), string("key", required=True), string("value"))
>>> LOG.read({"runId": "abc", "key": "lr", "value": "0.1"})
{'run_id': 'abc', 'key': 'lr', 'value': '0.1'}
>>> LOG.read({"run_id": "abc", "value": "0.1"})
Traceback (most recent call last):
...
moorline.errors.InvalidArgument: Missing value for required parameter 'key'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from moorline.errors import InvalidArgument
from moorline.tracking.models import (
    DatasetInput,
    Experiment,
    LoggedModel,
    LoggedModelId,
    LoggedModelStatus,
    Metric,
    Param,
    Run,
    RunInfo,
    RunStatus,
    Tag,
    ViewType,
)

JsonDict = dict[str, Any]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

_SPECIAL_DOUBLES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class _FieldError(Exception):
    """A value that does not fit its field; ``path`` grows as the error climbs out.

    ``template`` is formatted with the full path and the problem at the top.
    """

    def __init__(
        self,
        path: str,
        problem: str,
        template: str = "Invalid value for parameter '{path}': {problem}",
    ) -> None:
        super().__init__(problem)
        self.path = path
        self.problem = problem
        self.template = template

    def message(self) -> str:
        if not self.path:
            return self.problem
        return self.template.format(path=self.path, problem=self.problem)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _type_name(value: object) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _mismatch(value: object, expected: str) -> _FieldError:
    return _FieldError("", f"expected {expected}, got {_type_name(value)} {_shown(value)}")


# -- scalar converters: value -> checked value, or _FieldError ----------------

Converter = Callable[[Any], Any]


def _to_string(value: Any) -> str:
    if type(value) is str:
        return value
    raise _mismatch(value, "a string")


def _integer(value: Any, low: int, high: int, what: str) -> int:
    kind = type(value)
    if kind is int:
        number: int = value
    elif kind is str:
        text = value.strip()
        digits = text[1:] if text[:1] in ("-", "+") else text
        if not (digits.isascii() and digits.isdigit()):
            raise _mismatch(value, what)
        number = int(text)
    elif kind is float and value.is_integer():
        number = int(value)
    else:
        raise _mismatch(value, what)
    if number < low or number > high:
        raise _FieldError("", f"{number} is out of range for {what}")
    return number


def _to_int64(value: Any) -> int:
    if type(value) is int and INT64_MIN <= value <= INT64_MAX:
        return value
    return _integer(value, INT64_MIN, INT64_MAX, "a 64-bit integer")


def _to_int32(value: Any) -> int:
    return _integer(value, INT32_MIN, INT32_MAX, "a 32-bit integer")


def _to_double(value: Any) -> float:
    kind = type(value)
    if kind is float:
        return value  # type: ignore[no-any-return]
    if kind is int:
        try:
            return float(value)
        except OverflowError:
            raise _FieldError("", f"{_shown(value)} is too large for a double") from None
    if kind is str:
        special = _SPECIAL_DOUBLES.get(value)
        if special is not None:
            return special
        try:
            return float(value)
        except ValueError:
            pass
    raise _mismatch(value, 'a number (or "NaN", "Infinity", "-Infinity")')


def _to_bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    if type(value) is str:
        lowered = value.lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
    raise _mismatch(value, "true or false")


def _enum_converter(names: Mapping[str, Any], numbers: Mapping[int, Any]) -> Converter:
    allowed = ", ".join(names)

    def convert(value: Any) -> Any:
        if type(value) is str:
            found = names.get(value)
            if found is None and value.lstrip("-").isdigit():
                found = numbers.get(int(value))
        elif type(value) is int:
            found = numbers.get(value)
        else:
            found = None
        if found is None:
            raise _FieldError("", f"{_shown(value)} is not one of {allowed}")
        return found

    return convert


class Field:
    """One field of a request message: its name, how to read it, whether required."""

    __slots__ = ("convert", "json_name", "message", "name", "repeated", "required")

    def __init__(
        self,
        name: str,
        convert: Converter,
        *,
        repeated: bool = False,
        required: bool = False,
        message: Message | None = None,
    ) -> None:
        self.name = name
        head, *rest = name.split("_")
        self.json_name = head + "".join(part.title() for part in rest)
        self.convert = convert
        self.repeated = repeated
        self.required = required
        self.message = message


def string(name: str, *, required: bool = False, repeated: bool = False) -> Field:
    """A string field (required strings must also be non-empty, as in MLflow)."""
    return Field(name, _to_string, required=required, repeated=repeated)


def int64(name: str, *, required: bool = False) -> Field:
    return Field(name, _to_int64, required=required)


def int32(name: str, *, required: bool = False) -> Field:
    return Field(name, _to_int32, required=required)


def double(name: str, *, required: bool = False) -> Field:
    return Field(name, _to_double, required=required)


def boolean(name: str, *, required: bool = False) -> Field:
    return Field(name, _to_bool, required=required)


def enum(
    name: str, values: Mapping[str, Any], numbers: Mapping[int, Any], *, required: bool = False
) -> Field:
    """An enum field read by name or by its protobuf number."""
    return Field(name, _enum_converter(values, numbers), required=required)


def nested(name: str, message: Message, *, repeated: bool = False) -> Field:
    """A nested message (a list of them when ``repeated``)."""
    return Field(name, message.read_nested, repeated=repeated, message=message)


class Message:
    """A request message: reads a JSON object into a dict of checked values.

    Keys may be snake_case or lowerCamelCase; a body with both spellings of one
    field is refused (MLflow does the same: the two could otherwise disagree).
    Unknown keys are ignored and ``null`` means "not set", as protobuf-JSON.
    """

    __slots__ = ("_by_key", "_required", "fields", "name")

    def __init__(self, name: str, *fields: Field) -> None:
        self.name = name
        self.fields = fields
        self._by_key: dict[str, Field] = {}
        for f in fields:
            self._by_key[f.name] = f
            self._by_key[f.json_name] = f
        self._required = tuple(f.name for f in fields if f.required)

    def read(self, data: object) -> JsonDict:
        """Read a whole request body (or query-string values); errors name the field."""
        if type(data) is not dict:
            raise InvalidArgument(f"The request body must be a JSON object, got {_type_name(data)}")
        try:
            return self._read(data)
        except _FieldError as exc:
            raise InvalidArgument(exc.message()) from None

    def read_nested(self, data: Any) -> JsonDict:
        if type(data) is not dict:
            raise _mismatch(data, "an object")
        return self._read(data)

    def _read(self, data: dict[str, Any]) -> JsonDict:
        out: JsonDict = {}
        by_key = self._by_key
        for key, value in data.items():
            f = by_key.get(key)
            if f is None or value is None:
                continue
            name = f.name
            if name in out:
                raise _FieldError(
                    "",
                    f"The request gives both '{f.name}' and '{f.json_name}'; give only one of them",
                    "{problem} (in '{path}')",
                )
            if not f.repeated:
                try:
                    out[name] = f.convert(value)
                except _FieldError as exc:
                    exc.path = _join(key, exc.path)
                    raise
                continue
            if type(value) is not list:
                error = _mismatch(value, "a list")
                error.path = key
                raise error
            convert = f.convert
            items = []
            for index, item in enumerate(value):
                try:
                    items.append(convert(item))
                except _FieldError as exc:
                    exc.path = _join(f"{key}[{index}]", exc.path)
                    raise
            out[name] = items
        for name in self._required:
            if out.get(name) in (None, ""):
                raise _FieldError(name, "", "Missing value for required parameter '{path}'")
        return out

    def read_query(self, pairs: Iterable[tuple[str, str]]) -> JsonDict:
        """Read query-string pairs: repeated keys feed repeated fields, else the first wins."""
        data: dict[str, Any] = {}
        by_key = self._by_key
        for key, value in pairs:
            f = by_key.get(key)
            if f is None:
                continue
            if f.repeated:
                data.setdefault(key, []).append(value)
            elif key not in data:
                data[key] = value
        return self.read(data)


def _join(head: str, tail: str) -> str:
    if not tail:
        return head
    return f"{head}{tail}" if tail.startswith("[") else f"{head}.{tail}"


# -- shared sub-messages and enums ------------------------------------------------

KEY_VALUE = Message("KeyValue", string("key"), string("value"))

METRIC = Message(
    "Metric",
    string("key"),
    double("value", required=True),
    int64("timestamp"),
    int64("step"),
    string("dataset_name"),
    string("dataset_digest"),
    string("model_id"),
    string("run_id"),
)


def _metric_from(item: Any) -> Metric:
    """A wire metric as a :class:`Metric`, with a fast path for the common shape.

    Nearly every metric the client sends is exactly ``{key, value, timestamp,
    step}`` with a float value; that shape is checked and built in one step,
    since a log-batch carries up to 1,000 of them. Anything else goes through
    the generic reader. Absent timestamp and step are 0, protobuf's default,
    which is what MLflow stores for them.
    """
    if type(item) is dict and len(item) == 4:
        key = item.get("key")
        value = item.get("value")
        timestamp = item.get("timestamp")
        step = item.get("step")
        if (
            type(key) is str
            and type(value) is float
            and type(timestamp) is int
            and type(step) is int
            and INT64_MIN <= timestamp <= INT64_MAX
            and INT64_MIN <= step <= INT64_MAX
        ):
            return Metric(key=key, value=value, timestamp=timestamp, step=step)
    m = METRIC.read_nested(item)
    model_id = m.get("model_id")
    return Metric(
        key=m.get("key", ""),
        value=m["value"],
        timestamp=m.get("timestamp", 0),
        step=m.get("step", 0),
        dataset_name=m.get("dataset_name") or None,
        dataset_digest=m.get("dataset_digest") or None,
        model_id=LoggedModelId(model_id) if model_id else None,
    )


def metrics(name: str) -> Field:
    """A repeated Metric field, read straight into :class:`Metric` records."""
    return Field(name, _metric_from, repeated=True, message=METRIC)


RUN_STATUS = {s.value: s for s in RunStatus}
RUN_STATUS_NUMBERS = {
    1: RunStatus.RUNNING,
    2: RunStatus.SCHEDULED,
    3: RunStatus.FINISHED,
    4: RunStatus.FAILED,
    5: RunStatus.KILLED,
}
VIEW_TYPE = {v.value: v for v in ViewType}
VIEW_TYPE_NUMBERS = {1: ViewType.ACTIVE_ONLY, 2: ViewType.DELETED_ONLY, 3: ViewType.ALL}
LOGGED_MODEL_STATUS = {s.value: s for s in LoggedModelStatus}
LOGGED_MODEL_STATUS_NUMBERS = {
    1: LoggedModelStatus.PENDING,
    2: LoggedModelStatus.READY,
    3: LoggedModelStatus.UPLOAD_FAILED,
}


def run_id_of(fields: Mapping[str, Any]) -> str:
    """The run a request names: ``run_id``, or the legacy ``run_uuid``."""
    run_id = fields.get("run_id") or fields.get("run_uuid")
    if not run_id:
        raise InvalidArgument("Missing value for required parameter 'run_id'")
    return str(run_id)


# -- records -> JSON ---------------------------------------------------------------


def json_double(value: float) -> float | str:
    """A double as MLflow writes it: NaN and the infinities become strings."""
    if value - value == 0.0:
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def key_values(items: Mapping[str, str]) -> list[JsonDict]:
    return [{"key": k, "value": v} for k, v in items.items()]


def metric_json(m: Metric) -> JsonDict:
    value = m.value
    out: JsonDict = {
        "key": m.key,
        "value": value if value - value == 0.0 else json_double(value),
        "timestamp": m.timestamp,
        "step": m.step,
    }
    if m.dataset_name is not None:
        out["dataset_name"] = m.dataset_name
    if m.dataset_digest is not None:
        out["dataset_digest"] = m.dataset_digest
    if m.model_id is not None:
        out["model_id"] = m.model_id
    if m.run_id is not None:
        out["run_id"] = m.run_id
    return out


def metric_history_json(metrics: Sequence[Metric]) -> list[JsonDict]:
    """Many points of one metric: the hot loop of history reads, kept tight."""
    out: list[JsonDict] = []
    append = out.append
    for m in metrics:
        value: float | str = m.value
        if value - value != 0.0:  # type: ignore[operator]
            value = json_double(m.value)
        if m.dataset_name is None and m.dataset_digest is None and m.model_id is None:
            if m.run_id is None:
                append({"key": m.key, "value": value, "timestamp": m.timestamp, "step": m.step})
            else:
                append(
                    {
                        "key": m.key,
                        "value": value,
                        "timestamp": m.timestamp,
                        "step": m.step,
                        "run_id": m.run_id,
                    }
                )
        else:
            append(metric_json(m))
    return out


def experiment_json(e: Experiment) -> JsonDict:
    return {
        "experiment_id": e.experiment_id,
        "name": e.name,
        "artifact_location": e.artifact_location,
        "lifecycle_stage": e.lifecycle_stage.value,
        "creation_time": e.creation_time,
        "last_update_time": e.last_update_time,
        "tags": key_values(e.tags),
    }


def run_info_json(info: RunInfo) -> JsonDict:
    out: JsonDict = {
        "run_id": info.run_id,
        "run_uuid": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "user_id": info.user_id,
        "status": info.status.value,
        "start_time": info.start_time,
        "artifact_uri": info.artifact_uri,
        "lifecycle_stage": info.lifecycle_stage.value,
    }
    if info.end_time is not None:
        out["end_time"] = info.end_time
    return out


def dataset_input_json(d: DatasetInput) -> JsonDict:
    ds = d.dataset
    dataset: JsonDict = {
        "name": ds.name,
        "digest": ds.digest,
        "source_type": ds.source_type,
        "source": ds.source,
    }
    if ds.schema is not None:
        dataset["schema"] = ds.schema
    if ds.profile is not None:
        dataset["profile"] = ds.profile
    return {"tags": key_values(d.tags), "dataset": dataset}


def run_json(run: Run) -> JsonDict:
    return {
        "info": run_info_json(run.info),
        "data": {
            "metrics": [metric_json(m) for m in run.metrics],
            "params": [{"key": k, "value": v} for k, v in run.params.items()],
            "tags": [{"key": k, "value": v} for k, v in run.tags.items()],
        },
        "inputs": {
            "dataset_inputs": [dataset_input_json(d) for d in run.dataset_inputs],
            "model_inputs": [{"model_id": m} for m in run.model_inputs],
        },
        "outputs": {
            "model_outputs": [{"model_id": o.model_id, "step": o.step} for o in run.model_outputs],
        },
    }


def logged_model_json(m: LoggedModel) -> JsonDict:
    info: JsonDict = {
        "model_id": m.model_id,
        "experiment_id": m.experiment_id,
        "name": m.name,
        "creation_timestamp_ms": m.creation_timestamp_ms,
        "last_updated_timestamp_ms": m.last_updated_timestamp_ms,
        "artifact_uri": m.artifact_uri,
        "status": m.status.value,
        "tags": key_values(m.tags),
    }
    # MLflow declares creator_id as int64: a non-numeric id cannot travel in it.
    if m.creator_id is not None and m.creator_id.isdigit():
        info["creator_id"] = int(m.creator_id)
    if m.model_type is not None:
        info["model_type"] = m.model_type
    if m.source_run_id is not None:
        info["source_run_id"] = m.source_run_id
    if m.status_message is not None:
        info["status_message"] = m.status_message
    return {
        "info": info,
        "data": {
            "params": key_values(m.params),
            "metrics": [metric_json(x) for x in m.metrics],
        },
    }


def tags_of(items: Iterable[Mapping[str, Any]] | None) -> list[Tag]:
    """Wire ``[{key, value}]`` as tags; an absent value is ``""`` (protobuf's default)."""
    return [Tag(key=t.get("key", ""), value=t.get("value", "")) for t in items or ()]


def params_of(items: Iterable[Mapping[str, Any]] | None) -> list[Param]:
    return [Param(key=p.get("key", ""), value=p.get("value", "")) for p in items or ()]


def page_json(name: str, items: list[JsonDict], next_page_token: str | None) -> JsonDict:
    """A page of results: ``next_page_token`` only when there is a next page."""
    out: JsonDict = {name: items}
    if next_page_token:
        out["next_page_token"] = next_page_token
    return out
