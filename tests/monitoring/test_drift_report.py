"""The drift report's JSON form is a contract: its keys are pinned here, NaN and
infinite scores are spelled as documented, and the form reads back to an equal report."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from moorline.errors import InvalidArgument
from moorline.monitoring.base import ColumnKind
from moorline.monitoring.drift import compute_drift
from moorline.monitoring.report import REPORT_FORMAT, ColumnDrift, ColumnMapping, DriftReport

from .test_drift_engine import Recording


def _column(name: str, **overrides: Any) -> ColumnDrift:
    fields: dict[str, Any] = {
        "column": name,
        "type": ColumnKind.NUMERICAL,
        "stattest": "ks",
        "stattest_display_name": "K-S p_value",
        "score": 0.01,
        "threshold": 0.05,
        "drift_detected": True,
    }
    fields.update(overrides)
    return ColumnDrift(**fields)


REPORT = DriftReport(
    preset="evidently",
    reference_rows=1000,
    current_rows=800,
    columns=(
        _column("age"),
        _column(
            "plan",
            type=ColumnKind.CATEGORICAL,
            stattest="chisquare",
            stattest_display_name="chi-square p_value",
            score=math.nan,
            drift_detected=False,
        ),
        _column(
            "income",
            stattest="wasserstein",
            stattest_display_name="Wasserstein distance (normed)",
            score=math.inf,
            threshold=0.1,
        ),
        _column(
            "empty",
            stattest=None,
            stattest_display_name=None,
            score=math.nan,
            threshold=None,
            drift_detected=False,
            error="Column 'empty' has no values left in the reference after dropping nulls "
            "and infinities",
        ),
    ),
    drift_share=0.5,
    column_mapping=ColumnMapping(prediction="p", ignored=("id",), categorical=("zip",)),
    prediction_drift=_column("p", drift_detected=False, score=0.5),
)

#: The whole JSON form of REPORT: any change here is a format change (bump REPORT_FORMAT).
GOLDEN = {
    "format": "moorline.drift-report/1",
    "preset": "evidently",
    "reference_rows": 1000,
    "current_rows": 800,
    "column_mapping": {
        "target": None,
        "prediction": "p",
        "datetime": None,
        "id": None,
        "ignored": ["id"],
        "numerical": [],
        "categorical": ["zip"],
        "text": [],
    },
    "columns": [
        {
            "column": "age",
            "type": "num",
            "stattest": "ks",
            "stattest_display_name": "K-S p_value",
            "score": 0.01,
            "threshold": 0.05,
            "drift_detected": True,
        },
        {
            "column": "plan",
            "type": "cat",
            "stattest": "chisquare",
            "stattest_display_name": "chi-square p_value",
            "score": None,
            "threshold": 0.05,
            "drift_detected": False,
        },
        {
            "column": "income",
            "type": "num",
            "stattest": "wasserstein",
            "stattest_display_name": "Wasserstein distance (normed)",
            "score": "Infinity",
            "threshold": 0.1,
            "drift_detected": True,
        },
        {
            "column": "empty",
            "type": "num",
            "stattest": None,
            "stattest_display_name": None,
            "score": None,
            "threshold": None,
            "drift_detected": False,
            "error": "Column 'empty' has no values left in the reference after dropping "
            "nulls and infinities",
        },
    ],
    "dataset": {
        "number_of_columns": 3,
        "number_of_drifted_columns": 2,
        "share": 2 / 3,
        "drift_share": 0.5,
        "dataset_drift": True,
        "number_of_errors": 1,
    },
    "prediction_drift": {
        "column": "p",
        "type": "num",
        "stattest": "ks",
        "stattest_display_name": "K-S p_value",
        "score": 0.5,
        "threshold": 0.05,
        "drift_detected": False,
    },
    "target_drift": None,
}


def test_json_form_matches_the_golden_snapshot() -> None:
    assert REPORT.to_dict() == GOLDEN
    # key order is part of what people diff and read
    assert list(REPORT.to_dict()) == list(GOLDEN)
    assert list(REPORT.to_dict()["columns"][0]) == list(GOLDEN["columns"][0])  # type: ignore[index]
    assert GOLDEN["format"] == REPORT_FORMAT


def test_json_text_is_strict_json() -> None:
    text = REPORT.to_json()
    assert "NaN" not in text and json.loads(text) == GOLDEN
    assert json.loads(REPORT.to_json(indent=2)) == GOLDEN


def test_json_form_reads_back_to_an_equal_report() -> None:
    again = DriftReport.from_dict(json.loads(REPORT.to_json()))
    assert again == REPORT
    assert math.isnan(again.column("plan").score)
    assert again.column("income").score == math.inf
    assert again.dataset_drift and again.number_of_errors == 1


def test_a_computed_report_round_trips_through_json() -> None:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50)})
    current = reference.assign(b=np.nan)
    report = compute_drift(reference, current, method=Recording(score=0.9))
    assert report.column("b").error is not None
    data = json.loads(report.to_json())
    assert set(data["columns"][0]) == set(GOLDEN["columns"][0])  # type: ignore[index]
    assert set(data["columns"][1]) == set(GOLDEN["columns"][3])  # type: ignore[index]
    assert DriftReport.from_dict(data) == report


def test_only_failed_columns_carry_an_error_key() -> None:
    entries = REPORT.to_dict()["columns"]
    assert ["error" in e for e in entries] == [False, False, False, True]


def test_unknown_format_is_refused() -> None:
    data = REPORT.to_dict() | {"format": "moorline.drift-report/2"}
    with pytest.raises(InvalidArgument, match=r"'moorline\.drift-report/2' is not supported"):
        DriftReport.from_dict(data)
    with pytest.raises(InvalidArgument, match="Malformed drift report"):
        DriftReport.from_dict({"format": REPORT_FORMAT})


def test_report_lookups() -> None:
    assert REPORT.drifted_columns == ("age", "income")
    assert REPORT.column("age").score == 0.01
    with pytest.raises(InvalidArgument, match="'nope' is not in this drift report"):
        REPORT.column("nope")
