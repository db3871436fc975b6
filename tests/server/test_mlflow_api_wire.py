"""The MLflow wire layer: field tables checked against MLflow's protos, and reading rules.

The endpoint tables in ``moorline.server.mlflow`` are written by hand (the
server must not depend on mlflow); this checks every method, path and field
against the service descriptors of the installed ``mlflow`` so that a typo in
a field name or kind cannot hide until a client happens to send that field.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from moorline.bootstrap import Settings, build_services
from moorline.errors import InvalidArgument
from moorline.server.mlflow import experiments, logged_models, runs, wire
from moorline.server.mlflow.artifacts import run_artifact_endpoints
from moorline.server.mlflow.dispatch import Endpoint, decode_json
from moorline.tracking.models import LoggedModelStatus, Metric, RunStatus

#: Fields we read that MLflow's protos do not declare (query parameters its handlers read by hand).
EXTRA_FIELDS = {("GET", "logged-models/{model_id}"): {"allow_deleted"}}


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory: pytest.TempPathFactory) -> list[Endpoint]:
    root: Path = tmp_path_factory.mktemp("wire")
    services = build_services(
        Settings(store_uri=f"sqlite:///{root}/m.db", artifacts_uri=str(root / "a"))
    )
    try:
        return [
            *experiments.endpoints(services.tracking),
            *runs.endpoints(services.tracking),
            *logged_models.endpoints(services.tracking),
            *run_artifact_endpoints(services.tracking, services.artifacts),
        ]
    finally:
        services.close()


def _proto_endpoints() -> dict[tuple[str, str], Any]:
    from mlflow.protos import service_pb2
    from mlflow.protos.databricks_pb2 import rpc

    found: dict[tuple[str, str], Any] = {}
    for method in service_pb2.DESCRIPTOR.services_by_name["MlflowService"].methods:
        for endpoint in method.GetOptions().Extensions[rpc].endpoints:
            path = endpoint.path.removeprefix("/").removeprefix("mlflow/")
            found[(endpoint.method, path)] = method.input_type
    return found


def _kind(field: wire.Field) -> str:
    if field.message is not None:
        return "MESSAGE"
    return {
        wire._to_string: "STRING",
        wire._to_int64: "INT64",
        wire._to_int32: "INT32",
        wire._to_double: "DOUBLE",
        wire._to_bool: "BOOL",
    }.get(field.convert, "ENUM")


def _check(message: wire.Message, descriptor: Any, where: str, extra: set[str]) -> None:
    from google.protobuf.descriptor import FieldDescriptor

    type_names = {
        FieldDescriptor.TYPE_STRING: "STRING",
        FieldDescriptor.TYPE_INT64: "INT64",
        FieldDescriptor.TYPE_INT32: "INT32",
        FieldDescriptor.TYPE_DOUBLE: "DOUBLE",
        FieldDescriptor.TYPE_BOOL: "BOOL",
        FieldDescriptor.TYPE_ENUM: "ENUM",
        FieldDescriptor.TYPE_MESSAGE: "MESSAGE",
    }
    for field in message.fields:
        if field.name in extra:
            continue
        proto = descriptor.fields_by_name.get(field.name)
        assert proto is not None, f"{where}: MLflow has no field {field.name!r}"
        assert proto.json_name == field.json_name, where
        assert type_names[proto.type] == _kind(field), f"{where}.{field.name}"
        assert proto.is_repeated == field.repeated, f"{where}.{field.name}"
        if field.message is not None:
            _check(field.message, proto.message_type, f"{where}.{field.name}", set())


@pytest.mark.compat
def test_every_endpoint_and_field_is_mlflows(endpoints: list[Endpoint]) -> None:
    protos = _proto_endpoints()
    for ep in endpoints:
        key = (ep.method, ep.path.replace(":path}", "}"))
        assert key in protos, f"MLflow has no endpoint {key}"
        extra = EXTRA_FIELDS.get((ep.method, ep.path), set())
        _check(ep.request, protos[key], f"{ep.method} {ep.path}", extra)


@pytest.mark.compat
def test_enum_tables_match_mlflows_numbers() -> None:
    from mlflow.protos import service_pb2

    assert {n: s.value for n, s in wire.RUN_STATUS_NUMBERS.items()} == {
        v: k for k, v in service_pb2.RunStatus.items()
    }
    assert {n: s.value for n, s in wire.VIEW_TYPE_NUMBERS.items()} == {
        v: k for k, v in service_pb2.ViewType.items()
    }
    mlflow_status = {v: k for k, v in service_pb2.LoggedModelStatus.items() if v}
    assert {n: s.value for n, s in wire.LOGGED_MODEL_STATUS_NUMBERS.items()} == mlflow_status


UPDATE = runs.UPDATE
BATCH = runs.LOG_BATCH


def test_snake_and_camel_case_and_enums() -> None:
    assert UPDATE.read({"runId": "r", "status": "KILLED", "endTime": "12"}) == {
        "run_id": "r",
        "status": RunStatus.KILLED,
        "end_time": 12,
    }
    assert UPDATE.read({"run_uuid": "r", "status": 3})["status"] is RunStatus.FINISHED
    assert logged_models.FINALIZE.read({"status": "2"})["status"] is LoggedModelStatus.READY


def test_nulls_and_unknown_fields_are_ignored() -> None:
    assert UPDATE.read({"run_id": "r", "status": None, "whatever": [1, 2]}) == {"run_id": "r"}


def test_query_strings_feed_repeated_fields() -> None:
    read = runs.GET_HISTORY_BULK_INTERVAL.read_query(
        [("run_ids", "a"), ("metric_key", "m"), ("run_ids", "b"), ("max_results", "7")]
    )
    assert read == {"run_ids": ["a", "b"], "metric_key": "m", "max_results": 7}
    assert logged_models.GET.read_query([("allow_deleted", "True")]) == {"allow_deleted": True}


def test_metrics_become_records() -> None:
    read = BATCH.read(
        {
            "run_id": "r",
            "metrics": [
                {"key": "a", "value": 0.5, "timestamp": 3, "step": 1},
                {"key": "b", "value": "Infinity", "timestamp": "4"},
                {"key": "c", "value": 1, "timestamp": 5, "step": 2, "modelId": "m-1"},
            ],
        }
    )
    a, b, c = read["metrics"]
    assert a == Metric(key="a", value=0.5, timestamp=3, step=1)
    assert b == Metric(key="b", value=math.inf, timestamp=4, step=0)
    assert c == Metric(key="c", value=1.0, timestamp=5, step=2, model_id="m-1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"run_id": "r", "metrics": [{"key": "a", "value": True}]}, "'metrics[0].value'"),
        ({"run_id": "r", "metrics": [{"value": 1, "step": 2**63}]}, "'metrics[0].step'"),
        ({"run_id": "r", "metrics": [{"value": 1, "step": "1e3"}]}, "'metrics[0].step'"),
        ({"run_id": "r", "params": [{"key": "a", "value": None}], "tags": 1}, "'tags'"),
        ({"run_id": "r", "runId": "r"}, "both 'run_id' and 'runId'"),
        ({}, "Missing value for required parameter 'run_id'"),
    ],
)
def test_errors_name_the_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        BATCH.read(body)
    assert message in str(info.value)
    assert info.value.code == "INVALID_PARAMETER_VALUE"


def test_decode_json_variants() -> None:
    assert decode_json(b"") == {}
    assert decode_json(b"  \n") == {}
    assert decode_json(b'"{\\"a\\": 1}"') == {"a": 1}
    nan = decode_json(b'{"v": NaN}')
    assert isinstance(nan, dict)
    assert math.isnan(nan["v"])
    with pytest.raises(InvalidArgument) as info:
        decode_json(b"{nope")
    assert info.value.code == "BAD_REQUEST"


def test_doubles_are_written_as_mlflow_reads_them() -> None:
    assert wire.json_double(0.25) == 0.25
    assert wire.json_double(math.nan) == "NaN"
    assert wire.json_double(math.inf) == "Infinity"
    assert wire.json_double(-math.inf) == "-Infinity"
    points = [
        Metric(key="m", value=math.nan, timestamp=1, step=0),
        Metric(key="m", value=2.0, timestamp=2, step=1, run_id="r"),  # type: ignore[arg-type]
        Metric(key="m", value=3.0, timestamp=3, step=2, dataset_name="train"),
    ]
    assert wire.metric_history_json(points) == [
        {"key": "m", "value": "NaN", "timestamp": 1, "step": 0},
        {"key": "m", "value": 2.0, "timestamp": 2, "step": 1, "run_id": "r"},
        {"key": "m", "value": 3.0, "timestamp": 3, "step": 2, "dataset_name": "train"},
    ]
