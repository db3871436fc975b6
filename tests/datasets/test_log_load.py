"""Logging and loading dataset versions through the SDK, on every backend.

Each test runs against SQLite, PostgreSQL and a live server (the SDK then
talks HTTP: run inputs, the dataset routes and the artifact proxy).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import moorline
from moorline.errors import InvalidArgument, NotFound, StorageError
from moorline.tracking.datasets import canonical_table, dataset_digest
from moorline.tracking.models import TAG_DATASET_CONTEXT
from tests.datasets.conftest import Stack


def churn(n: int = 300, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "tenure": rng.integers(0, 72, n),
            "monthly": rng.normal(60, 15, n).round(2),
            "plan": rng.choice(["basic", "pro"], n),
            "churned": rng.random(n) < 0.25,
        }
    )


@pytest.fixture
def sdk(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """Point ``import moorline`` at the stack's store."""
    settings = stack.services.settings
    monkeypatch.setenv("MOORLINE_TRACKING_URI", settings.store_uri)
    monkeypatch.setenv("MOORLINE_ARTIFACTS_URI", settings.artifacts_uri)
    monkeypatch.delenv("MOORLINE_REPRODUCE_DATASETS", raising=False)
    moorline.set_tracking_uri(None)
    yield stack
    while moorline.active_run() is not None:
        moorline.end_run()
    moorline.set_tracking_uri(None)


def test_the_same_data_logged_twice_is_one_version_stored_once(sdk: Stack) -> None:
    df = churn()
    with moorline.start_run() as first:
        logged = moorline.log_dataset(df, "churn")
    with moorline.start_run() as second:
        again = moorline.log_dataset(df.copy(), "churn", context="eval")
    assert logged.digest == again.digest == dataset_digest(canonical_table(df))
    assert logged.rows == 300
    assert (logged.uploaded, again.uploaded) == (True, False)
    assert [f.name for f in sdk.dataset_files()] == [f"{logged.digest}.parquet"]
    datasets = sdk.services.datasets
    versions = datasets.list_versions("churn").items
    assert len(versions) == 1
    assert versions[0].run_count == 2
    assert versions[0].first_used_at == sdk.services.tracking.get_run(first.run_id).info.start_time
    inputs = {
        run.run_id: sdk.services.tracking.get_run(run.run_id).dataset_inputs
        for run in (first, second)
    }
    assert inputs[first.run_id][0].tags == {TAG_DATASET_CONTEXT: "train"}
    assert inputs[second.run_id][0].tags == {TAG_DATASET_CONTEXT: "eval"}
    schema = json.loads(inputs[first.run_id][0].dataset.schema or "")
    assert [c["name"] for c in schema["columns"]] == ["tenure", "monthly", "plan", "churned"]
    profile = json.loads(inputs[first.run_id][0].dataset.profile or "")
    assert profile["rows"] == 300


def test_one_changed_cell_is_a_new_version_and_becomes_the_latest(sdk: Stack) -> None:
    df = churn()
    changed = df.copy()
    changed.loc[5, "monthly"] = 1234.5
    with moorline.start_run():
        old = moorline.log_dataset(df, "churn")
        new = moorline.log_dataset(changed, "churn")
        moorline.log_dataset(df, "churn-copy")  # same data, another name: no new file
    assert old.digest != new.digest
    assert len(sdk.dataset_files()) == 2
    datasets = sdk.services.datasets
    assert [v.dataset.digest for v in datasets.list_versions("churn").items] == [
        new.digest,
        old.digest,
    ]
    assert datasets.get_version("churn").dataset.digest == new.digest
    assert datasets.get_version("churn", old.digest).dataset.digest == old.digest
    summaries = {s.name: s for s in datasets.list_datasets().items}
    assert sorted(summaries) == ["churn", "churn-copy"]
    assert (summaries["churn"].versions, summaries["churn"].latest_digest) == (2, new.digest)
    assert moorline.load_dataset("churn", context=None).loc[5, "monthly"] == 1234.5
    assert moorline.load_dataset("churn", old.digest, context=None).loc[5, "monthly"] != 1234.5


def test_load_dataset_round_trips_and_records_the_input(sdk: Stack) -> None:
    df = churn()
    df["seen"] = pd.to_datetime(np.arange(300) * 86_400, unit="s", utc=True)
    df.loc[3, "monthly"] = np.nan
    with moorline.start_run():
        logged = moorline.log_dataset(df, "team/churn")  # names may hold slashes
    with moorline.start_run() as reader:
        loaded = moorline.load_dataset("team/churn")
    expected = canonical_table(df).to_pandas()
    pd.testing.assert_frame_equal(loaded, expected)
    assert loaded["seen"].dt.tz is not None and np.isnan(loaded.loc[3, "monthly"])
    assert dataset_digest(canonical_table(loaded)) == logged.digest
    inputs = sdk.services.tracking.get_run(reader.run_id).dataset_inputs
    assert [(i.dataset.name, i.dataset.digest, i.tags) for i in inputs] == [
        ("team/churn", logged.digest, {TAG_DATASET_CONTEXT: "train"})
    ]


def test_reproduction_pins_the_version_load_dataset_returns(
    sdk: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    with moorline.start_run():
        old = moorline.log_dataset(churn(seed=1), "churn")
        moorline.log_dataset(churn(seed=2), "churn")
    monkeypatch.setenv("MOORLINE_REPRODUCE_DATASETS", json.dumps({"churn": old.digest}))
    pinned = moorline.load_dataset("churn", context=None)
    assert dataset_digest(canonical_table(pinned)) == old.digest


def test_tampered_data_refuses_to_load(sdk: Stack) -> None:
    with moorline.start_run():
        logged = moorline.log_dataset(churn(), "churn")
    (path,) = sdk.dataset_files()
    pq.write_table(pa.table({"tenure": [1]}), path)
    with pytest.raises(StorageError, match="does not match its digest"):
        moorline.load_dataset("churn", context=None)
    assert logged.digest in path.name


def test_mistakes_are_named(sdk: Stack, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="needs a run"):
        moorline.log_dataset(churn(), "churn")
    with moorline.start_run():
        with pytest.raises(InvalidArgument, match="non-empty name"):
            moorline.log_dataset(churn(), "")
        with pytest.raises(InvalidArgument, match="no such file"):
            moorline.log_dataset(tmp_path / "missing.csv", "churn")
    with pytest.raises(NotFound, match="No dataset named 'nothing'"):
        moorline.load_dataset("nothing")
    with pytest.raises(NotFound, match="No version"):
        moorline.load_dataset("nothing", "0" * 64)


def test_a_csv_path_is_logged_with_its_source(sdk: Stack, tmp_path: Path) -> None:
    path = tmp_path / "churn.csv"
    churn().to_csv(path, index=False)
    with moorline.start_run() as run:
        logged = moorline.log_dataset(path, "churn")
    assert logged.digest == dataset_digest(canonical_table(pd.read_csv(path)))
    (item,) = sdk.services.tracking.get_run(run.run_id).dataset_inputs
    assert item.dataset.source_type == "local"
    assert json.loads(item.dataset.source) == {"type": "csv", "uri": path.resolve().as_uri()}
