"""Signatures: inferred from an input example, stored, and enforced at predict time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

import moorline
from moorline.errors import InvalidArgument, UserCodeError
from moorline.models.signature import (
    ColumnSchema,
    ColumnSpec,
    Signature,
    TensorSchema,
    infer_signature,
    prepare_input,
)
from tests.models.conftest import Store

Data = tuple[pd.DataFrame, pd.Series]


def test_inferred_from_a_dataframe_an_array_and_a_list_of_lists() -> None:
    frame = pd.DataFrame({"age": [31, 45], "income": [1.5, 2.0], "city": ["Oslo", "Lima"]})
    sig = infer_signature(frame, np.array([0, 1]))
    assert sig.inputs == ColumnSchema(
        columns=(
            ColumnSpec(name="age", dtype="int64"),
            ColumnSpec(name="income", dtype="float64"),
            ColumnSpec(name="city", dtype=str(frame["city"].dtype)),
        )
    )
    assert sig.outputs == TensorSchema(dtype="int64", shape=(-1,))
    assert infer_signature(np.zeros((3, 4), dtype=np.float32)).inputs == TensorSchema(
        dtype="float32", shape=(-1, 4)
    )
    assert infer_signature([[1.0, 2.0], [3.0, 4.0]]).inputs == TensorSchema(
        dtype="float64", shape=(-1, 2)
    )
    with pytest.raises(InvalidArgument, match=r"mixed or ragged"):
        infer_signature([[1.0, 2.0], [3.0]])


def test_logged_signature_is_enforced_on_predict(store: Store, frame: Data) -> None:
    x, y = frame
    model = LogisticRegression().fit(x, y)
    with moorline.start_run():
        info = moorline.log_model(model, "model", input_example=x.head(3))
    assert info.signature is not None
    assert info.signature.outputs == TensorSchema(dtype="int64", shape=(-1,))
    loaded = moorline.load_model(info.model_uri)
    expected = model.predict(x)

    # Missing columns are named.
    with pytest.raises(InvalidArgument) as caught:
        loaded.predict(x.drop(columns=["spend", "tickets"]))
    assert "missing column(s) 'spend', 'tickets'" in str(caught.value)

    # Columns are put in the signature's order and extra ones dropped.
    shuffled = x[["tickets", "visits", "tenure", "spend"]].assign(note="x")
    np.testing.assert_array_equal(loaded.predict(shuffled), expected)

    # Rows (arrays or lists) of the right width get the signature's column names.
    np.testing.assert_array_equal(loaded.predict(x.to_numpy()), expected)
    np.testing.assert_array_equal(loaded.predict(x.to_numpy().tolist()), expected)
    np.testing.assert_array_equal(loaded.predict(x.to_dict(orient="records")), expected)
    with pytest.raises(InvalidArgument, match=r"expects 4 columns"):
        loaded.predict(x.to_numpy()[:, :3])
    with pytest.raises(InvalidArgument, match=r"row 0 has 3 values"):
        loaded.predict([[1.0, 2.0, 3.0]])

    # An incompatible dtype is named with both types.
    with pytest.raises(InvalidArgument, match=r"Column 'spend' has dtype .*expects float64"):
        loaded.predict(x.assign(spend="high"))


def test_tensor_signature_checks_shape_and_dtype(store: Store) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3))
    model = LinearRegression().fit(x, x @ np.array([1.0, -2.0, 0.5]))
    with moorline.start_run():
        info = moorline.log_model(model, "reg", input_example=x[:2])
    loaded = moorline.load_model(info.model_uri)
    assert loaded.signature is not None
    assert loaded.signature.inputs == TensorSchema(dtype="float64", shape=(-1, 3))
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=0, atol=0)
    ints = np.arange(6).reshape(2, 3)
    np.testing.assert_allclose(loaded.predict(ints), model.predict(ints.astype(float)))
    with pytest.raises(InvalidArgument, match=r"shape \(40, 2\).*\('\*', 3\)"):
        loaded.predict(x[:, :2])
    with pytest.raises(InvalidArgument, match=r"dtype <U"):
        loaded.predict(np.array([["a", "b", "c"]]))


def test_a_given_signature_is_checked_against_the_example(store: Store, frame: Data) -> None:
    x, y = frame
    sig = Signature(inputs=ColumnSchema(columns=(ColumnSpec(name="tenure", dtype="float64"),)))
    model = LogisticRegression().fit(x[["tenure"]], y)
    with moorline.start_run():
        with pytest.raises(InvalidArgument, match=r"missing column"):
            moorline.log_model(model, "m", signature=sig, input_example=x[["spend"]])
        info = moorline.log_model(model, "m2", signature=sig.to_dict())
    loaded = moorline.load_model(info.model_uri)
    assert loaded.signature == sig
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x[["tenure"]]))


def test_a_model_that_raises_is_reported_as_user_code(store: Store) -> None:
    class Broken:
        def predict(self, data: object) -> object:
            raise ZeroDivisionError("the model divided by zero")

    with moorline.start_run():
        info = moorline.log_model(Broken(), "broken")
    with pytest.raises(UserCodeError, match=r"ZeroDivisionError: the model divided by zero") as err:
        moorline.load_model(info.model_uri).predict([[1.0]])
    assert "ZeroDivisionError" in err.value.user_traceback


def test_prepare_input_without_a_signature_passes_frames_and_arrays_through() -> None:
    frame = pd.DataFrame({"a": [1]})
    assert prepare_input(None, frame) is frame
    assert prepare_input(None, [[1, 2]]).shape == (1, 2)
    with pytest.raises(InvalidArgument, match=r"got str"):
        prepare_input(None, "1,2")
