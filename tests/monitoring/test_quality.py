"""Data-quality checks against a reference's schema and profile: each check fires
when its condition holds, stays quiet on clean data, and names the column."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from moorline.errors import InvalidArgument
from moorline.monitoring.quality import (
    Check,
    QualityConfig,
    QualityContract,
    QualityIssue,
    QualityReport,
    Severity,
    as_contract,
    check_quality,
)
from moorline.tracking.datasets import prepare
from moorline.tracking.models import Dataset, DatasetVersion

CITIES = ["Lisbon", "Porto", "Faro", "Braga", "Coimbra"]


def make_frame(rows: int, seed: int) -> pd.DataFrame:
    """Sensor readings: floats, integers with 10 % nulls, a 5-value and a
    60-value categorical, a boolean, and timestamps."""
    rng = np.random.default_rng(seed)
    humidity = pd.array(rng.integers(0, 101, rows), dtype="Int64")
    humidity[rng.random(rows) < 0.10] = pd.NA
    return pd.DataFrame(
        {
            "temperature": rng.normal(20.0, 5.0, rows),
            "humidity": humidity,
            "pressure": rng.integers(950, 1050, rows),
            "city": rng.choice(CITIES, rows),
            "device": rng.choice([f"dev-{i:03d}" for i in range(60)], rows),
            "active": rng.random(rows) < 0.7,
            "seen_at": pd.Timestamp("2025-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 86_400, rows), unit="s"),
        }
    )


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return make_frame(5000, seed=1)


@pytest.fixture(scope="module")
def contract(reference: pd.DataFrame) -> QualityContract:
    return QualityContract.from_data(reference)


@pytest.fixture
def current() -> pd.DataFrame:
    return make_frame(2000, seed=2)


def only(report: QualityReport, check: Check, column: str | None) -> list[QualityIssue]:
    return [i for i in report.issues if i.check == check and i.column == column]


def above_info(report: QualityReport) -> list[str]:
    return [i.message for i in report.issues if i.severity != Severity.INFO]


# -- clean data ----------------------------------------------------------------------


def test_a_clean_window_from_the_same_distribution_has_nothing_above_info(
    contract: QualityContract, current: pd.DataFrame
) -> None:
    report = check_quality(contract, current)
    assert above_info(report) == []
    assert report.passed
    assert report.max_severity in (None, Severity.INFO)
    # What the contract cannot support is said, not guessed: the 60-value column's
    # profile lists its top 20 only; timestamps have no range check.
    assert [(s.check, s.column) for s in report.skipped] == [
        (Check.UNSEEN_CATEGORY, "device"),
        (Check.OUT_OF_RANGE, "seen_at"),
    ]


def test_clean_small_windows_do_not_alert_on_noise(contract: QualityContract) -> None:
    """50 windows of 200 rows from the reference distribution: no warning at all
    (the null-rate margin widens with the standard error of a small window)."""
    big = make_frame(50 * 200, seed=3)
    noisy = []
    for k in range(50):
        report = check_quality(contract, big.iloc[k * 200 : (k + 1) * 200])
        noisy += above_info(report)
    assert noisy == []


def test_stored_profile_raw_reference_and_dataset_records_give_the_same_report(
    reference: pd.DataFrame, current: pd.DataFrame
) -> None:
    broken = current.drop(columns=["pressure"]).assign(temperature=np.nan)
    prepared = prepare(reference)
    dataset = Dataset(
        name="sensors", digest=prepared.digest, schema=prepared.schema, profile=prepared.profile
    )
    reports = [
        check_quality(reference, broken),
        check_quality(QualityContract.from_profile(prepared.schema, prepared.profile), broken),
        check_quality(dataset, broken),
        check_quality(DatasetVersion(dataset=dataset), broken),
        check_quality({"schema": prepared.schema, "profile": prepared.profile}, broken),
        check_quality(json.loads(prepared.profile), broken),
    ]
    first = reports[0].to_dict()
    assert first["max_severity"] == "critical"
    for other in reports[1:]:
        assert other.to_dict() == first


# -- schema --------------------------------------------------------------------------


def test_a_dropped_column_is_critical_and_named(
    contract: QualityContract, current: pd.DataFrame
) -> None:
    report = check_quality(contract, current.drop(columns=["temperature"]))
    [issue] = only(report, Check.MISSING_COLUMN, "temperature")
    assert issue.severity == Severity.CRITICAL
    assert issue.message == "column 'temperature' is missing (reference type: double)"
    assert not report.passed and report.max_severity == Severity.CRITICAL
    assert above_info(report) == [issue.message]


def test_a_renamed_column_is_missing_plus_unexpected_with_a_hint(
    contract: QualityContract, current: pd.DataFrame
) -> None:
    report = check_quality(contract, current.rename(columns={"temperature": "temp_c"}))
    [missing] = only(report, Check.MISSING_COLUMN, "temperature")
    [extra] = only(report, Check.UNEXPECTED_COLUMN, "temp_c")
    assert missing.severity == Severity.CRITICAL
    assert "was it renamed to 'temp_c'?" in missing.message
    assert extra.severity == Severity.WARNING
    assert extra.message == "column 'temp_c' is not in the reference"
    # Issues come in reference column order, unexpected columns after.
    assert [i.check for i in report.issues if i.severity != Severity.INFO] == [
        Check.MISSING_COLUMN,
        Check.UNEXPECTED_COLUMN,
    ]


def test_type_changes(contract: QualityContract, current: pd.DataFrame) -> None:
    as_text = current.assign(pressure=current["pressure"].astype(str))
    [issue] = only(check_quality(contract, as_text), Check.TYPE_CHANGE, "pressure")
    assert issue.severity == Severity.CRITICAL
    assert issue.message == "column 'pressure' changed type from int64 to large_string"
    assert (issue.observed, issue.expected) == ("large_string", "int64")
    # A string column is not range-checked against numeric bounds once its type changed.
    assert only(check_quality(contract, as_text), Check.OUT_OF_RANGE, "pressure") == []

    # Integers that went through a float column (pandas does it when nulls appear).
    widened = current.assign(pressure=current["pressure"].astype(float))
    [info] = only(check_quality(contract, widened), Check.TYPE_CHANGE, "pressure")
    assert info.severity == Severity.INFO
    assert "still whole numbers" in info.message
    fractional = current.assign(pressure=current["pressure"] + 0.5)
    [warning] = only(check_quality(contract, fractional), Check.TYPE_CHANGE, "pressure")
    assert warning.severity == Severity.WARNING


def test_no_type_issue_for_the_same_types(contract: QualityContract, current: pd.DataFrame) -> None:
    assert only(check_quality(contract, current), Check.TYPE_CHANGE, "pressure") == []


# -- nulls ---------------------------------------------------------------------------


def test_a_column_turned_to_nulls_is_critical_and_named(
    contract: QualityContract, current: pd.DataFrame
) -> None:
    for nulls in (np.nan, None):
        report = check_quality(contract, current.assign(temperature=nulls))
        [issue] = only(report, Check.NULL_RATE, "temperature")
        assert issue.severity == Severity.CRITICAL
        assert issue.message == "column 'temperature' is 100% null (reference: 0%)"
        assert (issue.observed, issue.expected) == (1.0, 0.0)


def test_null_rate_thresholds(contract: QualityContract, current: pd.DataFrame) -> None:
    rng = np.random.default_rng(9)

    def with_nulls(column: str, share: float) -> pd.DataFrame:
        frame = current.copy()
        frame.loc[rng.random(len(frame)) < share, column] = np.nan
        return frame

    def severity(frame: pd.DataFrame, column: str) -> Severity | None:
        issues = only(check_quality(contract, frame), Check.NULL_RATE, column)
        return issues[0].severity if issues else None

    # temperature had no nulls: mostly null -> critical, some -> warning, a few -> info.
    assert severity(with_nulls("temperature", 0.7), "temperature") == Severity.CRITICAL
    assert severity(with_nulls("temperature", 0.2), "temperature") == Severity.WARNING
    assert severity(with_nulls("temperature", 0.005), "temperature") == Severity.INFO
    # humidity had ~10 % nulls: 12 % is within the margin, 40 % is not.
    assert severity(with_nulls("humidity", 0.02), "humidity") is None
    assert severity(with_nulls("humidity", 0.35), "humidity") == Severity.WARNING
    # A stricter configuration flags what the default lets through.
    strict = QualityConfig(null_rate_margin=0.0, null_rate_z=0.0)
    frame = with_nulls("humidity", 0.05)
    [issue] = only(check_quality(contract, frame, strict), Check.NULL_RATE, "humidity")
    assert issue.severity == Severity.WARNING
    assert issue.message.startswith("column 'humidity' is 1")
    assert "(reference: 10." in issue.message or "(reference: 9." in issue.message


# -- values --------------------------------------------------------------------------


def test_values_outside_the_reference_range(
    contract: QualityContract, reference: pd.DataFrame, current: pd.DataFrame
) -> None:
    top = reference["temperature"].max()
    frame = current.copy()
    frame.loc[:99, "temperature"] = top + 10.0  # 100 of 2000 rows above the reference max
    [issue] = only(check_quality(contract, frame), Check.OUT_OF_RANGE, "temperature")
    assert issue.severity == Severity.WARNING
    assert issue.observed["share"] == pytest.approx(100 / 2000, abs=1 / 2000)
    assert issue.observed["above"] >= 100 and issue.observed["below"] == 0
    assert issue.expected == {"min": reference["temperature"].min(), "max": top}
    assert issue.message.startswith("column 'temperature': 5")
    assert "outside the reference range" in issue.message

    ints = current.assign(pressure=current["pressure"] - 200)  # every value below 950
    [issue] = only(check_quality(contract, ints), Check.OUT_OF_RANGE, "pressure")
    assert issue.observed["share"] == 1.0 and issue.observed["below"] == 2000
    assert "[950, 1049]" in issue.message

    one = current.copy()
    one.loc[0, "temperature"] = top + 1.0  # 0.05 % of rows: below the 1 % threshold
    [info] = only(check_quality(contract, one), Check.OUT_OF_RANGE, "temperature")
    assert info.severity == Severity.INFO


def test_unseen_categories(contract: QualityContract, current: pd.DataFrame) -> None:
    frame = current.copy()
    frame.loc[:59, "city"] = "Atlantis"
    frame.loc[60:64, "city"] = "El Dorado"
    [issue] = only(check_quality(contract, frame), Check.UNSEEN_CATEGORY, "city")
    assert issue.severity == Severity.WARNING
    assert issue.observed["share"] == pytest.approx(65 / 2000)
    assert issue.observed["values"] == ["Atlantis", "El Dorado"]
    assert issue.message == (
        "column 'city': 3.25% of rows have values not seen in the reference: "
        "'Atlantis', 'El Dorado'"
    )
    lenient = QualityConfig(max_unseen_share=0.05)
    [info] = only(check_quality(contract, frame, lenient), Check.UNSEEN_CATEGORY, "city")
    assert info.severity == Severity.INFO

    flags = current.assign(active=True)
    assert only(check_quality(contract, flags), Check.UNSEEN_CATEGORY, "active") == []


def test_many_unseen_values_are_listed_a_few_at_a_time(
    contract: QualityContract, current: pd.DataFrame
) -> None:
    frame = current.assign(city=[f"town-{i % 12}" for i in range(len(current))])
    [issue] = only(check_quality(contract, frame), Check.UNSEEN_CATEGORY, "city")
    assert issue.observed["share"] == 1.0 and issue.observed["distinct"] == 12
    assert len(issue.observed["values"]) == 5
    assert issue.message.endswith("and 7 more")


def test_constant_columns(contract: QualityContract, current: pd.DataFrame) -> None:
    frame = current.assign(temperature=21.5, city="Porto")
    report = check_quality(contract, frame)
    [temperature] = only(report, Check.CONSTANT_COLUMN, "temperature")
    [city] = only(report, Check.CONSTANT_COLUMN, "city")
    assert temperature.severity == Severity.WARNING
    assert temperature.message == (
        "column 'temperature' is constant (value 21.5) but varied in the reference"
    )
    assert city.observed == {"value": "Porto", "distinct": 1}
    # A column that was constant in the reference too is no news.
    steady = make_frame(500, seed=4).assign(site="north")
    report = check_quality(steady, make_frame(300, seed=5).assign(site="north"))
    assert only(report, Check.CONSTANT_COLUMN, "site") == []


def test_duplicate_rows(contract: QualityContract, current: pd.DataFrame) -> None:
    frame = pd.concat([current, current.iloc[:200]], ignore_index=True)
    [issue] = only(check_quality(contract, frame), Check.DUPLICATE_ROWS, None)
    assert issue.severity == Severity.WARNING
    assert issue.observed == {"share": 200 / 2200, "rows": 200}
    assert issue.message == (
        "9.09% of rows are duplicates of another row (200 of 2200; reference: 0%)"
    )
    assert issue.expected == {"max_share": 0.01, "reference_share": 0.0}
    assert report_checks(check_quality(contract, current)).isdisjoint({Check.DUPLICATE_ROWS})
    few = pd.concat([current, current.iloc[:3]], ignore_index=True)
    [info] = only(check_quality(contract, few), Check.DUPLICATE_ROWS, None)
    assert info.severity == Severity.INFO


def _with_repeats(rows: int, repeats: int, seed: int) -> pd.DataFrame:
    """``rows`` rows, the last ``repeats`` of which repeat the first ones."""
    frame = make_frame(rows - repeats, seed=seed)
    return pd.concat([frame, frame.iloc[:repeats]], ignore_index=True)


def test_duplicates_are_compared_with_the_references_own_share() -> None:
    # A reference where 3% of rows repeat another (an event log, say).
    noisy = _with_repeats(5000, 150, seed=1)
    contract = QualityContract.from_data(noisy)
    assert contract.duplicate_share == 0.03
    # A window with the same 3%: normal for this data, no issue at all.
    same = _with_repeats(2000, 60, seed=7)
    assert only(check_quality(contract, same), Check.DUPLICATE_ROWS, None) == []
    # Within the tolerance above it (3.5% < 3% + 1 point): info only.
    slightly = _with_repeats(2000, 70, seed=7)
    [info] = only(check_quality(contract, slightly), Check.DUPLICATE_ROWS, None)
    assert info.severity == Severity.INFO
    # A jump above the reference share plus the tolerance: a warning naming both.
    jump = _with_repeats(2000, 120, seed=7)
    [warning] = only(check_quality(contract, jump), Check.DUPLICATE_ROWS, None)
    assert warning.severity == Severity.WARNING
    assert warning.expected == {"max_share": pytest.approx(0.04), "reference_share": 0.03}
    assert warning.message == (
        "6% of rows are duplicates of another row (120 of 2000; reference: 3%)"
    )
    # A wider tolerance lets the same jump pass as info.
    loose = QualityConfig(max_duplicate_share=0.05)
    [relaxed] = only(check_quality(contract, jump, loose), Check.DUPLICATE_ROWS, None)
    assert relaxed.severity == Severity.INFO
    # The same 3% window against a contract that does not know the reference's
    # share (a logged dataset's profile, or a contract stored before the share
    # was): today's rule, the share alone against the tolerance.
    prepared = prepare(noisy)
    old = QualityContract.from_profile(prepared.schema, prepared.profile)
    assert old.duplicate_share is None
    [fallback] = only(check_quality(old, same), Check.DUPLICATE_ROWS, None)
    assert fallback.severity == Severity.WARNING
    assert fallback.expected == {"max_share": 0.01}
    assert "reference" not in fallback.message
    # The share travels with a stored contract mapping.
    stored = {"schema": prepared.schema, "profile": prepared.profile, "duplicate_share": 0.03}
    assert as_contract(stored).duplicate_share == 0.03
    assert only(check_quality(stored, same), Check.DUPLICATE_ROWS, None) == []
    with pytest.raises(InvalidArgument, match="duplicate_share"):
        as_contract({**stored, "duplicate_share": 1.5})


def report_checks(report: QualityReport) -> set[Check]:
    return {i.check for i in report.issues}


# -- configuration, contracts, report --------------------------------------------------


def test_an_empty_window_is_reported_not_crashed(
    contract: QualityContract, current: pd.DataFrame
) -> None:
    report = check_quality(contract, current.iloc[:0])
    assert [(i.check, i.severity) for i in report.issues] == [(Check.NO_ROWS, Severity.WARNING)]
    assert report.rows == 0 and not report.passed


def test_checks_can_be_disabled_and_columns_ignored(
    contract: QualityContract, current: pd.DataFrame
) -> None:
    frame = current.drop(columns=["temperature"]).assign(extra=1)
    quiet = QualityConfig(
        checks=frozenset(Check) - {Check.UNEXPECTED_COLUMN},
        ignore_columns=frozenset({"temperature"}),
    )
    assert check_quality(contract, frame, quiet).issues == ()
    assert report_checks(check_quality(contract, frame)) == {
        Check.MISSING_COLUMN,
        Check.UNEXPECTED_COLUMN,
    }


def test_fail_on_sets_what_fails_a_report(contract: QualityContract, current: pd.DataFrame) -> None:
    frame = current.assign(extra=1)
    assert not check_quality(contract, frame).passed
    assert check_quality(contract, frame, QualityConfig(fail_on=Severity.CRITICAL)).passed


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="max_unseen_share must be in"):
        QualityConfig(max_unseen_share=1.5)
    with pytest.raises(InvalidArgument, match="Unknown quality check"):
        QualityConfig(checks=frozenset({"nonsense"}))  # type: ignore[arg-type]


def test_a_schema_only_contract_checks_what_a_schema_can_say(current: pd.DataFrame) -> None:
    schema = prepare(make_frame(300, seed=6)).schema
    contract = QualityContract.from_profile(schema=schema)
    frame = current.drop(columns=["city"]).assign(temperature=np.nan)
    report = check_quality(contract, frame)
    assert {(i.check, i.column, i.severity) for i in report.issues} == {
        (Check.MISSING_COLUMN, "city", Severity.CRITICAL),
        (Check.NULL_RATE, "temperature", Severity.CRITICAL),
    }
    assert (Check.NULL_RATE, "humidity") in {(s.check, s.column) for s in report.skipped}


def test_references_that_are_not_contracts_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="'schema' and/or 'profile'"):
        as_contract({"columns": []})
    with pytest.raises(InvalidArgument, match=r"not in 'moorline\.profile/1' format"):
        QualityContract.from_profile(profile={"format": "mlflow", "columns": []})
    with pytest.raises(InvalidArgument, match="neither a schema nor a profile"):
        as_contract(Dataset(name="bare", digest="0" * 64))


def test_the_json_form_is_stable_and_strict(
    contract: QualityContract, current: pd.DataFrame
) -> None:
    frame = current.drop(columns=["humidity"]).assign(temperature=np.inf)
    report = check_quality(contract, frame)
    body = report.to_dict()
    assert list(body) == [
        "format",
        "passed",
        "max_severity",
        "rows",
        "reference_rows",
        "counts",
        "issues",
        "skipped",
        "config",
    ]
    assert body["format"] == "moorline.quality/1"
    assert body["counts"]["critical"] == 1
    assert list(body["issues"][0]) == [
        "check",
        "column",
        "severity",
        "message",
        "observed",
        "expected",
    ]
    text = report.to_json()  # allow_nan=False: infinities are spelled out
    assert json.loads(text) == body
    [inf] = [i for i in body["issues"] if i["check"] == "out_of_range"]
    assert inf["observed"]["max"] == "Infinity"
    assert check_quality(contract, frame).to_json() == text


def test_a_large_window_is_checked_quickly(contract: QualityContract) -> None:
    import time

    big = make_frame(200_000, seed=7)
    started = time.perf_counter()
    report = check_quality(contract, big)
    elapsed = time.perf_counter() - started
    assert above_info(report) == []
    assert elapsed < 5.0, f"200k rows took {elapsed:.2f}s"


def test_a_dataframe_with_a_profile_column_is_data_not_a_dataset() -> None:
    reference = pd.DataFrame({"profile": ["a", "b"], "dataset": [1, 2]})
    report = check_quality(reference, reference.assign(profile=["a", "z"]))
    [issue] = only(report, Check.UNSEEN_CATEGORY, "profile")
    assert issue.observed["values"] == ["z"]


def test_arrow_tables_and_files_are_checked_like_dataframes(
    tmp_path: Path, reference: pd.DataFrame, current: pd.DataFrame
) -> None:
    broken = current.drop(columns=["city"])
    expected = check_quality(reference, broken).to_dict()
    csv, parquet = tmp_path / "ref.csv", tmp_path / "cur.parquet"
    reference.drop(columns=["seen_at"]).to_csv(csv, index=False)
    # Naive timestamps are taken as UTC, so this table is the same data as ``broken``.
    table = pa.Table.from_pandas(broken.assign(seen_at=broken["seen_at"].dt.tz_convert(None)))
    pq.write_table(table, parquet)
    assert check_quality(reference, table).to_dict() == expected
    assert check_quality(reference, parquet).to_dict() == expected
    from_csv = check_quality(csv, broken.drop(columns=["seen_at"]))
    assert [(i.check, i.column) for i in from_csv.issues if i.severity != Severity.INFO] == [
        (Check.MISSING_COLUMN, "city")
    ]
