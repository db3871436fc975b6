"""A ``moorline serve`` worker imports pandas without PyArrow for scikit-learn models
(:mod:`moorline.models.lean_imports`), and still answers every input format the
way the model answers in this process, Parquet included (PyArrow is then
imported for the body, on demand).

The model is fitted on a DataFrame with a string column (one-hot encoded), so
pandas' handling of strings is on the path that is checked.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from moorline.serving.models import TrafficPolicy
from tests.serving.serving_support import (
    Serve,
    deploy,
    frame_data,
    log_versions,
    make_store,
    start_serve,
)


def maps_pyarrow(pid: int) -> bool:
    """True when the process has any of PyArrow's files mapped."""
    return "/pyarrow/" in Path(f"/proc/{pid}/maps").read_text()


#: The server, the rows checked, and what the model answers for them in this process.
Served = tuple[Serve, pd.DataFrame, list[int]]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    frame, y = frame_data()
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["city"]),
            (StandardScaler(), ["age", "income"]),
        ),
        LogisticRegression(),
    ).fit(frame, y)
    store = make_store(tmp_path_factory.mktemp("lean-pandas"))
    log_versions(store, [("cities", model, frame.head(3))])
    services = store.services()
    try:
        deploy(services, "cities", "cities", TrafficPolicy.single(1))
    finally:
        services.close()
    rows = frame.tail(12).reset_index(drop=True)
    expected = [int(v) for v in model.predict(rows)]
    assert set(expected) == {0, 1}
    server = start_serve(store)
    try:
        yield server, rows, expected
    finally:
        assert server.stop() == 0


def predict(server: Serve, content: bytes, content_type: str) -> list[int]:
    reply = httpx.post(
        f"{server.url}/invocations",
        content=content,
        headers={"content-type": content_type},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    return [int(v) for v in reply.json()["predictions"]]


def test_json_and_csv_need_no_pyarrow_and_a_parquet_body_loads_it_on_demand(
    served: Served,
) -> None:
    """One test, in this order: PyArrow must not be mapped before the Parquet body."""
    server, rows, expected = served
    split = rows.to_json(orient="split", index=False).encode()
    assert predict(server, b'{"dataframe_split": ' + split + b"}", "application/json") == expected
    records = rows.to_json(orient="records").encode()
    assert predict(server, b'{"dataframe_records": ' + records + b"}", "application/json") == (
        expected
    )
    assert predict(server, rows.to_csv(index=False).encode(), "text/csv") == expected
    assert not maps_pyarrow(server.process.pid), "the worker loaded PyArrow for JSON and CSV"

    buffer = io.BytesIO()
    rows.to_parquet(buffer, index=False)
    assert predict(server, buffer.getvalue(), "application/vnd.apache.parquet") == expected
    assert maps_pyarrow(server.process.pid)
    # and the other formats still work after it
    assert predict(server, rows.to_csv(index=False).encode(), "text/csv") == expected
