"""The wire protocols on their own: decoding, signature checks, encoding.

Signatures come from real models' inference (``infer_signature`` on real
arrays and frames), as the model server gets them from a manifest.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from moorline.errors import InvalidArgument
from moorline.models.signature import infer_signature
from moorline.serving.protocols import (
    Form,
    InputSpec,
    UnsupportedMediaType,
    compatible,
    concatenate,
    decode_mlflow,
    decode_oip,
    encode_deployment,
    encode_mlflow,
    encode_oip,
    input_rows,
    per_row,
    to_model_input,
)

JSON = "application/json"


@pytest.fixture(scope="module")
def tensor() -> InputSpec:
    x = np.random.default_rng(0).normal(size=(5, 4))
    return InputSpec.from_signature(infer_signature(x, x[:, 0] > 0))


@pytest.fixture(scope="module")
def columns() -> InputSpec:
    frame = pd.DataFrame(
        {"city": ["oslo", "lima"], "age": np.array([30, 40]), "income": [1.5, 2.5]}
    )
    return InputSpec.from_signature(infer_signature(frame, np.array([0, 1])))


@pytest.fixture(scope="module")
def floats() -> InputSpec:
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    return InputSpec.from_signature(infer_signature(frame))


def mlflow(doc: object, spec: InputSpec, **kw: bool) -> tuple[Any, int]:
    return to_model_input(decode_mlflow(orjson.dumps(doc), JSON, **kw), spec)


# -- MLflow forms -----------------------------------------------------------------------


def test_inputs_rows_become_a_float_array_of_the_signature_shape(tensor: InputSpec) -> None:
    data, rows = mlflow({"inputs": [[1, 2, 3, 4], [5, 6, 7, 8]]}, tensor)
    assert isinstance(data, np.ndarray)
    assert data.dtype == np.float64 and data.shape == (2, 4) and rows == 2
    assert data[1].tolist() == [5.0, 6.0, 7.0, 8.0]


@pytest.mark.parametrize(
    "doc",
    [
        {"dataframe_split": {"columns": ["city", "age", "income"], "data": [["oslo", 30, 1.5]]}},
        {"dataframe_split": {"columns": ["income", "city", "age"], "data": [[1.5, "oslo", 30]]}},
        {"dataframe_records": [{"age": 30, "income": 1.5, "city": "oslo", "extra": 1}]},
        {"instances": [{"city": "oslo", "age": 30, "income": 1.5}]},
        {"inputs": {"city": ["oslo"], "age": [30], "income": [1.5]}},
        {"inputs": [["oslo", 30, 1.5]], "params": {"anything": True}},
    ],
)
def test_every_mlflow_form_gives_the_same_named_columns(columns: InputSpec, doc: object) -> None:
    data, rows = mlflow(doc, columns)
    assert rows == 1
    assert isinstance(data, dict)
    assert list(data) == ["city", "age", "income"]
    frame = columns.prepare(data)
    assert list(frame.columns) == ["city", "age", "income"]
    assert frame["age"].dtype == np.int64 and frame["income"].dtype == np.float64
    assert frame.iloc[0].tolist() == ["oslo", 30, 1.5]


def test_uniform_float_columns_travel_as_one_array_until_predict(floats: InputSpec) -> None:
    data, _ = mlflow({"dataframe_records": [{"b": 2, "a": 1}]}, floats)
    assert isinstance(data, np.ndarray) and data.tolist() == [[1.0, 2.0]]
    frame = floats.prepare(data)
    assert list(frame.columns) == ["a", "b"] and frame.iloc[0].tolist() == [1.0, 2.0]


def test_csv_body_is_read_with_its_header(columns: InputSpec) -> None:
    body = b"income,city,age\n1.5,oslo,30\n2.5,lima,41\n"
    data, rows = to_model_input(decode_mlflow(body, "text/csv; charset=utf-8"), columns)
    assert rows == 2
    assert isinstance(data, dict) and data["age"].tolist() == [30, 41]


def test_parquet_body_is_read(columns: InputSpec) -> None:
    buffer = io.BytesIO()
    pd.DataFrame({"city": ["pune"], "age": [50], "income": [9.0]}).to_parquet(buffer)
    payload = decode_mlflow(buffer.getvalue(), "application/vnd.apache.parquet")
    data, rows = to_model_input(payload, columns)
    assert rows == 1 and isinstance(data, dict) and data["city"].tolist() == ["pune"]


def test_deployment_body_carries_a_key_and_mlflow_refuses_it() -> None:
    body = orjson.dumps({"inputs": [[1, 2, 3, 4]], "key": "user-7"})
    assert decode_mlflow(body, JSON, allow_key=True).key == "user-7"
    with pytest.raises(InvalidArgument, match="Unknown field"):
        decode_mlflow(body, JSON)


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"{not json", JSON, "Malformed JSON"),
        (b"", JSON, "empty"),
        (b"[1, 2]", JSON, "JSON object"),
        (b'{"inputs": [[1]], "instances": [[1]]}', JSON, "exactly one of"),
        (b'{"params": {}}', JSON, "exactly one of"),
        (b'{"dataframe_split": {"columns": ["a"]}}', JSON, "'data'"),
        (b'{"dataframe_records": [1, 2]}', JSON, "list of objects"),
        (b'{"inputs": "abc"}', JSON, "list of rows"),
        (b'{"inputs": [[1]], "key": [1]}', JSON, "Unknown field"),
        (b"a,b\n1,2\n", "text/csv", None),
    ],
)
def test_malformed_mlflow_bodies_name_the_problem(
    body: bytes, content_type: str, message: str | None
) -> None:
    if message is None:  # a valid CSV decodes
        assert decode_mlflow(body, content_type).form is Form.FRAME
        return
    with pytest.raises(InvalidArgument, match=message):
        decode_mlflow(body, content_type)


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", None])
def test_other_content_types_are_refused_as_unsupported(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType, match="Unsupported content type") as caught:
        decode_mlflow(b'{"inputs": [[1]]}', content_type)
    assert caught.value.status == 415


# -- signature checks -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"inputs": [[1, 2, 3]]}, r"shape \(1, 3\).*\(\*, 4\)"),
        ({"inputs": [1, 2, 3, 4]}, r"shape \(4,\)"),
        ({"inputs": [["a", "b", "c", "d"]]}, "string values.*float64"),
        ({"inputs": [[1, 2], [3, 4, 5]]}, "ragged"),
        ({"inputs": []}, "no rows|shape"),
    ],
)
def test_tensor_input_is_checked_for_width_and_type(
    tensor: InputSpec, doc: object, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        mlflow(doc, tensor)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"dataframe_records": [{"city": "oslo", "age": 3}]}, "missing column.*'income'"),
        ({"inputs": {"city": ["x"], "income": [1.0]}}, "missing column.*'age'"),
        ({"inputs": [["oslo", 30]]}, "row 0 has 2 values.*3 columns"),
        ({"dataframe_records": [{"city": "oslo", "age": "old", "income": 1}]}, "'age'.*int64"),
        ({"dataframe_records": [{"city": 7, "age": 30, "income": 1}]}, "'city'.*strings"),
        ({"dataframe_records": [{"city": "x", "age": 1.5, "income": 1}]}, "'age'.*float.*int64"),
    ],
)
def test_named_columns_are_checked_and_named_in_the_error(
    columns: InputSpec, doc: object, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        mlflow(doc, columns)


def test_null_among_floats_becomes_nan(floats: InputSpec) -> None:
    data, _ = mlflow({"dataframe_records": [{"a": None, "b": 1.0}]}, floats)
    assert isinstance(data, np.ndarray) and np.isnan(data[0, 0]) and data[0, 1] == 1.0


# -- Open Inference Protocol ------------------------------------------------------------


def oip(inputs: list[dict[str, object]], **extra: object) -> bytes:
    return orjson.dumps({"inputs": inputs, **extra})


def test_oip_tensor_is_read_with_its_datatype_and_shape(tensor: InputSpec) -> None:
    body = oip([{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": list(range(8))}])
    payload = decode_oip(body, JSON)
    data, rows = to_model_input(payload, tensor)
    assert isinstance(data, np.ndarray)
    assert data.dtype == np.float64 and data.shape == (2, 4) and rows == 2
    assert data[1, 0] == 4.0


def test_oip_nested_data_and_request_id(tensor: InputSpec) -> None:
    body = oip(
        [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [[1, 2, 3, 4]]}], id="r-1"
    )
    payload = decode_oip(body, None)
    assert payload.request_id == "r-1"
    data, _ = to_model_input(payload, tensor)
    assert isinstance(data, np.ndarray) and data.tolist() == [[1.0, 2.0, 3.0, 4.0]]


def test_oip_named_inputs_are_columns(columns: InputSpec) -> None:
    body = oip(
        [
            {"name": "income", "shape": [2], "datatype": "FP64", "data": [1.0, 2.0]},
            {"name": "city", "shape": [2, 1], "datatype": "BYTES", "data": ["oslo", "lima"]},
            {"name": "age", "shape": [2], "datatype": "INT64", "data": [30, 40]},
        ]
    )
    data, rows = to_model_input(decode_oip(body, JSON), columns)
    assert rows == 2 and isinstance(data, dict)
    assert list(data) == ["city", "age", "income"]
    assert data["city"].tolist() == ["oslo", "lima"]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3]}], "4 values"),
        ([{"name": "x", "shape": [1, 4], "datatype": "FLOAT", "data": [1] * 4}], "datatype"),
        ([{"name": "x", "shape": [1, 4], "datatype": "INT64", "data": [1.5] * 4}], "INT64"),
        ([{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ["a"] * 4}], "FP64"),
        ([{"shape": [1], "datatype": "FP64", "data": [1]}], "name"),
        ([{"name": "x", "shape": [-1], "datatype": "FP64", "data": [1]}], "shape"),
        ([], "non-empty"),
    ],
)
def test_malformed_oip_requests_are_refused(inputs: list[dict[str, object]], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        decode_oip(oip(inputs), JSON)


def test_oip_wrong_width_for_the_model(tensor: InputSpec) -> None:
    body = oip([{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}])
    with pytest.raises(InvalidArgument, match=r"shape \(1, 3\)"):
        to_model_input(decode_oip(body, JSON), tensor)


# -- batching helpers and responses -----------------------------------------------------


def test_compatible_inputs_concatenate_and_others_do_not(
    tensor: InputSpec, columns: InputSpec
) -> None:
    a, _ = mlflow({"inputs": [[1, 2, 3, 4]]}, tensor)
    b, _ = mlflow({"inputs": [[5, 6, 7, 8], [9, 10, 11, 12]]}, tensor)
    c, _ = mlflow({"dataframe_records": [{"city": "x", "age": 1, "income": 2.0}]}, columns)
    assert compatible(a, b) and not compatible(a, c)
    merged = concatenate([a, b])
    assert isinstance(merged, np.ndarray) and merged.shape == (3, 4)
    both = concatenate([c, c])
    assert isinstance(both, dict) and both["city"].tolist() == ["x", "x"]


def test_responses_in_each_protocol() -> None:
    out = np.array([0, 1], dtype=np.int64)
    assert orjson.loads(encode_mlflow(out)) == {"predictions": [0, 1]}
    doc = orjson.loads(encode_oip(out, model_name="m", model_version=3, request_id="r"))
    assert doc == {
        "model_name": "m",
        "model_version": "3",
        "id": "r",
        "outputs": [{"name": "predict", "shape": [2, 1], "datatype": "INT64", "data": [0, 1]}],
    }
    frame = pd.DataFrame({"label": ["a", "b"], "score": [0.1, 0.9]})
    doc = orjson.loads(encode_oip(frame, model_name="m", model_version=1))
    assert [(o["name"], o["datatype"], o["data"]) for o in doc["outputs"]] == [
        ("label", "BYTES", ["a", "b"]),
        ("score", "FP64", [0.1, 0.9]),
    ]
    assert orjson.loads(encode_mlflow(frame))["predictions"][1] == {"label": "b", "score": 0.9}
    doc = orjson.loads(encode_deployment(out, deployment="d", version=2, prediction_id="p"))
    assert doc == {
        "deployment": "d",
        "model_version": 2,
        "prediction_id": "p",
        "predictions": [0, 1],
    }


def test_log_values_are_one_per_row(columns: InputSpec) -> None:
    data, _ = mlflow({"inputs": [["oslo", 30, 1.5], ["lima", 40, 2.5]]}, columns)
    assert input_rows(data) == [["oslo", 30, 1.5], ["lima", 40, 2.5]]
    assert per_row(np.array([[0.2, 0.8], [0.6, 0.4]])) == [[0.2, 0.8], [0.6, 0.4]]
    assert per_row(pd.DataFrame({"p": [1, 0]})) == [{"p": 1}, {"p": 0}]
    assert per_row({"p": np.array([1, 0])}) == [{"p": 1}, {"p": 0}]
