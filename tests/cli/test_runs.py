"""``moorline runs list|show|compare`` against a real SQLite store."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import Store

RUN_KEYS = {
    "run_id",
    "run_name",
    "experiment_id",
    "status",
    "user_id",
    "start_time",
    "end_time",
    "artifact_uri",
    "lifecycle_stage",
    "params",
    "metrics",
    "tags",
}


def test_list_json_is_newest_first_with_stable_keys(store: Store) -> None:
    result = store.invoke("runs", "list", "--experiment", "churn", "--json")
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)
    assert [r["run_name"] for r in runs] == ["c", "b", "a"]
    assert all(set(r) == RUN_KEYS for r in runs)
    b = runs[1]
    assert b["status"] == "FAILED" and b["user_id"] == "ana"
    assert b["params"] == {"lr": "0.01", "depth": "6"}
    assert b["metrics"] == {"acc": 0.95, "loss": "NaN"}  # NaN as a string, documented
    assert runs[0]["end_time"] is None  # still running


def test_list_by_id_filter_order_and_max(store: Store) -> None:
    def names(*args: str) -> list[str]:
        result = store.invoke("runs", "list", *args, "--json")
        assert result.exit_code == 0, result.output
        return [r["run_name"] for r in json.loads(result.stdout)]

    assert names("-e", store.churn_id, "--filter", "metrics.acc > 0.8") == ["b", "a"]
    assert names("-e", "churn", "--order-by", "metrics.acc DESC") == ["b", "a", "c"]
    assert names("-e", "churn", "--order-by", "params.lr", "--order-by", "metrics.acc") == [
        "b",
        "c",
        "a",
    ]
    assert names("-e", "churn", "--max", "2") == ["c", "b"]
    assert names("-e", "churn", "--filter", "params.lr = '0.1' and tags.note LIKE '%markup%'") == [
        "c",
        "a",
    ]


def test_list_table_shows_the_requested_columns(store: Store) -> None:
    result = store.invoke(
        "runs", "list", "-e", "churn", "--columns", "metrics.acc,params.lr,tags.note"
    )
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == [
        "run",
        "id",
        "name",
        "status",
        "started",
        "duration",
        "metrics.acc",
        "params.lr",
        "tags.note",
    ]
    by_id = {row.split()[0]: row for row in rows}
    assert set(by_id) == set(store.runs.values())
    row_b = by_id[store.runs["b"]].split()
    assert row_b[1:3] == ["b", "FAILED"]
    assert "0.95" in row_b and "0.01" in row_b
    assert "[bold]not markup[/]" in by_id[store.runs["a"]]  # user text is not rich markup


def test_list_says_when_more_runs_exist(store: Store) -> None:
    result = store.invoke("runs", "list", "-e", "churn", "--max", "1")
    assert "showing 1 of 3 runs" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-e", "nope"], "No experiment named 'nope'"),
        (["-e", "churn", "--filter", "metrics.acc >>> 1"], "INVALID_PARAMETER_VALUE"),
        (["-e", "churn", "--order-by", "metrics.acc SIDEWAYS"], "INVALID_PARAMETER_VALUE"),
        (["-e", "churn", "--columns", "acc"], "Invalid column 'acc'"),
    ],
)
def test_list_errors_exit_2(store: Store, args: list[str], message: str) -> None:
    result = store.invoke("runs", "list", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_list_needs_an_experiment(store: Store) -> None:
    result = store.invoke("runs", "list")
    assert result.exit_code == 2
    assert "--experiment" in result.output


def test_show_json(store: Store) -> None:
    a = store.runs["a"]
    result = store.invoke("runs", "show", a, "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert set(shown) == RUN_KEYS | {
        "latest_metrics",
        "inputs",
        "outputs",
        "artifacts",
        "artifacts_truncated",
    }
    assert shown["run_id"] == a and shown["status"] == "FINISHED"
    assert shown["latest_metrics"] == [
        {"key": "acc", "value": 0.9, "step": 5, "timestamp": 1_700_000_100_000},
        {"key": "loss", "value": 0.3, "step": 5, "timestamp": 1_700_000_100_000},
    ]
    assert shown["inputs"]["datasets"][0]["name"] == "customers"
    assert shown["inputs"]["datasets"][0]["context"] == "training"
    assert shown["artifacts"] == [
        {"path": "model/weights.bin", "size": 2048},
        {"path": "report.html", "size": 11},
    ]
    assert shown["artifacts_truncated"] is False


def test_show_table(store: Store) -> None:
    result = store.invoke("runs", "show", store.runs["a"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in (
        "FINISHED",
        "lr",
        "0.1",
        "acc",
        "0.9",
        "customers",
        "training",
        "model/weights.bin",
        "2.0 KiB",
    ):
        assert expected in out, expected
    assert "params" in out and "metrics (latest)" in out and "artifacts" in out


def test_show_missing_run_exits_2(store: Store) -> None:
    result = store.invoke("runs", "show", "f" * 32)
    assert result.exit_code == 2
    assert "RESOURCE_DOES_NOT_EXIST" in result.stderr


def test_compare_json_marks_what_differs(store: Store) -> None:
    a, b, c = store.runs["a"], store.runs["b"], store.runs["c"]
    result = store.invoke("runs", "compare", a, b, c, "--json")
    assert result.exit_code == 0, result.output
    cmp = json.loads(result.stdout)
    assert [r["run_id"] for r in cmp["runs"]] == [a, b, c]
    params = {p["key"]: p for p in cmp["params"]}
    assert params["lr"] == {"key": "lr", "values": ["0.1", "0.01", "0.1"], "differs": True}
    assert params["depth"] == {"key": "depth", "values": ["6", "6", None], "differs": True}
    metrics = {m["key"]: m for m in cmp["metrics"]}
    assert metrics["loss"]["values"] == [0.3, "NaN", None]
    same = json.loads(store.invoke("runs", "compare", a, a, "--json").stdout)
    assert not any(p["differs"] for p in same["params"] + same["metrics"])


def test_compare_table_highlights_and_filters(store: Store) -> None:
    a, b = store.runs["a"], store.runs["b"]
    result = store.invoke("runs", "compare", a, b)
    assert result.exit_code == 0, result.output
    rows = {" ".join(line.split()[:3]): line for line in result.stdout.splitlines()}
    assert rows["* param lr"].split()[-2:] == ["0.1", "0.01"]
    assert "param depth" in result.stdout and "* param depth" not in result.stdout
    only = store.invoke("runs", "compare", a, b, "--diff-only").stdout
    assert "param lr" in only and "param depth" not in only
    assert "identical" in store.invoke("runs", "compare", a, a, "--diff-only").stdout


def test_compare_needs_two_existing_runs(store: Store) -> None:
    one = store.invoke("runs", "compare", store.runs["a"])
    assert one.exit_code == 2 and "at least two" in one.stderr
    missing = store.invoke("runs", "compare", store.runs["a"], "0" * 32)
    assert missing.exit_code == 2 and "RESOURCE_DOES_NOT_EXIST" in missing.stderr


@pytest.mark.parametrize("command", ["list", "show", "compare"])
def test_every_runs_command_has_help(store: Store, command: str) -> None:
    result = store.invoke("runs", command, "--help")
    assert result.exit_code == 0
    assert "Examples" in result.stdout and "--json" in result.stdout
