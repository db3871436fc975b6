"""``moorline experiments list`` against a real SQLite store."""

from __future__ import annotations

import json

from tests.cli.conftest import Store


def test_list_shows_active_experiments(store: Store) -> None:
    result = store.invoke("experiments", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["id", "name"]
    names = [line.split()[1] for line in lines[1:]]
    assert "churn" in names and "Default" in names
    assert "old" not in names
    assert "stage" not in lines[0]  # only shown when deleted ones can appear


def test_list_json_all_deleted_and_filter(store: Store) -> None:
    everything = json.loads(store.invoke("experiments", "list", "--all", "--json").stdout)
    by_name = {e["name"]: e for e in everything}
    assert set(by_name) == {"Default", "churn", "old"}
    assert by_name["old"]["lifecycle_stage"] == "deleted"
    assert by_name["churn"]["experiment_id"] == store.churn_id
    assert by_name["churn"]["tags"] == {"team": "ads"}
    assert set(by_name["churn"]) == {
        "experiment_id",
        "name",
        "artifact_location",
        "lifecycle_stage",
        "creation_time",
        "last_update_time",
        "tags",
    }
    deleted = json.loads(store.invoke("experiments", "list", "--deleted", "--json").stdout)
    assert [e["name"] for e in deleted] == ["old"]
    filtered = store.invoke("experiments", "list", "--filter", "name LIKE 'ch%'", "--json")
    assert [e["name"] for e in json.loads(filtered.stdout)] == ["churn"]
    table = store.invoke("experiments", "list", "--deleted")
    assert "deleted" in table.stdout and "stage" in table.stdout


def test_bad_input_exits_2_with_a_clear_message(store: Store) -> None:
    both = store.invoke("experiments", "list", "--all", "--deleted")
    assert both.exit_code == 2
    assert "exclude each other" in both.output
    bad = store.invoke("experiments", "list", "--filter", "colour = 'red'")
    assert bad.exit_code == 2
    assert "INVALID_PARAMETER_VALUE" in bad.stderr and "colour" in bad.stderr


def test_help_explains(store: Store) -> None:
    result = store.invoke("experiments", "list", "--help")
    assert result.exit_code == 0
    assert "--deleted" in result.stdout and "Examples" in result.stdout
