"""``moorline drift``: the exit code is the verdict (0 no drift, 1 drift, 2 error), the JSON is
the report's own form, the HTML page is written, CSV and Parquet both read, and progress
shows only on large inputs."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from moorline.cli.drift import LazyProgress
from moorline.cli.main import cli
from moorline.monitoring.drift import compute_drift

N = 3000


def make(seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plans = ["basic", "pro", "team"]
    weights = [0.6, 0.3, 0.1] if not shift else [0.2, 0.3, 0.5]
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, N),
            "y": rng.uniform(0, 1, N),
            "plan": rng.choice(plans, N, p=weights),
            "label": rng.integers(0, 2, N),
        }
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("drift-files")
    ref, same, drifted = make(1), make(2), make(3, shift=1.0)
    out = {
        "ref.csv": root / "ref.csv",
        "same.csv": root / "same.csv",
        "drifted.csv": root / "drifted.csv",
        "ref.parquet": root / "ref.parquet",
        "same.parquet": root / "same.parquet",
        "drifted.parquet": root / "drifted.parquet",
    }
    for name, frame in (("ref", ref), ("same", same), ("drifted", drifted)):
        frame.to_csv(out[f"{name}.csv"], index=False)
        frame.to_parquet(out[f"{name}.parquet"], index=False)
    return out


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["drift", *map(str, args)], catch_exceptions=False)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_same_distribution_exits_0_and_drifted_data_exits_1(
    files: dict[str, Path], kind: str
) -> None:
    same = run(files[f"ref.{kind}"], files[f"same.{kind}"])
    assert same.exit_code == 0, same.output
    assert "No dataset drift" in same.stdout
    drifted = run(files[f"ref.{kind}"], files[f"drifted.{kind}"])
    assert drifted.exit_code == 1, drifted.output
    assert "Dataset drift detected" in drifted.stdout
    assert "DRIFT" in drifted.stdout
    for name in ("x", "y", "plan", "label"):
        assert re.search(rf"^{name}\s", drifted.stdout, re.M), drifted.stdout


def test_csv_against_parquet_works_too(files: dict[str, Path]) -> None:
    assert run(files["ref.csv"], files["drifted.parquet"]).exit_code == 1


def test_json_output_is_the_report_form(files: dict[str, Path], tmp_path: Path) -> None:
    result = run(files["ref.csv"], files["drifted.csv"], "--json", "-", "--target", "label")
    assert result.exit_code == 1
    printed = json.loads(result.stdout)  # stdout holds the JSON only; the table went to stderr
    expected = compute_drift(
        pd.read_csv(files["ref.csv"]),
        pd.read_csv(files["drifted.csv"]),
        column_mapping={"target": "label"},
    )
    assert printed == json.loads(expected.to_json())
    assert printed["format"] == "moorline.drift-report/1"
    assert printed["target_drift"]["column"] == "label"
    assert "label" not in [c["column"] for c in printed["columns"]]
    assert "Dataset drift detected" in result.stderr
    # To a file, the same document.
    out = tmp_path / "report.json"
    again = run(files["ref.csv"], files["drifted.csv"], "--json", out, "--target", "label")
    assert again.exit_code == 1
    assert json.loads(out.read_text()) == printed


def test_options_reach_the_engine(files: dict[str, Path]) -> None:
    result = run(
        files["ref.parquet"],
        files["same.parquet"],
        "--columns",
        "x,y",
        "--method",
        "ks",
        "--threshold",
        "0.2",
        "--preset",
        "evidently",
        "--json",
        "-",
    )
    report = json.loads(result.stdout)
    assert [c["column"] for c in report["columns"]] == ["x", "y"]
    assert {c["stattest"] for c in report["columns"]} == {"ks"}
    assert {c["threshold"] for c in report["columns"]} == {0.2}
    assert report["preset"] == "evidently"
    ignored = json.loads(
        run(
            files["ref.csv"], files["same.csv"], "--ignore", "x", "--ignore", "plan", "--json", "-"
        ).stdout
    )
    assert [c["column"] for c in ignored["columns"]] == ["y", "label"]
    assert ignored["column_mapping"]["ignored"] == ["x", "plan"]


def test_html_report_is_written_and_self_contained(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "drift.html"
    result = run(files["ref.csv"], files["drifted.csv"], "--html", out)
    assert result.exit_code == 1
    assert f"HTML report written to {out}" in result.stdout.replace("\n", "")
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    for name in ("x", "y", "plan", "label"):
        assert f'data-column="{name}"' in page
    assert page.count("<svg") == 4  # one distribution per column
    assert "<script" not in page
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) == {"http://www.w3.org/2000/svg"}


def error_line(result: Result) -> str:
    return " ".join(result.stderr.split())


def test_a_missing_file_exits_2_with_a_clear_message(files: dict[str, Path]) -> None:
    result = run(files["ref.csv"], files["ref.csv"].parent / "nope.csv")
    assert result.exit_code == 2
    assert "The current file" in error_line(result) and "nope.csv' does not exist" in error_line(
        result
    )
    assert result.stdout == ""


def test_an_unknown_column_exits_2(files: dict[str, Path]) -> None:
    result = run(files["ref.csv"], files["same.csv"], "--columns", "x,nope")
    assert result.exit_code == 2
    assert "'nope'" in error_line(result)


def test_a_bad_preset_or_threshold_exits_2(files: dict[str, Path]) -> None:
    bad = run(files["ref.csv"], files["same.csv"], "--preset", "magic")
    assert bad.exit_code == 2
    assert "'magic' is not one of 'default', 'evidently'" in error_line(bad)
    bad_share = run(files["ref.csv"], files["same.csv"], "--drift-share", "7")
    assert bad_share.exit_code == 2
    assert "drift_share" in error_line(bad_share)
    bad_method = run(files["ref.csv"], files["same.csv"], "--method", "nonsense")
    assert bad_method.exit_code == 2
    assert "nonsense" in error_line(bad_method)


def test_unreadable_inputs_exit_2_naming_the_file(files: dict[str, Path], tmp_path: Path) -> None:
    json_file = tmp_path / "data.json"
    json_file.write_text("{}")
    result = run(files["ref.csv"], json_file)
    assert result.exit_code == 2
    assert "is not one of .csv, .tsv" in error_line(result)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"definitely not parquet")
    result = run(garbage, files["same.csv"])
    assert result.exit_code == 2
    assert "Cannot read the reference file" in error_line(result)
    assert "as Parquet" in error_line(result)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = run(files["ref.csv"], empty)
    assert result.exit_code == 2
    assert "is empty" in error_line(result)
    result = run(files["ref.csv"], tmp_path)
    assert result.exit_code == 2
    assert "is not a file" in error_line(result)


def test_an_output_into_a_missing_folder_fails_before_any_work(
    files: dict[str, Path], tmp_path: Path
) -> None:
    result = run(files["ref.csv"], files["same.csv"], "--html", tmp_path / "no" / "r.html")
    assert result.exit_code == 2
    assert "does not exist" in error_line(result)


def test_an_untestable_column_is_an_error_row_or_stops_the_evidently_preset(
    files: dict[str, Path], tmp_path: Path
) -> None:
    for name in ("ref", "same"):
        frame = pd.read_csv(files[f"{name}.csv"])
        frame["blank"] = np.nan
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    default = run(tmp_path / "ref.csv", tmp_path / "same.csv", "--json", "-")
    assert default.exit_code == 0
    blank = next(c for c in json.loads(default.stdout)["columns"] if c["column"] == "blank")
    assert blank["drift_detected"] is False and "blank" in blank["error"]
    assert re.search(r"^blank .* error ", default.stderr, re.M), default.stderr
    assert "1 column(s) could not be tested" in default.stderr
    evidently = run(tmp_path / "ref.csv", tmp_path / "same.csv", "--preset", "evidently")
    assert evidently.exit_code == 2
    assert "blank" in error_line(evidently)


def test_gzipped_csv_and_tsv_are_read(files: dict[str, Path], tmp_path: Path) -> None:
    frame = pd.read_csv(files["drifted.csv"])
    frame.to_csv(tmp_path / "cur.csv.gz", index=False)
    frame.to_csv(tmp_path / "cur.tsv", index=False, sep="\t")
    assert run(files["ref.csv"], tmp_path / "cur.csv.gz").exit_code == 1
    assert run(files["ref.csv"], tmp_path / "cur.tsv").exit_code == 1


def test_help_explains_exit_codes_and_presets() -> None:
    text = " ".join(run("--help").stdout.split())
    assert "0 no dataset drift" in text
    assert "1 dataset drift" in text
    assert "2 an error" in text
    assert "evidently Evidently 0.7's data drift exactly" in text
    assert "--json FILE|-" in text and "--html FILE" in text


def test_progress_shows_on_large_inputs_only(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # make stderr count as a terminal
    small = run(files["ref.parquet"], files["same.parquet"])
    assert small.exit_code == 0
    assert "testing columns" not in small.stderr
    rng = np.random.default_rng(5)
    rows = 250_000
    big = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.integers(0, 1000, rows)})
    big.to_parquet(tmp_path / "big.parquet", index=False)
    large = run(tmp_path / "big.parquet", tmp_path / "big.parquet")
    assert large.exit_code == 0
    assert "reading reference (big.parquet)" in large.stderr
    assert "testing columns" in large.stderr


def test_a_slow_run_shows_its_progress_after_the_delay_and_a_quick_one_never() -> None:
    def render(pause: float) -> str:
        buffer = io.StringIO()
        terminal = Console(file=buffer, force_terminal=True, force_interactive=True, width=100)
        with LazyProgress(terminal, show_after=0.2) as progress:
            task = progress.add("crunching", total=4)
            for _ in range(4):
                time.sleep(pause)
                progress.advance(task, 1)
        return buffer.getvalue()

    assert "crunching" not in render(0.0)
    assert "crunching" in render(0.1)  # 0.4 s in all: past the 0.2 s delay
